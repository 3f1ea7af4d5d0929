"""The run ledger (tenantform/ledger.py): JSON report, Markdown summary, exit codes, stateful guard.

The executor runs with the stand-in terraform of tests/test_fleet.py (its plan reports a scripted
replacement); the real terraform and the CLI are exercised in tests/test_fleet_integration.py and,
for the tfc target, tests/test_tfc_fleet.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantform import fleet, ledger
from tenantform.fleet import Mode, Outcome, Selection
from tenantform.names import INFRA
from tenantform.project import Project
from tenantform.terraform import Changes, Result
from tests.conftest import fresh_project  # noqa: F401 - fixture
from tests.test_fleet import FakeTerraform, add_tenants, fake_terraform, project  # noqa: F401 - fixtures

TABLE = "module.tenant.aws_dynamodb_table.order_table"


class Replacing(FakeTerraform):
    """A plan that replaces the tenant's order table (and adds nothing else)."""

    def plan(self) -> Result:
        return self._result("plan", Changes(add=1, remove=1, actions=[("replace", TABLE)]))

    def apply(self) -> Result:
        return self._result("apply", Changes(add=1, remove=1))


@pytest.mark.parametrize(("address", "kind"), [
    ("module.tenant.aws_dynamodb_table.order_table", "aws_dynamodb_table"),
    ('module.a.module.b.aws_cognito_user_pool.pool["x.y"]', "aws_cognito_user_pool"),
    ("aws_s3_bucket.site", "aws_s3_bucket"),
    ("data.aws_iam_policy_document.p", "aws_iam_policy_document"),
])
def test_resource_type_of_an_address(address: str, kind: str) -> None:
    assert ledger.resource_type(address) == kind


def test_guard_refuses_stateful_replacements_only_and_allows_by_type_or_address() -> None:
    actions = [f"replace {TABLE}", "delete module.tenant.aws_iam_role.tenant", "update module.tenant.x.y"]
    assert ledger.stateful(actions) == [f"replace {TABLE}"]
    refusal = ledger.ReplaceGuard().refusal(actions)
    assert refusal is not None and refusal.startswith("refused: ") and "--allow-replace=aws_dynamodb_table" in refusal
    assert ledger.ReplaceGuard.parse("aws_dynamodb_table").refusal(actions) is None
    assert ledger.ReplaceGuard.parse(f" {TABLE} ,other").refusal(actions) is None
    assert ledger.ReplaceGuard.parse("aws_cognito_user_pool").refusal(actions) is not None
    assert ledger.ReplaceGuard().refusal(["delete module.tenant.aws_iam_role.tenant"]) is None


def test_unattended_apply_refuses_then_applies_when_allowed(project: Project,  # noqa: F811
                                                             fake_terraform: dict[str, FakeTerraform],  # noqa: F811
                                                             tmp_path: Path) -> None:
    add_tenants(project, {"acme": "basic", "globex": "basic"})
    fake_terraform["tenant-acme-infra"] = Replacing("tenant-acme-infra",
                                                    project.settings.work_dir / "logs" / "tenant-acme-infra")
    report = fleet.run_fleet(project, Mode.APPLY, Selection(layers=(INFRA,)))
    outcomes = {r.workspace: r.outcome for r in report.results}
    assert outcomes == {"tenant-acme-infra": Outcome.REFUSED, "tenant-globex-infra": Outcome.APPLIED}
    assert fake_terraform["tenant-acme-infra"].calls == ["init", "plan"]  # never applied
    assert project.records.get("tenant-acme-infra") is None  # so the next run plans it again
    assert not report.ok and ledger.exit_code(report) == 1

    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md")}
    written = ledger.write(report, report_file=str(tmp_path / "r" / "report.json"), summary_file=None,
                           environ=env)
    assert written == [str(tmp_path / "r" / "report.json"), env["GITHUB_STEP_SUMMARY"]]
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert (doc["schema"], doc["schema_version"], doc["command"], doc["exit_code"]) == (
        "tenantform.fleet-report", 1, "fleet.apply", 1)
    (acme,) = [w for w in doc["workspaces"] if w["workspace"] == "tenant-acme-infra"]
    assert acme["outcome"] == "refused" and acme["counts"] == {"add": 1, "change": 0, "destroy": 1, "replace": 1}
    assert acme["replaced"] == [TABLE] and acme["stateful"] == [TABLE]
    assert acme["error"].startswith("refused: the plan would replace " + TABLE)
    assert acme["log"].endswith("tenant-acme-infra/plan.log") and acme["duration_seconds"] >= 0
    (globex,) = [w for w in doc["workspaces"] if w["workspace"] == "tenant-globex-infra"]
    assert (globex["outcome"], globex["error_class"], globex["error"]) == ("applied", "", "")
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "> [!WARNING]" in summary and f"`replace {TABLE}`" in summary
    assert "| `tenant-acme-infra` | refused | 1 | 0 | 1 | 1 |" in summary

    allowed = fleet.run_fleet(project, Mode.APPLY, Selection(layers=(INFRA,)),
                              guard=ledger.ReplaceGuard.parse("aws_dynamodb_table"))
    assert [(r.workspace, r.outcome) for r in allowed.results] == [
        ("tenant-acme-infra", Outcome.APPLIED), ("tenant-globex-infra", Outcome.UP_TO_DATE)]
    assert ledger.exit_code(allowed) == 0


def test_plan_exit_codes_follow_detailed_exitcode(project: Project,  # noqa: F811
                                                  fake_terraform: dict[str, FakeTerraform]) -> None:
    add_tenants(project, {"acme": "basic"})
    changes = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    assert [r.outcome for r in changes.results] == [Outcome.CHANGES] and ledger.exit_code(changes) == 2
    fake_terraform["tenant-acme-infra"].fail = "plan"
    failed = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    assert ledger.exit_code(failed) == 1
    entry = ledger.report_document(failed)["workspaces"][0]
    assert (entry["error_class"], entry["error"]) == ("TerraformFailed", "plan: boom in plan")
    fake_terraform["tenant-acme-infra"].fail = ""
    fleet.run_fleet(project, Mode.APPLY, Selection(layers=(INFRA,)))
    clean = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    assert [r.outcome for r in clean.results] == [Outcome.UP_TO_DATE] and ledger.exit_code(clean) == 0
    assert "nothing was planned" in ledger.markdown(clean)


# -- a malformed tenant file fails that tenant only ----------------------------------------------------------
BROKEN = 'id = "broken"\ncompany_name = "Broken"\nadmin_email = "not an e-mail"\ntier = "gold"\n'


def test_a_malformed_tenant_file_fails_that_tenant_and_the_rest_runs(project: Project,  # noqa: F811
                                                                     fake_terraform: dict[str, FakeTerraform],  # noqa: F811
                                                                     tmp_path: Path) -> None:
    add_tenants(project, {"acme": "basic"})
    (project.settings.tenants_dir / "broken.toml").write_text(BROKEN)
    report = fleet.run_fleet(project, Mode.PLAN, Selection(layers=(INFRA,)))
    outcomes = {r.workspace: (r.outcome, r.message) for r in report.results}
    assert outcomes["tenant-acme-infra"] == (Outcome.CHANGES, "")
    outcome, message = outcomes["tenant-broken-infra"]
    assert outcome is Outcome.FAILED and message.startswith("tenant file: ") and "broken.toml" in message
    assert fake_terraform["tenant-acme-infra"].calls == ["init", "plan"] and "tenant-broken-infra" not in fake_terraform
    assert ledger.exit_code(report) == 1
    entry = next(w for w in ledger.report_document(report)["workspaces"] if w["tenant"] == "broken")
    # two problems in the file (e-mail and tier): reported together, as InvalidInputs
    assert entry["error_class"] == "InvalidInputs" and entry["error"].startswith("tenant file: ")
    status = fleet.fleet_status(project)
    assert [(row.tenant, row.infra) for row in status.tenants] == [("acme", "never run"),
                                                                   ("broken", "invalid tenant file")]


def test_tenants_and_fleet_status_list_a_malformed_file_as_one_row(fresh_project) -> None:  # noqa: ANN001
    tenants = fresh_project.project_dir / "tenants"
    (tenants / "acme.toml").write_text('id = "acme"\ncompany_name = "Acme"\nadmin_email = "admin@acme.example.com"\n'
                                       'tier = "basic"\n')
    (tenants / "broken.toml").write_text(BROKEN)
    listing = fresh_project.run("tenants", check=False)  # lists everyone; the bad file is bad input: exit 2
    assert listing.returncode == 2, listing.stdout + listing.stderr
    assert "acme" in listing.stdout and "invalid tenant file" in listing.stdout
    assert "broken.toml: 2 problems" in listing.stderr
    status = json.loads(fresh_project.run("fleet.status", "--json").stdout)
    assert {row["tenant"]: row["infra"] for row in status["tenants"]} == {"acme": "never run",
                                                                          "broken": "invalid tenant file"}
    assert "Traceback" not in listing.stderr
