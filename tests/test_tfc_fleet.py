"""`invoke fleet.plan` / `fleet.apply` with `target=tfc`: the real CLI against the HCP Terraform API stand-in.

One project copy and one stand-in per module (the platform and the tenant module are synthesised
once, by the fixture's `platform.deploy` and first `onboard`). The tests share that state and run
in file order: each one leaves every tenant applied and up to date for the next. The stand-in runs
no terraform; what is checked is which runs the fleet starts, their kind, how each outcome reaches
the summary, the exit code and the records (change detection reads them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from subprocess import CompletedProcess

import pytest

from tests.conftest import Cli, copy_project
from tests.test_tfc_target import ENV, ORG, TOKEN, run_url, write_invoke_yaml
from tests.tfc_standin import StandIn

TENANTS = ("acme", "globex", "initech")


@dataclass
class Fleet:
    cli: Cli
    standin: StandIn

    def run(self, *args: str, check: bool = True) -> CompletedProcess:
        return self.cli.run(*args, check=check, env_overrides=ENV)

    def runs(self) -> list[dict]:
        return list(self.standin.runs.values())

    def workspace_of(self, run: dict) -> str:
        return self.standin.workspaces[run["workspace"]]["name"]

    def record(self, workspace: str) -> dict:
        return json.loads((self.cli.project_dir / ".tenantform" / "records" / f"{workspace}.json").read_text())

    def rename(self, tenant: str, company: str) -> None:
        path = self.cli.project_dir / "tenants" / f"{tenant}.toml"
        text, count = re.subn(r"^company_name = .*$", f"company_name = {json.dumps(company)}",
                              path.read_text(), flags=re.M)
        assert count == 1
        path.write_text(text)

    def last_run(self) -> dict:
        return json.loads((self.cli.project_dir / ".tenantform" / "fleet" / "last-run.json").read_text())


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with StandIn(organization=ORG, token=TOKEN) as standin:
        cli = Cli(copy_project(tmp_path_factory.mktemp("tfc-fleet-project")))
        write_invoke_yaml(cli.project_dir, standin.address)
        cli.run("platform.deploy", env_overrides=ENV)
        for tenant in TENANTS:
            cli.run("onboard", f"tenant={tenant}", env_overrides=ENV)
        yield Fleet(cli=cli, standin=standin)


def new_runs(remote: Fleet, before: int) -> list[tuple[str, bool, str]]:
    """(workspace, plan-only, status) of the runs started since `before` runs existed."""
    return [(remote.workspace_of(r), r["plan-only"], r["status"]) for r in remote.runs()[before:]]


def test_fleet_plan_after_onboarding_starts_no_run(remote: Fleet) -> None:
    before = len(remote.runs())
    requests = len(remote.standin.requests)
    proc = remote.run("fleet.plan")
    assert new_runs(remote, before) == []
    assert len(remote.standin.requests) == requests  # not even an API call: detection is local
    assert "6 workspaces selected, 0 to run" in proc.stdout
    assert "planned 0, changed 0, unchanged 6, failed 0 of 6 workspaces" in proc.stdout
    assert "Up to date" in proc.stdout


def test_fleet_plan_plans_only_the_changed_tenant(remote: Fleet) -> None:
    applied = remote.record("tenant-globex-infra")
    remote.rename("globex", "Globex International")
    before = len(remote.runs())
    proc = remote.run("fleet.plan")
    assert new_runs(remote, before) == [("tenant-globex-infra", True, "planned_and_finished")]
    run = remote.runs()[-1]
    assert not remote.standin.requests_to("POST", rf"/runs/{run['id']}/actions/apply$")
    url = run_url("tenant-globex-infra", run["id"])
    assert "tenant-globex-infra: changes (+0 ~1 -0)" in proc.stdout and url in proc.stdout
    assert "planned 1, changed 1, unchanged 5, failed 0 of 6 workspaces" in proc.stdout
    assert remote.record("tenant-globex-infra") == applied  # a plan records nothing
    (result,) = [r for r in remote.last_run()["results"] if r["workspace"] == "tenant-globex-infra"]
    assert (result["outcome"], result["reason"], result["log"]) == ("changes", "root or inputs changed", url)


def test_fleet_apply_applies_it_and_the_next_plan_is_up_to_date(remote: Fleet) -> None:
    before = len(remote.runs())
    proc = remote.run("fleet.apply")
    assert new_runs(remote, before) == [("tenant-globex-infra", False, "applied")]
    url = run_url("tenant-globex-infra", remote.runs()[-1]["id"])
    assert "tenant-globex-infra: applied (+0 ~1 -0)" in proc.stdout and url in proc.stdout
    record = remote.record("tenant-globex-infra")
    assert (record["status"], record["log"]) == ("applied", url) and record["resources"] > 0
    assert remote.standin.workspace_by_name(ORG, "tenant-globex-infra")["applied_sha"] == remote.runs()[-1]["sha"]
    before = len(remote.runs())
    again = remote.run("fleet.plan")
    assert new_runs(remote, before) == [] and "Up to date" in again.stdout


def test_an_errored_run_fails_only_its_tenant(remote: Fleet) -> None:
    for tenant in ("acme", "initech"):
        remote.rename(tenant, f"{tenant.title()} Renamed")
    message = "creating DynamoDB Table (Order-initech): AccessDeniedException: not authorized"
    remote.standin.script_next_run("tenant-initech-infra", changes=(0, 1, 0), apply_error=message)
    before = len(remote.runs())
    proc = remote.run("fleet.apply", "parallel=2", check=False)
    assert proc.returncode == 1
    assert sorted(new_runs(remote, before)) == [("tenant-acme-infra", False, "applied"),
                                                ("tenant-initech-infra", False, "errored")]
    (failed,) = [r for r in remote.runs()[before:] if r["status"] == "errored"]
    url = run_url("tenant-initech-infra", failed["id"])
    assert "tenant-acme-infra: applied (+0 ~1 -0)" in proc.stdout
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("tenant-initech-infra: failed")]
    assert line.startswith("tenant-initech-infra: failed (run: tenant-initech-infra: run errored: ")
    assert message in line and url in line
    outcomes = {r["workspace"]: r["outcome"] for r in remote.last_run()["results"]}
    assert outcomes == {"tenant-acme-infra": "applied", "tenant-initech-infra": "failed",
                        **{f"tenant-{t}-apps": "up to date" for t in TENANTS}, "tenant-globex-infra": "up to date"}
    assert "failed 1 of 6 workspaces" in proc.stdout and "--retry-failed" in proc.stdout
    record = remote.record("tenant-initech-infra")
    assert (record["status"], record["log"]) == ("failed", url) and message in record["message"]
    assert remote.record("tenant-acme-infra")["status"] == "applied"

    before = len(remote.runs())
    retry = remote.run("fleet.apply", "--retry-failed")
    assert new_runs(remote, before) == [("tenant-initech-infra", False, "applied")]
    assert "failed 0" in retry.stdout and remote.record("tenant-initech-infra")["status"] == "applied"


def test_a_plan_error_fails_fleet_plan_for_that_workspace_only(remote: Fleet) -> None:
    remote.rename("acme", "Acme Again")
    remote.rename("globex", "Globex Again")
    remote.standin.script_next_run("tenant-acme-infra", plan_error="Unsupported argument")
    before = len(remote.runs())
    proc = remote.run("fleet.plan", check=False)
    assert proc.returncode == 1
    assert sorted(new_runs(remote, before)) == [("tenant-acme-infra", True, "errored"),
                                                ("tenant-globex-infra", True, "planned_and_finished")]
    assert "Unsupported argument" in proc.stdout and "tenant-globex-infra: changes" in proc.stdout
    assert remote.record("tenant-acme-infra")["status"] == "applied"  # plans record nothing, failed or not
    remote.run("fleet.apply")  # leave everything up to date


def test_fleet_drift_is_refused_on_tfc_with_the_reason(remote: Fleet) -> None:
    before = len(remote.runs())
    proc = remote.run("fleet.drift", check=False)
    assert proc.returncode == 1
    assert "fleet.drift is not available on the tfc target" in proc.stderr
    assert "health assessments" in proc.stderr
    assert new_runs(remote, before) == []


def test_no_token_in_any_file_under_the_project(remote: Fleet) -> None:
    files = [p for p in remote.cli.project_dir.rglob("*") if p.is_file()]
    assert any(p.name == "last-run.json" for p in files)
    assert [p for p in files if TOKEN.encode() in p.read_bytes()] == []
