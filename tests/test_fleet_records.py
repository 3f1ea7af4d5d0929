"""Change records in the state bucket (tenantform/remote_records.py), against the local target's moto server.

Each test gets a project copy whose local target starts its own moto server on 127.0.0.1 (the
tool's own start, about 2 s), and stops it at the end, as `invoke local.down` does. End-to-end
checks through `invoke` and real terraform are in tests/test_fleet_integration.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

import pytest

from tenantform import fleet, workflows
from tenantform.contract import platform_output_names
from tenantform.names import INFRA
from tenantform.platform_inputs import outputs_read
from tenantform.project import Project
from tenantform.records import Record
from tenantform.targets import Settings
from tenantform.tenant import Tenant
from tests.conftest import copy_project


def fp(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    project = Project(Settings(project_dir=copy_project(tmp_path / "project")))
    project.target.prepare()  # starts moto, creates the state bucket
    try:
        yield project
    finally:
        project.target.local.stop()


def fresh(project: Project) -> Project:
    """Another machine: same settings and server, no cache in memory (and, with rmtree, none on disk)."""
    return Project(project.settings)


def keys(project: Project, prefix: str = "tenants/") -> list[str]:
    s3 = project.target.client("s3")
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=project.target.state_bucket, Prefix=prefix)
                  .get("Contents", []))


def test_an_applied_record_is_one_object_beside_the_state_and_replaces_the_previous(project: Project) -> None:
    project.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("a"),
                               module_version="1.0.0-abc", resources=7))
    assert keys(project) == [f"tenants/acme/infra.record.1.0.0-abc.{fp('a')}.none.json"]
    project.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("b"),
                               module_version="1.0.0-abc", resources=8))
    project.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("b"),
                               module_version="1.0.0-abc", resources=8))  # the same again: 412, fine
    assert keys(project) == [f"tenants/acme/infra.record.1.0.0-abc.{fp('b')}.none.json"]
    project.records.put(Record(workspace="tenant-acme-infra", status="failed", message="boom"))
    assert len(keys(project)) == 1  # only applied records go to the backend


def test_a_fresh_clone_reads_every_record_from_one_listing(project: Project, tmp_path: Path) -> None:
    for i in range(60):
        project.records.put(Record(workspace=f"tenant-t{i:02d}-infra", status="applied", fingerprint=fp(str(i)),
                                   module_version="1.0.0-abc"))
    for path in (project.settings.work_dir / "records").iterdir():
        path.unlink()
    other = fresh(project)
    s3 = other.target.client("s3")
    gets: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda **kw: gets.append("get"))
    other.target.client = lambda service: s3  # count the calls this project makes
    records = [other.records.get(f"tenant-t{i:02d}-infra") for i in range(60)]
    assert [(r.status, r.fingerprint) for r in records] == [("applied", fp(str(i))) for i in range(60)]
    assert other.records.remote.listings == 1 and gets == []
    assert other.records.get("tenant-never-infra") is None


def test_a_later_failure_on_this_machine_wins_over_the_remote_record(project: Project) -> None:
    project.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("a"),
                               module_version="1.0.0-abc", at="2020-01-01T00:00:00+00:00"))
    project.records.put(Record(workspace="tenant-acme-infra", status="failed", message="apply: boom",
                               at="2999-01-01T00:00:00+00:00"))
    assert fresh(project).records.get("tenant-acme-infra").status == "failed"
    project.records.put(Record(workspace="tenant-acme-infra", status="failed", message="old failure",
                               at="2000-01-01T00:00:00+00:00"))
    record = fresh(project).records.get("tenant-acme-infra")
    assert (record.status, record.fingerprint) == ("applied", fp("a"))  # another operator applied since


def test_another_operators_apply_replaces_a_stale_cache(project: Project) -> None:
    project.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("mine"),
                               module_version="1.0.0-abc"))
    other = fresh(project)
    other.records.dir = project.settings.work_dir / "other-machine-records"
    other.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("theirs"),
                             module_version="1.0.0-abc"))
    assert fresh(project).records.get("tenant-acme-infra").fingerprint == fp("theirs")


def test_remove_deletes_the_record_object(project: Project) -> None:
    project.records.put(Record(workspace="tenant-acme-apps", status="applied", fingerprint=fp("a"),
                               module_version="1.0.0-abc"))
    project.records.remove("tenant-acme-apps")
    assert keys(project) == [] and fresh(project).records.get("tenant-acme-apps") is None


def test_after_local_down_no_tenant_is_reported_applied(project: Project) -> None:
    tenant = Tenant.create(id="acme", company_name="Acme", admin_email="a@acme.example.com", tier="basic")
    project.registry.save(tenant)
    project.records.put(Record(workspace="tenant-acme-infra", status="applied", fingerprint=fp("a"),
                               module_version="1.0.0-abc"))
    assert workflows.list_tenants(fresh(project))[0].states["infra"].startswith("applied")
    project.target.local.stop()  # what `invoke local.down` does: the state and its records are gone
    (row,) = workflows.list_tenants(fresh(project))
    assert row.states["infra"] == "never run"
    assert fresh(project).records.get("tenant-acme-infra") is None


# -- platform-aware detection ------------------------------------------------------------------------------
def put_platform_state(project: Project, outputs: dict) -> None:
    """The platform state as terraform writes it (format version 4), with these output values."""
    state = {"version": 4, "terraform_version": "1.11.4", "serial": 7, "lineage": "test-lineage",
             "outputs": {k: {"value": v, "type": "string"} for k, v in outputs.items()}, "resources": []}
    project.target.client("s3").put_object(Bucket=project.target.state_bucket, Key="platform/aws.tfstate",
                                           Body=json.dumps(state).encode())


def apply_all(project: Project) -> dict[str, str]:
    """Render and write every tenant's infra root and record it applied, as an apply does; -> root texts."""
    texts = {}
    for work in fleet.detect(project, project.registry.all(), (INFRA,), versions=fleet.Versions(project)):
        fleet.write_root_text(project.workspace_dir(work.workspace), work.text)
        project.records.put(Record(workspace=work.workspace, status="applied", fingerprint=work.fingerprint,
                                   module_version=work.version))
        texts[work.tenant.id] = work.text
    return texts


def reasons(project: Project) -> dict[str, str]:
    other = fresh(project)  # a new command: reads the platform state and the records again
    return {w.tenant.id: w.reason for w in fleet.detect(other, other.registry.all(), (INFRA,),
                                                         versions=fleet.Versions(other))}


def test_a_platform_output_change_marks_exactly_the_tenants_that_read_it(project: Project) -> None:
    for tenant_id, tier in (("acme", "basic"), ("globex", "premium"), ("initech", "basic")):
        project.registry.save(Tenant.create(id=tenant_id, company_name=f"{tenant_id} Inc",
                                            admin_email=f"admin@{tenant_id}.example.com", tier=tier))
    outputs = {name: f"{name}-1" for name in platform_output_names()}
    outputs["usage_plan_ids"] = {"basic": "plan-b", "standard": "plan-s", "premium": "plan-p", "platinum": "plan-x"}
    put_platform_state(project, outputs)
    texts = apply_all(project)
    record = fresh(project).records.get("tenant-acme-infra")
    assert len(record.platform) == 16  # stamped at apply time, and part of the key in the bucket
    assert keys(project, "tenants/acme/") == [
        f"tenants/acme/infra.record.{record.module_version}.{record.fingerprint}.{record.platform}.json"]
    assert reasons(project) == {"acme": "", "globex": "", "initech": ""}

    read = {name for name, _ in outputs_read(texts["acme"])}
    unread = sorted(set(platform_output_names()) - read - {name for t in texts.values() for name, _ in outputs_read(t)})
    shared = sorted(read - {"usage_plan_ids"})
    assert unread and shared, (read, unread)

    put_platform_state(project, {**outputs, unread[0]: "changed"})  # an output no infra root reads
    assert reasons(project) == {"acme": "", "globex": "", "initech": ""}

    plans = {**outputs["usage_plan_ids"], "premium": "plan-p-2"}  # only premium tenants read it
    put_platform_state(project, {**outputs, "usage_plan_ids": plans})
    assert reasons(project) == {"acme": "", "globex": "platform outputs it reads changed", "initech": ""}

    put_platform_state(project, {**outputs, shared[0]: "changed"})  # every infra root reads it
    assert set(reasons(project).values()) == {"platform outputs it reads changed"}
