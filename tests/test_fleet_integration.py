"""Fleet runs with real terraform against moto, through the real `invoke` command line.

One fleet of three basic tenants goes through the issue's checks in order (each test builds on
the one before; together about 5 minutes on 2 cores): an apply where one tenant fails and the
others do not, `--retry-failed`, an unchanged run that starts no terraform, a one-tenant change,
drift made with boto3 and found for exactly that tenant, and a two-wave rollout. Every terraform
process is counted: `terraform` on the PATH is a shim that logs `<workspace> <command>` and
execs the real binary.

The project (`local_project`) is shared with other test modules, so every command names its
tenants, and the module release bumped for the rollout is restored afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Cli

pytestmark = pytest.mark.integration

TENANTS = ("fleet-a", "fleet-b", "fleet-c")
SELECT = "tenants=" + ",".join(TENANTS)
FAILING = "fleet-c"


@dataclass
class Fleet:
    cli: Cli
    calls_file: Path

    @property
    def project(self):  # noqa: ANN201 - tenantform.project.Project
        return self.cli.project()

    def calls(self) -> list[str]:
        """`<workspace> <command>` of every terraform process started since the last reset."""
        return self.calls_file.read_text().split("\n")[:-1] if self.calls_file.exists() else []

    def reset_calls(self) -> None:
        self.calls_file.unlink(missing_ok=True)

    def last_run(self) -> dict:
        return json.loads((self.cli.project_dir / ".tenantform" / "fleet" / "last-run.json").read_text())

    def outcomes(self) -> dict[str, str]:
        return {r["workspace"]: r["outcome"] for r in self.last_run()["results"] if r["layer"] == "infra"}

    def status(self) -> dict[str, str]:
        out = self.cli.run("fleet.status", SELECT, "--json").stdout
        return {row["tenant"]: row["version"] for row in json.loads(out)["tenants"]}


@pytest.fixture(scope="module")
def fleet(local_project: Cli, tmp_path_factory: pytest.TempPathFactory, terraform: str) -> Iterator[Fleet]:
    shim_dir = tmp_path_factory.mktemp("terraform-shim")
    calls = shim_dir / "calls.log"
    shim = shim_dir / "terraform"
    shim.write_text(f'#!/bin/sh\necho "$(basename "$PWD") $1" >> "{calls}"\nexec "{terraform}" "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    project_dir = local_project.project_dir
    for tenant_id in TENANTS:
        (project_dir / "tenants" / f"{tenant_id}.toml").write_text(
            f'id = "{tenant_id}"\ncompany_name = "{tenant_id} Inc"\n'
            f'admin_email = "admin@{tenant_id}.example.com"\ntier = "basic"\n')
    release_file = project_dir / "modules" / "__init__.py"
    release = release_file.read_text()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{shim_dir}{os.pathsep}{os.environ['PATH']}")
        try:
            yield Fleet(local_project, calls)
        finally:
            release_file.write_text(release)  # other modules of the session keep the original version
            for tenant_id in TENANTS:  # leave the shared project as other modules expect it
                (project_dir / "tenants" / f"{tenant_id}.toml").unlink(missing_ok=True)
                for layer in ("infra", "apps"):
                    (project_dir / ".tenantform" / "records" / f"tenant-{tenant_id}-{layer}.json").unlink(
                        missing_ok=True)
                    shutil.rmtree(project_dir / "cdktf.out" / "workspaces" / f"tenant-{tenant_id}-{layer}",
                                  ignore_errors=True)
            for name in ("last-run.json", "rollout.json"):
                (project_dir / ".tenantform" / "fleet" / name).unlink(missing_ok=True)


def dynamodb(fleet: Fleet):  # noqa: ANN201
    return fleet.project.target.client("dynamodb")


def test_one_failing_tenant_does_not_stop_the_others(fleet: Fleet) -> None:
    # A real failure: the failing tenant's order table already exists, so its apply cannot create it.
    dynamodb(fleet).create_table(TableName=f"Order-{FAILING}", BillingMode="PAY_PER_REQUEST",
                                 AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                 KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    fleet.reset_calls()
    proc = fleet.cli.run("fleet.apply", SELECT, "parallel=2", "--yes", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert fleet.outcomes() == {"tenant-fleet-a-infra": "applied", "tenant-fleet-b-infra": "applied",
                                "tenant-fleet-c-infra": "failed"}
    failed = next(r for r in fleet.last_run()["results"] if r["outcome"] == "failed")
    assert "Table already exists" in failed["message"] and Path(failed["log"]).is_file()
    assert "tenant-fleet-c-infra: failed (apply: " in proc.stdout
    assert "--retry-failed" in proc.stdout
    applies = sorted(call for call in fleet.calls() if call.endswith(" apply"))
    assert applies == [f"tenant-{t}-infra apply" for t in TENANTS]
    counts = fleet.last_run()["counts"]
    assert (counts["planned"], counts["changed"], counts["failed"]) == (3, 2, 1)


def test_retry_failed_reruns_only_the_failed_tenant(fleet: Fleet) -> None:
    dynamodb(fleet).delete_table(TableName=f"Order-{FAILING}")
    fleet.reset_calls()
    proc = fleet.cli.run("fleet.apply", "--retry-failed", "--yes")
    assert {call.split()[0] for call in fleet.calls()} == {"tenant-fleet-c-infra"}, fleet.calls()
    assert fleet.outcomes() == {"tenant-fleet-c-infra": "applied"}
    assert "failed 0" in proc.stdout


def test_unchanged_fleet_starts_no_terraform(fleet: Fleet) -> None:
    logs = sorted((fleet.cli.project_dir / ".tenantform" / "logs").glob("tenant-fleet-*/*.log"))
    before = {path: path.stat().st_mtime_ns for path in logs}
    fleet.reset_calls()
    for command in ("fleet.plan", "fleet.apply"):
        proc = fleet.cli.run(command, SELECT)
        assert "no terraform process was started" in proc.stdout
        assert fleet.last_run()["counts"]["planned"] == 0
        assert set(fleet.outcomes().values()) == {"up to date"}
    assert fleet.calls() == []
    assert {path: path.stat().st_mtime_ns for path in logs} == before


def test_a_fresh_clone_plans_nothing_the_state_bucket_records_as_applied(fleet: Fleet) -> None:
    """Everything under .tenantform/ but the emulator's files (and the provider cache) deleted, as on a
    fresh clone or CI runner: the records in the state bucket answer, and no terraform starts."""
    work = fleet.cli.project_dir / ".tenantform"
    cached = {t: json.loads((work / "records" / f"tenant-{t}-infra.json").read_text()) for t in TENANTS}
    for child in work.iterdir():
        if child.name not in ("local", "plugin-cache"):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    store = fleet.project.records.remote
    entries = store.load()
    assert store.listings == 1  # one ListObjectsV2 page answers for the whole fleet, no GET per tenant
    for tenant_id, record in cached.items():
        (entry,) = entries[f"tenant-{tenant_id}-infra"]
        assert (entry.fingerprint, entry.module_version) == (record["fingerprint"], record["module_version"])
        assert entry.key == (f"tenants/{tenant_id}/infra.record.{record['module_version']}.{record['fingerprint']}."
                             f"{record['platform']}.json")  # the platform outputs it read, stamped at apply
    fleet.reset_calls()
    proc = fleet.cli.run("fleet.plan", SELECT)
    assert "no terraform process was started" in proc.stdout
    assert set(fleet.outcomes().values()) == {"up to date"}
    assert fleet.calls() == []


def test_two_operators_applying_different_tenants_both_end_recorded(fleet: Fleet) -> None:
    import threading

    procs: dict[str, object] = {}

    def update(tenant_id: str) -> None:
        procs[tenant_id] = fleet.cli.run("update", f"tenant={tenant_id}", f"name={tenant_id} Concurrent", "--yes",
                                         check=False)

    threads = [threading.Thread(target=update, args=(t,)) for t in ("fleet-a", "fleet-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for tenant_id, proc in procs.items():
        assert proc.returncode == 0, proc.stdout + proc.stderr
    s3 = fleet.project.target.client("s3")
    bucket = fleet.project.target.state_bucket
    for tenant_id in ("fleet-a", "fleet-b"):
        local = json.loads((fleet.cli.project_dir / ".tenantform" / "records" / f"tenant-{tenant_id}-infra.json")
                           .read_text())
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"tenants/{tenant_id}/infra.record.")
                .get("Contents", [])]
        assert keys == [f"tenants/{tenant_id}/infra.record.{local['module_version']}.{local['fingerprint']}."
                        f"{local['platform']}.json"]
        body = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
        assert (body["status"], body["fingerprint"]) == ("applied", local["fingerprint"])
    fleet.reset_calls()
    assert "no terraform process was started" in fleet.cli.run("fleet.plan", SELECT).stdout
    assert fleet.calls() == []


def test_after_one_input_changes_only_that_tenant_is_planned(fleet: Fleet) -> None:
    toml = fleet.cli.project_dir / "tenants" / "fleet-b.toml"
    text, count = re.subn(r'^company_name = .*$', 'company_name = "Fleet B Renamed Ltd"', toml.read_text(), flags=re.M)
    assert count == 1
    toml.write_text(text)
    fleet.reset_calls()
    fleet.cli.run("fleet.apply", SELECT, "--yes")
    assert {call.split()[0] for call in fleet.calls()} == {"tenant-fleet-b-infra"}, fleet.calls()
    assert fleet.outcomes() == {"tenant-fleet-a-infra": "up to date", "tenant-fleet-b-infra": "applied",
                                "tenant-fleet-c-infra": "up to date"}


def test_drift_is_reported_for_exactly_the_drifted_tenant(fleet: Fleet) -> None:
    client = dynamodb(fleet)
    arn = client.describe_table(TableName="Order-fleet-a")["Table"]["TableArn"]
    client.tag_resource(ResourceArn=arn, Tags=[{"Key": "changed-by", "Value": "hand"}])
    client.update_continuous_backups(TableName="Order-fleet-a",
                                     PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    proc = fleet.cli.run("fleet.drift", SELECT, "layer=infra", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert fleet.outcomes() == {"tenant-fleet-a-infra": "drifted", "tenant-fleet-b-infra": "in sync",
                                "tenant-fleet-c-infra": "in sync"}
    drifted = next(r for r in fleet.last_run()["results"] if r["outcome"] == "drifted")
    assert drifted["drifted"] == ["module.tenant.aws_dynamodb_table.order_table[0]"]
    assert "Drift in 1 tenant(s): fleet-a." in proc.stdout
    fleet.reset_calls()
    asked = fleet.cli.run("fleet.apply", "tenants=fleet-a", "--force", check=False)  # what the drift report suggests
    assert asked.returncode == 1 and "not confirmed: nothing applied" in asked.stderr  # no terminal, no --yes
    assert "tenant-fleet-a-infra: changes (+0 ~" in asked.stdout  # the plan it showed before asking
    assert [c for c in fleet.calls() if c.endswith(" apply")] == []
    fleet.cli.run("fleet.apply", "tenants=fleet-a", "--force", "--yes")
    assert fleet.outcomes() == {"tenant-fleet-a-infra": "applied"}
    backups = client.describe_continuous_backups(TableName="Order-fleet-a")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


def test_two_wave_rollout_moves_the_canary_then_the_rest(fleet: Fleet) -> None:
    old = set(fleet.status().values())
    assert len(old) == 1
    (old_version,) = old
    release_file = fleet.cli.project_dir / "modules" / "__init__.py"
    release_file.write_text(release_file.read_text().replace('__version__ = "', '__version__ = "9.', 1))

    fleet.cli.run("fleet.rollout", SELECT, "canary=1", "wave=2")  # synthesises the new version, runs wave 1
    versions = fleet.status()
    new_version = versions["fleet-a"]
    assert new_version.startswith("9.") and new_version != old_version
    assert versions == {"fleet-a": new_version, "fleet-b": old_version, "fleet-c": old_version}

    fleet.reset_calls()
    fleet.cli.run("fleet.apply", SELECT, "--yes")  # between waves nobody else moves, and nothing is planned
    assert fleet.calls() == []
    # `invoke update` changes one tenant and keeps its version. (A tier change cannot be applied on
    # moto 5.2.5: the `tier` tag moves, and moto answers Cognito TagResource with HTTP 500.)
    proc = fleet.cli.run("update", "tenant=fleet-b", "name=Fleet B Updated", "--yes")
    assert "tenant-fleet-b-infra: +0 ~1 -0" in proc.stdout  # the plan it showed first
    assert fleet.status()["fleet-b"] == old_version
    rows = json.loads(fleet.cli.run("fleet.status", SELECT, "--json").stdout)["tenants"]
    assert {row["tenant"]: row["rollout"] for row in rows} == {
        "fleet-a": f"{new_version}: done", "fleet-b": f"{new_version}: wave 2", "fleet-c": f"{new_version}: wave 2"}
    assert "Rollout to " in fleet.cli.run("fleet.status", SELECT).stdout

    fleet.reset_calls()
    proc = fleet.cli.run("fleet.rollout")  # the next wave
    assert "complete" in proc.stdout
    assert {call.split()[0] for call in fleet.calls()} == {"tenant-fleet-b-infra", "tenant-fleet-c-infra"}
    assert fleet.status() == {tenant_id: new_version for tenant_id in TENANTS}
