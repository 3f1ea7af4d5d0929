"""Fleet operations without terraform: selection, change detection, module versions, the executor
(failure isolation, halting, retry) with a stand-in terraform, and rollout waves.

The executor tests replace `Project.terraform` with `FakeTerraform`; the real terraform runs in
tests/test_fleet_integration.py. The speed of change detection is measured in benchmarks/fleet.py,
not asserted here.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tenantform import fleet
from tenantform.errors import InvalidInput, TenantformError, TerraformFailed
from tenantform.fleet import Mode, Outcome, Selection, Versions
from tenantform.fleet import run as fleet_run
from tenantform.module_schema import MODULE_OUTPUTS, MODULE_VARIABLES
from tenantform.names import APPS, INFRA, LAYERS, workspace_name
from tenantform.project import Project
from tenantform.records import Record, Records
from tenantform.targets import Settings
from tenantform.tenant import Tenant
from tenantform.terraform import Changes, Result
from tenantform.tiers import Tier
from tests.conftest import copy_project

OLD = "0.9.0-0ld0ld0ld0"


# -- a project on disk, no server, no terraform ----------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path) -> Project:
    project = Project(Settings(project_dir=copy_project(tmp_path / "project"), parallelism=2))
    project.records = Records(project.settings.work_dir)  # no server: records in the state bucket are
    return project                                        # tested in tests/test_fleet_records.py


def add_tenants(project: Project, spec: dict[str, str]) -> list[Tenant]:
    tenants = [Tenant.create(id=tenant_id, company_name=f"{tenant_id} Inc", admin_email=f"admin@{tenant_id}.example.com",
                             tier=tier) for tenant_id, tier in spec.items()]
    for tenant in tenants:
        project.registry.save(tenant)
    return tenants


def fake_module(project: Project, version: str, *, without: str = "") -> None:
    """A synthesised module version declaring the current interface (minus the input `without`)."""
    for layer in LAYERS:
        directory = project.settings.out_dir / "modules" / version / layer
        directory.mkdir(parents=True, exist_ok=True)
        declared = {"variable": {name: {"type": v.type} for name, v in MODULE_VARIABLES[layer].items() if name != without},
                    "output": {name: {"value": "x"} for name in MODULE_OUTPUTS[layer]}}
        (directory / "cdk.tf.json").write_text(json.dumps(declared), encoding="utf-8")


def mark_applied(project: Project, *, version: str | None = None, layers: tuple[str, ...] = (INFRA,)) -> None:
    """Records as if every tenant's layers had been applied with their current roots."""
    versions = Versions(project, {t: version for t in project.registry.ids()} if version else None)
    for work in fleet.detect(project, project.registry.all(), layers, versions=versions):
        project.records.put(Record(workspace=work.workspace, status="applied", fingerprint=work.fingerprint,
                                   module_version=work.version))


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to start a process (terraform, CDKTF synthesis) fails the test."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "Popen", refuse)


# -- selection --------------------------------------------------------------------------------------------------
def test_parse_selection_defaults_to_everything() -> None:
    selection = fleet.parse_selection()
    assert selection == Selection(tenants=(), tier=None, layers=LAYERS)
    assert selection.describe() == "all tenants layer=all"


def test_parse_selection_words() -> None:
    selection = fleet.parse_selection(tenants="acme, globex,acme", tier="premium", layer="infra")
    assert selection.tenants == ("acme", "globex")
    assert selection.tier is Tier.PREMIUM
    assert selection.layers == (INFRA,)
    assert fleet.parse_selection(layer="all").layers == LAYERS


@pytest.mark.parametrize(("words", "field_name"), [
    ({"tenants": "Bad_Id"}, "id"), ({"tier": "gold"}, "tier"), ({"layer": "network"}, "layer"),
])
def test_parse_selection_rejects_bad_words(words: dict[str, str], field_name: str) -> None:
    with pytest.raises(InvalidInput) as error:
        fleet.parse_selection(**words)
    assert error.value.field == field_name


def test_select_by_tier_and_ids(project: Project) -> None:
    add_tenants(project, {"acme": "basic", "globex": "premium", "initech": "premium", "umbrella": "basic"})
    assert [t.id for t in fleet.select_tenants(project, Selection())] == ["acme", "globex", "initech", "umbrella"]
    assert [t.id for t in fleet.select_tenants(project, Selection(tier=Tier.PREMIUM))] == ["globex", "initech"]
    chosen = fleet.select_tenants(project, Selection(tenants=("umbrella", "globex"), tier=Tier.BASIC))
    assert [t.id for t in chosen] == ["umbrella"]


def test_select_unknown_tenant_names_it(project: Project) -> None:
    add_tenants(project, {"acme": "basic"})
    with pytest.raises(InvalidInput, match="unknown tenant.*nosuch") as error:
        fleet.select_tenants(project, Selection(tenants=("acme", "nosuch")))
    assert "acme" in error.value.allowed


# -- change detection ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("record", "expected"), [
    (None, "never applied"),
    (Record(workspace="w", status="failed", fingerprint="f", module_version="v"), "last run failed"),
    (Record(workspace="w", status="planned", fingerprint="f", module_version="v"), "last run planned"),
    (Record(workspace="w", status="applied", fingerprint="f", module_version="u"), "module u -> v"),
    (Record(workspace="w", status="applied", fingerprint="g", module_version="v"), "root or inputs changed"),
    (Record(workspace="w", status="applied", fingerprint="f", module_version="v"), ""),
])
def test_change_reason(record: Record | None, expected: str) -> None:
    assert fleet.change_reason(record, fingerprint="f", version="v") == expected


def test_fingerprint_is_the_roots_fingerprint(project: Project) -> None:
    from tenantform.roots import dumps, fingerprint

    (tenant,) = add_tenants(project, {"acme": "basic"})
    doc = project.render_root(tenant, INFRA, "1.0.0-x")
    text, print_ = fleet.root_text_and_fingerprint(doc, "1.0.0-x")
    assert text == dumps(doc) and print_ == fingerprint(doc, "1.0.0-x")  # records from onboard stay valid


def test_only_the_changed_tenant_is_selected_to_run(project: Project) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic", "initech": "premium"})
    mark_applied(project)
    versions = Versions(project)
    assert [w.reason for w in fleet.detect(project, project.registry.all(), (INFRA,), versions=versions)] == ["", "", ""]
    changed = project.registry.get("globex")
    project.registry.save(Tenant(id="globex", company_name="Globex Renamed", admin_email=changed.admin_email,
                                 tier=changed.tier))
    works = fleet.detect(project, project.registry.all(), (INFRA,), versions=versions)
    assert {w.workspace: w.reason for w in works} == {
        "tenant-acme-infra": "", "tenant-globex-infra": "root or inputs changed", "tenant-initech-infra": ""}


def test_tier_change_and_module_change_are_changes(project: Project) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic"})
    mark_applied(project, version=OLD)
    project.registry.save(project.registry.get("acme").with_tier(Tier.PREMIUM))
    works = {w.tenant.id: w for w in fleet.detect(project, project.registry.all(), (INFRA,),
                                                  versions=Versions(project, {"globex": "1.1.0-new"}))}
    assert works["acme"].reason == "root or inputs changed" and works["acme"].version == OLD
    assert works["globex"].reason == f"module {OLD} -> 1.1.0-new"


def test_a_tenant_keeps_its_recorded_version(project: Project) -> None:
    add_tenants(project, {"acme": "basic", "newco": "basic"})
    mark_applied(project, version=OLD)
    project.records.remove(workspace_name("newco", INFRA))
    versions = Versions(project)
    assert project.module_version() != OLD
    by_id = {w.tenant.id: w.version for w in fleet.detect(project, project.registry.all(), (INFRA,), versions=versions)}
    assert by_id == {"acme": OLD, "newco": project.module_version()}  # a new tenant gets the current one
    assert project.tenant_module_version("acme") == OLD and project.tenant_module_version("newco") is None


def test_a_pinned_version_gets_only_the_inputs_its_module_declares(project: Project) -> None:
    (tenant,) = add_tenants(project, {"acme": "basic"})
    fake_module(project, OLD, without="company_name")  # an older module, before an input was added
    old_root = project.render_root(tenant, INFRA, OLD)
    assert "company_name" not in old_root["module"]["tenant"] and "tenant_id" in old_root["module"]["tenant"]
    current = project.render_root(tenant, INFRA, "1.1.0-not-synthesised-yet")
    assert set(current["module"]["tenant"]) - {"source"} == set(MODULE_VARIABLES[INFRA])


def test_force_marks_up_to_date_workspaces(project: Project) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic"})
    mark_applied(project)
    versions = Versions(project)
    forced = fleet.detect(project, project.registry.all(), (INFRA,), versions=versions, force="drift check")
    assert [w.reason for w in forced] == ["drift check", "drift check"]
    one = fleet.detect(project, project.registry.all(), (INFRA,), versions=versions,
                       force_workspaces=frozenset({"tenant-globex-infra"}))
    assert [w.reason for w in one] == ["", "forced"]


def test_unchanged_fleet_runs_no_process_and_says_so(project: Project, no_processes: None) -> None:
    add_tenants(project, {"acme": "basic", "globex": "premium"})
    mark_applied(project)
    report = fleet.run_fleet(project, Mode.APPLY, Selection())
    assert report.counts == {"selected": 2, "planned": 0, "changed": 0, "unchanged": 2, "failed": 0,
                             "skipped": 0, "synthesised": 0}
    assert report.ok
    assert any("no cluster" in note for note in report.notes)
    saved = json.loads(Path(report.run_file).read_text())
    assert saved["counts"]["planned"] == 0 and saved["mode"] == "apply"
    assert not project.workspace_dir("tenant-acme-apps").exists()  # nothing to plan, nothing rendered
    apps = fleet.run_fleet(project, Mode.APPLY, Selection(layers=(APPS,)))  # says so, writes the roots, succeeds
    assert apps.ok and [r.outcome for r in apps.results] == [Outcome.SYNTHESISED, Outcome.SYNTHESISED]
    assert (project.workspace_dir("tenant-acme-apps") / "main.tf.json").is_file()


def test_thousand_unchanged_tenants_are_up_to_date_without_terraform(project: Project, no_processes: None) -> None:
    tiers = list(Tier)
    add_tenants(project, {f"t{i:04d}": tiers[i % 4].value for i in range(1000)})
    mark_applied(project)
    report = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    assert report.counts["unchanged"] == 1000 and report.counts["planned"] == 0


# -- the executor, with a stand-in for terraform ------------------------------------------------------------------
@dataclass
class FakeTerraform:
    """Stands in for tenantform.terraform.Terraform in one workspace."""

    workspace: str
    log_dir: Path
    changes: int = 1
    fail: str = ""
    """Command that fails: init, plan or apply."""
    calls: list[str] = field(default_factory=list)

    def _result(self, command: str, changes: Changes | None = None, stdout: str = "") -> Result:
        self.calls.append(command)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{command}.log"
        log.write_text(command, encoding="utf-8")
        if self.fail == command:
            raise TerraformFailed(f"terraform {command} failed in {self.workspace} (log: {log}):\n  boom in {command}")
        return Result(command=command, returncode=0, seconds=0.01, log=log, changes=changes or Changes(),
                      stdout=stdout)

    def init(self) -> None:
        self._result("init")

    def plan(self) -> Result:
        return self._result("plan", Changes(add=self.changes))

    def apply(self) -> Result:
        return self._result("apply", Changes(add=self.changes))

    def state_list(self) -> list[str]:
        return ["module.tenant.aws_dynamodb_table.order_table"] * self.changes


@pytest.fixture
def fake_terraform(project: Project, monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeTerraform]:
    """project.terraform() hands out FakeTerraform; `fakes[workspace].fail = "apply"` makes one fail."""
    fakes: dict[str, FakeTerraform] = {}

    def make(workspace: str) -> FakeTerraform:
        fake = fakes.setdefault(workspace, FakeTerraform(workspace, project.settings.work_dir / "logs" / workspace))
        return fake

    monkeypatch.setattr(project, "terraform", make)
    monkeypatch.setattr(fleet_run, "_prepare", lambda project, to_run, *args, **kwargs: to_run)
    return fakes


def test_one_failure_does_not_stop_the_others_and_retry_runs_only_it(project: Project,
                                                                      fake_terraform: dict[str, FakeTerraform]) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic", "initech": "basic"})
    fake_terraform["tenant-globex-infra"] = FakeTerraform("tenant-globex-infra", project.settings.work_dir / "logs" /
                                                          "tenant-globex-infra", fail="apply")
    report = fleet.run_fleet(project, Mode.APPLY, Selection(), parallel=2)
    outcomes = {r.workspace: r.outcome for r in report.results}
    assert outcomes == {
        "tenant-acme-infra": Outcome.APPLIED, "tenant-acme-apps": Outcome.SYNTHESISED,
        "tenant-globex-infra": Outcome.FAILED, "tenant-globex-apps": Outcome.SYNTHESISED,
        "tenant-initech-infra": Outcome.APPLIED, "tenant-initech-apps": Outcome.SYNTHESISED}
    (failed,) = report.failed
    assert failed.message == "apply: boom in apply"
    assert failed.log.endswith("tenant-globex-infra/apply.log")
    assert not report.ok and report.counts["failed"] == 1 and report.counts["changed"] == 2
    assert project.records.get("tenant-globex-infra").status == "failed"
    assert project.records.get("tenant-acme-infra").status == "applied"

    fake_terraform["tenant-globex-infra"].fail = ""
    for fake in fake_terraform.values():
        fake.calls.clear()
    retry = fleet.run_fleet(project, Mode.APPLY, Selection(), retry_failed=True)
    assert [(r.workspace, r.outcome) for r in retry.results] == [("tenant-globex-infra", Outcome.APPLIED),
                                                                 ("tenant-globex-apps", Outcome.SYNTHESISED)]
    assert fake_terraform["tenant-globex-infra"].calls == ["init", "plan", "apply", ] and \
        fake_terraform["tenant-acme-infra"].calls == [] and fake_terraform["tenant-initech-infra"].calls == []
    again = fleet.run_fleet(project, Mode.APPLY, Selection(), retry_failed=True)
    assert again.results == [] and "nothing to retry" in again.notes[0]


def test_a_failed_plan_is_retried_even_though_its_record_is_unchanged(project: Project,
                                                                       fake_terraform: dict[str, FakeTerraform]) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic"})
    mark_applied(project)
    project.registry.save(Tenant(id="globex", company_name="New Name", admin_email="admin@globex.example.com",
                                 tier=Tier.BASIC))
    fake_terraform["tenant-globex-infra"] = FakeTerraform("tenant-globex-infra", project.settings.work_dir / "logs" /
                                                          "tenant-globex-infra", fail="plan")
    report = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    assert [r.outcome for r in report.results] == [Outcome.UP_TO_DATE, Outcome.FAILED]
    assert project.records.get("tenant-globex-infra").status == "applied"  # plans never touch records
    fake_terraform["tenant-globex-infra"].fail = ""
    retry = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)), retry_failed=True)
    assert [(r.workspace, r.outcome) for r in retry.results] == [("tenant-globex-infra", Outcome.CHANGES)]


def test_apps_layer_is_skipped_when_infra_fails_with_a_cluster(project: Project, fake_terraform: dict[str, FakeTerraform],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(project), "cluster_configured", property(lambda self: True))
    add_tenants(project, {"acme": "basic"})
    fake_terraform["tenant-acme-infra"] = FakeTerraform("tenant-acme-infra", project.settings.work_dir / "logs" /
                                                        "tenant-acme-infra", fail="init")
    report = fleet.run_fleet(project, Mode.APPLY, Selection())
    assert [(r.workspace, r.outcome) for r in report.results] == [
        ("tenant-acme-infra", Outcome.FAILED), ("tenant-acme-apps", Outcome.SKIPPED)]
    assert "tenant-acme-apps" not in fake_terraform
    assert report.results[0].message.startswith("init: ")


def test_no_change_plan_brings_the_record_up_to_date(project: Project, fake_terraform: dict[str, FakeTerraform]) -> None:
    add_tenants(project, {"acme": "basic"})
    mark_applied(project, version=OLD)
    fake_module(project, "1.1.0-new")
    fake_terraform["tenant-acme-infra"] = FakeTerraform("tenant-acme-infra", project.settings.work_dir / "logs" /
                                                        "tenant-acme-infra", changes=0)
    report = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)), version_overrides={"acme": "1.1.0-new"})
    assert [r.outcome for r in report.results] == [Outcome.NO_CHANGES]
    record = project.records.get("tenant-acme-infra")
    assert record.status == "applied" and record.module_version == "1.1.0-new"


def test_drift_mode_reports_only_drift_terraform_would_revert() -> None:
    def event(kind: str, address: str, action: str) -> str:
        return json.dumps({"type": kind, "change": {"resource": {"addr": address}, "action": action}})

    stdout = "\n".join([
        event("resource_drift", "module.tenant.aws_cognito_user_pool.user_pool", "update"),  # settles after apply
        event("resource_drift", "module.tenant.aws_dynamodb_table.order_table", "update"),
        event("planned_change", "module.tenant.aws_dynamodb_table.order_table", "update"),
        event("planned_change", "module.tenant.data.aws_iam_policy_document.data_access", "read"),
        event("planned_change", "module.tenant.aws_iam_role_policy.data_access_policy", "update"),
        "not json",
    ])
    assert fleet.drifted_resources(stdout) == ["module.tenant.aws_dynamodb_table.order_table"]
    assert fleet.drifted_resources("") == []


def test_halt_starts_nothing_after_the_first_failure(project: Project, fake_terraform: dict[str, FakeTerraform]) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic", "initech": "basic"})
    fake_terraform["tenant-acme-infra"] = FakeTerraform("tenant-acme-infra", project.settings.work_dir / "logs" /
                                                        "tenant-acme-infra", fail="plan")
    report = fleet.run_fleet(project, Mode.APPLY, Selection(layers=(INFRA,)), parallel=1, halt_on_failure=True)
    assert [r.outcome for r in report.results] == [Outcome.FAILED, Outcome.SKIPPED, Outcome.SKIPPED]
    assert "tenant-globex-infra" not in fake_terraform and "tenant-initech-infra" not in fake_terraform
    fake_terraform["tenant-acme-infra"].fail = ""
    retry = fleet.run_fleet(project, Mode.APPLY, Selection(layers=(INFRA,)), retry_failed=True)
    assert [r.outcome for r in retry.results] == [Outcome.APPLIED] * 3  # what did not run is retried too


def test_a_missing_module_version_fails_only_its_tenants(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    add_tenants(project, {"acme": "basic"})
    mark_applied(project, version=OLD)
    project.registry.save(project.registry.get("acme").with_tier(Tier.STANDARD))
    monkeypatch.setattr(project, "ensure_modules", lambda *a: pytest.fail("the current version is not needed"))
    report = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    (result,) = report.results
    assert result.outcome is Outcome.FAILED and f"module version {OLD} is not synthesised" in result.message


def test_one_fleet_run_at_a_time(project: Project) -> None:
    with fleet.run_lock(project):
        with pytest.raises(TenantformError, match="fleet run lock is held by pid"):
            fleet.run_fleet(project, Mode.PLAN, Selection())


# -- rollouts ----------------------------------------------------------------------------------------------------
def test_plan_waves() -> None:
    assert fleet.plan_waves(["a", "b", "c", "d", "e"], canary=1, wave=2) == [["a"], ["b", "c"], ["d", "e"]]
    assert fleet.plan_waves(["a", "b"], canary=0, wave=5) == [["a", "b"]]
    assert fleet.plan_waves(["a"], canary=3, wave=1) == [["a"]]
    with pytest.raises(InvalidInput):
        fleet.plan_waves(["a"], canary=1, wave=0)


@pytest.fixture
def rollout_fleet(project: Project, fake_terraform: dict[str, FakeTerraform]) -> Project:
    """Four tenants applied at OLD; the current sources are a new version (synthesised, faked)."""
    add_tenants(project, {"acme": "premium", "globex": "basic", "initech": "basic", "umbrella": "standard"})
    fake_module(project, OLD)
    fake_module(project, project.module_version())
    mark_applied(project, version=OLD)
    for tenant_id in project.registry.ids():
        workspace = workspace_name(tenant_id, INFRA)
        fake_terraform[workspace] = FakeTerraform(workspace, project.settings.work_dir / "logs" / workspace, changes=0)
    return project


def versions_of(project: Project) -> dict[str, str]:
    return {t: project.tenant_module_version(t) for t in project.registry.ids()}


def test_two_wave_rollout_moves_the_canary_first(rollout_fleet: Project) -> None:
    project, new = rollout_fleet, rollout_fleet.module_version()
    rollout = fleet.start_rollout(project, Selection(), canary=1, wave=3)
    assert rollout.waves == [["globex"], ["initech", "umbrella", "acme"]]  # lowest tier first, premium last
    report = fleet.advance_rollout(project)
    assert report.ok and report.rollout.next_wave == 1 and report.rollout.status == "active"
    assert versions_of(project) == {"acme": OLD, "globex": new, "initech": OLD, "umbrella": OLD}
    # an ordinary run between waves keeps everyone where they are
    assert fleet.run_fleet(project, Mode.APPLY, Selection()).counts["planned"] == 0
    status = fleet.fleet_status(project)
    assert status.versions == {OLD: 3, new: 1}
    assert {row.tenant: row.rollout for row in status.tenants}["globex"] == f"{new}: done"
    with pytest.raises(TenantformError, match="fleet.rollout` continues it"):
        fleet.start_rollout(project, Selection())
    report = fleet.advance_rollout(project)
    assert report.rollout.status == "complete"
    assert set(versions_of(project).values()) == {new}
    assert fleet.start_rollout(project, Selection()) is None  # nothing left to move


def test_a_failed_wave_pauses_and_the_next_invocation_retries_it(rollout_fleet: Project,
                                                                  fake_terraform: dict[str, FakeTerraform]) -> None:
    project, new = rollout_fleet, rollout_fleet.module_version()
    fleet.start_rollout(project, Selection(), canary=1, wave=3)
    fleet.advance_rollout(project)
    fake_terraform["tenant-umbrella-infra"].fail = "plan"
    report = fleet.advance_rollout(project)
    assert not report.ok and report.rollout.status == "paused" and report.rollout.pending == ["umbrella"]
    assert versions_of(project) == {"acme": new, "globex": new, "initech": new, "umbrella": new}
    assert project.records.get("tenant-umbrella-infra").status == "failed"  # it tried the new version
    fake_terraform["tenant-umbrella-infra"].fail = ""
    for fake in fake_terraform.values():
        fake.calls.clear()
    report = fleet.advance_rollout(project)
    assert report.ok and report.rollout.status == "complete"
    assert [ws for ws, fake in fake_terraform.items() if fake.calls] == ["tenant-umbrella-infra"]


def test_halt_needs_resume(rollout_fleet: Project, fake_terraform: dict[str, FakeTerraform]) -> None:
    project = rollout_fleet
    fleet.start_rollout(project, Selection(), canary=1, wave=3, on_failure=fleet.OnFailure.HALT)
    fake_terraform["tenant-globex-infra"].fail = "apply"
    fake_terraform["tenant-globex-infra"].changes = 1
    report = fleet.advance_rollout(project)
    assert report.rollout.status == "halted"
    with pytest.raises(TenantformError, match="--resume"):
        fleet.advance_rollout(project)
    fake_terraform["tenant-globex-infra"].fail = ""
    assert fleet.advance_rollout(project, resume=True).rollout.next_wave == 1
    assert fleet.abort_rollout(project).status == "aborted"
    assert versions_of(project)["acme"] == OLD  # aborting moves nobody


def test_rollout_of_an_unknown_version_is_refused(rollout_fleet: Project) -> None:
    with pytest.raises(InvalidInput, match="not synthesised"):
        fleet.start_rollout(rollout_fleet, Selection(), version="9.9.9-nope")
    rollout = fleet.start_rollout(rollout_fleet, Selection(tenants=("acme",)), version=OLD)
    assert rollout is None  # acme already runs OLD
