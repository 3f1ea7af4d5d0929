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
import shutil
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
    # detection reads the records off the workspace listing: reads only, no request per tenant
    # and the platform's outputs with one more (platform-aware detection)
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in remote.standin.requests[requests:]] \
        == [("GET", "projects"), ("GET", "workspaces"), ("GET", "current-state-version-outputs")]
    assert "6 workspaces selected, 0 to run" in proc.stdout
    assert "planned 0, changed 0, unchanged 6, failed 0 of 6 workspaces" in proc.stdout
    assert "Up to date" in proc.stdout


def test_a_platform_output_change_plans_exactly_the_roots_that_read_it(remote: Fleet) -> None:
    """The fixture's tenants are all basic: their infra roots read usage_plan_ids["basic"], no
    root reads another tier's plan or the VPC id (tenantform/platform_inputs.py)."""
    outputs = remote.standin.workspace_by_name(ORG, "platform")["outputs"]
    plans, vpc = outputs["usage_plan_ids"]["value"], outputs["vpc_id"]["value"]
    assert isinstance(plans, dict) and set(plans) >= {"basic", "standard"}
    for tenant in TENANTS:
        assert re.search(r":[0-9a-f]{16}:", _record_tags(remote)[f"tenant-{tenant}-infra"][0])
    remote.standin.set_output(ORG, "platform", "usage_plan_ids", {**plans, "standard": "replacedplan"})
    remote.standin.set_output(ORG, "platform", "vpc_id", "vpc-replaced")
    before = len(remote.runs())
    proc = remote.run("fleet.plan")
    assert new_runs(remote, before) == [] and "0 to run" in proc.stdout  # nobody reads those

    remote.standin.set_output(ORG, "platform", "usage_plan_ids", {**plans, "basic": "replacedplan"})
    remote.run("fleet.plan")  # the stand-in's plans follow the configuration only: "no changes"
    assert sorted(new_runs(remote, before)) == [(f"tenant-{t}-infra", True, "planned_and_finished")
                                                for t in sorted(TENANTS)]
    reasons = {r["workspace"]: r["reason"] for r in remote.last_run()["results"]}
    assert reasons == {**{f"tenant-{t}-infra": "platform outputs it reads changed" for t in TENANTS},
                       **{f"tenant-{t}-apps": "" for t in TENANTS}}

    # a plan without changes re-records the tenant as applied against the platform it read
    before = len(remote.runs())
    assert "0 to run" in remote.run("fleet.plan").stdout and new_runs(remote, before) == []

    remote.standin.set_output(ORG, "platform", "usage_plan_ids", plans)  # back as it was
    remote.standin.set_output(ORG, "platform", "vpc_id", vpc)
    remote.run("fleet.plan")
    assert len(new_runs(remote, before)) == 3
    before = len(remote.runs())
    assert "0 to run" in remote.run("fleet.plan").stdout and new_runs(remote, before) == []

    # a sensitive output comes back null: the outputs count as unknown, detection falls back to
    # root and module version (docs/tfc.md, "Change records"), never a digest of nulls
    outputs["usage_plan_ids"]["sensitive"] = True
    remote.standin.set_output(ORG, "platform", "usage_plan_ids", {**plans, "basic": "replacedplan"})
    assert "0 to run" in remote.run("fleet.plan").stdout and new_runs(remote, before) == []
    outputs["usage_plan_ids"]["sensitive"] = False
    remote.standin.set_output(ORG, "platform", "usage_plan_ids", plans)


def test_fleet_plan_plans_only_the_changed_tenant(remote: Fleet) -> None:
    applied = remote.record("tenant-globex-infra")
    remote.rename("globex", "Globex International")
    before = len(remote.runs())
    report_file = remote.cli.project_dir / "ci" / "plan.json"
    proc = remote.run("fleet.plan", f"report-file={report_file}", check=False)
    assert proc.returncode == 2  # terraform's -detailed-exitcode: changes
    assert new_runs(remote, before) == [("tenant-globex-infra", True, "planned_and_finished")]
    run = remote.runs()[-1]
    assert not remote.standin.requests_to("POST", rf"/runs/{run['id']}/actions/apply$")
    url = run_url("tenant-globex-infra", run["id"])
    assert "tenant-globex-infra: changes (+0 ~1 -0)" in proc.stdout and url in proc.stdout
    assert "planned 1, changed 1, unchanged 5, failed 0 of 6 workspaces" in proc.stdout
    assert remote.record("tenant-globex-infra") == applied  # a plan records nothing
    (result,) = [r for r in remote.last_run()["results"] if r["workspace"] == "tenant-globex-infra"]
    assert (result["outcome"], result["reason"], result["log"]) == ("changes", "root or inputs changed", url)
    report = json.loads(report_file.read_text())
    assert (report["schema"], report["schema_version"], report["exit_code"]) == ("tenantform.fleet-report", 1, 2)
    (entry,) = [w for w in report["workspaces"] if w["workspace"] == "tenant-globex-infra"]
    assert (entry["outcome"], entry["counts"], entry["log"]) == (
        "changes", {"add": 0, "change": 1, "destroy": 0, "replace": 0}, url)


def test_fleet_apply_shows_the_plans_and_asks_without_yes(remote: Fleet) -> None:
    before = len(remote.runs())
    proc = remote.run("fleet.apply", check=False)  # no terminal to ask on, no --yes
    assert proc.returncode == 1 and "not confirmed: nothing applied" in proc.stderr
    assert "tenant-globex-infra: changes (+0 ~1 -0)" in proc.stdout and "Apply the plans of 1 workspace(s)" in proc.stdout
    assert new_runs(remote, before) == [("tenant-globex-infra", True, "planned_and_finished")]  # a speculative plan


def test_fleet_apply_applies_it_and_the_next_plan_is_up_to_date(remote: Fleet) -> None:
    before = len(remote.runs())
    proc = remote.run("fleet.apply", "--yes")
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
    proc = remote.run("fleet.apply", "parallel=2", "--yes", check=False)
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
    retry = remote.run("fleet.apply", "--retry-failed", "--yes")
    assert new_runs(remote, before) == [("tenant-initech-infra", False, "applied")]
    assert "failed 0" in retry.stdout and remote.record("tenant-initech-infra")["status"] == "applied"


def test_a_plan_error_fails_fleet_plan_for_that_workspace_only(remote: Fleet) -> None:
    remote.rename("acme", "Acme Again")
    remote.rename("globex", "Globex Again")
    remote.standin.script_next_run("tenant-acme-infra", plan_error="Unsupported argument")
    before = len(remote.runs())
    proc = remote.run("fleet.plan", check=False)
    assert proc.returncode == 1  # errors win over changes
    assert sorted(new_runs(remote, before)) == [("tenant-acme-infra", True, "errored"),
                                                ("tenant-globex-infra", True, "planned_and_finished")]
    assert "Unsupported argument" in proc.stdout and "tenant-globex-infra: changes" in proc.stdout
    assert remote.record("tenant-acme-infra")["status"] == "applied"  # plans record nothing, failed or not
    remote.run("fleet.apply", "--yes")  # leave everything up to date


def test_fleet_drift_runs_refresh_only_runs_and_never_applies(remote: Fleet) -> None:
    address = "module.tenant.aws_dynamodb_table.orders"
    remote.standin.script_next_run("tenant-initech-infra", drift=(address,))
    before = len(remote.runs())
    applies = len(remote.standin.requests_to("POST", r"/actions/apply$"))
    report_file = remote.cli.project_dir / "ci" / "drift.json"
    proc = remote.run("fleet.drift", "layer=infra", f"report-file={report_file}", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    runs = remote.runs()[before:]
    assert len(runs) == 3 and all(r["refresh-only"] and not r["plan-only"] for r in runs)
    assert len(remote.standin.requests_to("POST", r"/actions/apply$")) == applies
    assert f"tenant-initech-infra: drifted (drifted: {address})" in proc.stdout
    assert "fleet.apply tenants=initech --force" in proc.stdout
    report = json.loads(report_file.read_text())
    outcomes = {w["workspace"]: (w["outcome"], w["drifted"]) for w in report["workspaces"]}
    assert outcomes == {"tenant-acme-infra": ("in sync", []), "tenant-globex-infra": ("in sync", []),
                        "tenant-initech-infra": ("drifted", [address])}


def test_fleet_apply_refuses_a_stateful_replacement_unless_allowed(remote: Fleet) -> None:
    remote.rename("acme", "Acme Replaced")
    pool = "module.tenant.aws_cognito_user_pool.pool"
    remote.standin.script_next_run("tenant-acme-infra", changes=(1, 0, 1), replace=(pool,))
    summary = remote.cli.project_dir / "ci" / "summary.md"
    before = len(remote.runs())
    proc = remote.run("fleet.apply", f"summary-file={summary}", "--yes", check=False)
    assert proc.returncode == 1
    assert new_runs(remote, before) == [("tenant-acme-infra", False, "discarded")]
    assert "refused" in proc.stdout and "--allow-replace=aws_cognito_user_pool" in proc.stdout
    assert remote.record("tenant-acme-infra")["status"] != "applied"
    text = summary.read_text()
    assert "stateful" in text and f"`replace {pool}`" in text and "| `tenant-acme-infra` | refused |" in text

    remote.standin.script_next_run("tenant-acme-infra", changes=(1, 0, 1), replace=(pool,))
    allowed = remote.run("fleet.apply", "--allow-replace=aws_cognito_user_pool", "--yes")
    assert "tenant-acme-infra: applied (+1 ~0 -1)" in allowed.stdout
    assert remote.record("tenant-acme-infra")["status"] == "applied"


def test_fleet_rollout_moves_tenants_in_waves_through_remote_runs(remote: Fleet) -> None:
    status = json.loads(remote.run("fleet.status", "--json").stdout)
    (old,) = {row["version"] for row in status["tenants"]}
    release = remote.cli.project_dir / "modules" / "__init__.py"
    release.write_text(release.read_text().replace('__version__ = "', '__version__ = "9.', 1))
    before = len(remote.runs())
    remote.run("fleet.rollout", "canary=1", "wave=2")  # synthesises the new version, runs the canary
    canary = new_runs(remote, before)
    # the first wave is previewed with plan-only runs (tenantform/rollout_preview.py: nothing is
    # replaced or deleted here, so the rollout goes on), then applied
    assert canary == [("tenant-acme-infra", True, "planned_and_finished"),
                      ("tenant-acme-apps", True, "planned_and_finished"),
                      ("tenant-acme-infra", False, "applied"), ("tenant-acme-apps", False, "applied")]
    rows = {r["tenant"]: r["version"] for r in json.loads(remote.run("fleet.status", "--json").stdout)["tenants"]}
    new = rows["acme"]
    assert new.startswith("9.") and rows == {"acme": new, "globex": old, "initech": old}
    uploaded = remote.standin.uploads[remote.runs()[before]["cv"]]
    assert [n for n in _members(uploaded) if n.startswith("modules/")] == [f"modules/{new}/infra/cdk.tf.json"]
    before = len(remote.runs())
    proc = remote.run("fleet.rollout")
    assert "complete" in proc.stdout
    assert {w for w, _, _ in new_runs(remote, before)} == {
        f"tenant-{t}-{layer}" for t in ("globex", "initech") for layer in ("infra", "apps")}
    rows = {r["tenant"]: r["version"] for r in json.loads(remote.run("fleet.status", "--json").stdout)["tenants"]}
    assert set(rows.values()) == {new}
    assert remote.standin.workspace_by_name(ORG, "tenant-globex-infra")["tags"]["module-version"] == new


def _members(data: bytes) -> list[str]:
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getnames()


def test_no_token_in_any_file_under_the_project(remote: Fleet) -> None:
    files = [p for p in remote.cli.project_dir.rglob("*") if p.is_file()]
    assert any(p.name == "last-run.json" for p in files)
    assert [p for p in files if TOKEN.encode() in p.read_bytes()] == []


def _record_tags(remote: Fleet) -> dict[str, list[str]]:
    return {w["name"]: sorted(t for t in w.get("flat_tags", ()) if t.startswith("tenantform-record:"))
            for w in remote.standin.workspaces.values() if w["name"].startswith("tenant-")}


def test_records_live_on_the_workspaces_so_a_lost_cache_plans_nothing(remote: Fleet) -> None:
    tags = _record_tags(remote)
    infra = [f"tenant-{t}-infra" for t in TENANTS]
    assert all(len(tags[w]) == 1 for w in infra)  # one record tag each, the stale ones removed
    fingerprint = remote.record("tenant-acme-infra")["fingerprint"]
    assert f":{fingerprint}:" in tags["tenant-acme-infra"][0]
    shutil.rmtree(remote.cli.project_dir / ".tenantform" / "records")
    before = len(remote.runs())
    proc = remote.run("fleet.plan")
    assert new_runs(remote, before) == []
    assert "0 to run" in proc.stdout and "failed 0" in proc.stdout
    assert "Up to date" in proc.stdout


def test_a_record_written_by_another_operator_is_seen(remote: Fleet, tmp_path) -> None:  # noqa: ANN001
    other = Fleet(cli=Cli(tmp_path / "other"), standin=remote.standin)
    shutil.copytree(remote.cli.project_dir, other.cli.project_dir,
                    ignore=shutil.ignore_patterns(".tenantform"))
    before = len(remote.runs())
    proc = other.run("fleet.plan")  # a fresh clone: no local record at all
    assert new_runs(remote, before) == [] and "0 to run" in proc.stdout
    other.rename("initech", "Initech Elsewhere")
    other.run("fleet.apply", "--yes")
    assert new_runs(remote, before) == [("tenant-initech-infra", False, "applied")]
    shutil.copy2(other.cli.project_dir / "tenants" / "initech.toml", remote.cli.project_dir / "tenants")
    proc = remote.run("fleet.plan")  # the first operator's cache still holds the old fingerprint
    assert new_runs(remote, before + 1) == [] and "0 to run" in proc.stdout
    [tag] = _record_tags(remote)["tenant-initech-infra"]
    assert f":{other.record('tenant-initech-infra')['fingerprint']}:" in tag
