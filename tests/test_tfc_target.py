"""`target=tfc` end to end: the real `invoke` CLI against the HCP Terraform API stand-in.

One project copy and one stand-in per module: the platform and the tenant module are
synthesised once (CDKTF child processes), every later command only renders roots and talks to
the stand-in. The stand-in runs no terraform (tests/tfc_standin/); what is checked is what we
send (workspaces, tags, uploads, runs, applies) and how each outcome reaches the person.
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tenantform.errors import InvalidInput
from tenantform.targets import Settings, TargetKind
from tenantform.tfc import TokenMissing
from tests.conftest import Cli, copy_project
from tests.tfc_standin import StandIn

HOST = "tfc.standin.test"
ORG = "acme-corp"
PROJECT = "production"
TOKEN = f"tfc-e2e-token-{uuid.uuid4().hex}"
ENV = {"TF_TOKEN_tfc_standin_test": TOKEN}
NO_TOKEN = {"TF_TOKEN_tfc_standin_test": "", "TFE_TOKEN": ""}
LAYERS = ("infra", "apps")


def tfc_config(address: str) -> dict:
    return {"organization": ORG, "project": PROJECT, "hostname": HOST, "address": address,
            "terraform_version": "1.11.4", "variable_sets": ["aws-credentials"],
            "poll_interval": 0.01, "run_timeout": 120}


def write_invoke_yaml(project_dir: Path, address: str) -> None:
    lines = ["tenantform:", "  target: tfc", "  tfc:"]
    for key, value in tfc_config(address).items():
        lines.append(f"    {key}: {json.dumps(value)}")
    (project_dir / "invoke.yaml").write_text("\n".join(lines) + "\n")


@dataclass
class Remote:
    cli: Cli
    standin: StandIn
    early: CompletedProcess
    """`invoke onboard tenant=acme` before the platform was deployed."""
    early_workspaces: list[str]
    early_synthesised: bool
    deploy: CompletedProcess
    onboard: CompletedProcess
    roots: dict[str, bytes]
    """Each tenant layer's synthesised root and module, as on disk right after onboarding."""
    version: str

    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> CompletedProcess:
        return self.cli.run(*args, check=check, env_overrides=ENV if env is None else env)

    @property
    def out(self) -> Path:
        return self.cli.project_dir / "cdktf.out"

    def workspace(self, name: str) -> dict:
        return self.standin.workspace_by_name(ORG, name)

    def runs_of(self, name: str) -> list[dict]:
        wid = self.workspace(name)["id"]
        return [r for r in self.standin.runs.values() if r["workspace"] == wid]

    def record(self, workspace: str) -> dict:
        return json.loads((self.cli.project_dir / ".tenantform" / "records" / f"{workspace}.json").read_text())


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with StandIn(organization=ORG, token=TOKEN) as standin:
        cli = Cli(copy_project(tmp_path_factory.mktemp("tfc-project")))
        write_invoke_yaml(cli.project_dir, standin.address)
        early = cli.run("onboard", "tenant=acme", check=False, env_overrides=ENV)
        early_workspaces = sorted(w["name"] for w in standin.workspaces.values())
        early_synthesised = (cli.project_dir / "cdktf.out").exists()
        deploy = cli.run("platform.deploy", env_overrides=ENV)
        onboard = cli.run("onboard", "tenant=acme", env_overrides=ENV)
        out = cli.project_dir / "cdktf.out"
        (version,) = [p.name for p in (out / "modules").iterdir()]
        roots = {}
        for layer in LAYERS:
            for path in (out / "workspaces" / f"tenant-acme-{layer}" / "main.tf.json",
                         out / "modules" / version / layer / "cdk.tf.json"):
                roots[path.relative_to(out).as_posix()] = path.read_bytes()
        yield Remote(cli=cli, standin=standin, early=early, early_workspaces=early_workspaces,
                     early_synthesised=early_synthesised, deploy=deploy, onboard=onboard,
                     roots=roots, version=version)


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def run_url(workspace: str, run_id: str) -> str:
    return f"https://{HOST}/app/{ORG}/workspaces/{workspace}/runs/{run_id}"


# ---- the target in-process ----------------------------------------------------------------

def test_target_renders_cloud_block_and_remote_backend(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from tenantform.project import Project

    monkeypatch.delenv("TF_TOKEN_tfc_standin_test", raising=False)
    monkeypatch.delenv("TFE_TOKEN", raising=False)
    settings = Settings(project_dir=copy_project(tmp_path / "p"), target=TargetKind.TFC,
                        tfc=tfc_config("http://127.0.0.1:9"))
    target = Project(settings).target
    block = target.terraform_block(state_key="tenants/acme/infra.tfstate", workspace="tenant-acme-infra",
                                   providers=("aws",))
    assert "backend" not in block
    assert block["cloud"] == {"organization": ORG, "hostname": HOST,
                              "workspaces": {"name": "tenant-acme-infra", "project": PROJECT}}
    assert target.remote_state(state_key="platform/aws.tfstate", workspace="platform") == {
        "backend": "remote",
        "config": {"hostname": HOST, "organization": ORG, "workspaces": {"name": "platform"}}}
    with pytest.raises(TokenMissing, match="TF_TOKEN_tfc_standin_test"):
        target.prepare()
    bad = Settings(project_dir=settings.project_dir, target=TargetKind.TFC, tfc={"organization": ORG})
    with pytest.raises(InvalidInput, match=r"invoke.yaml \(tenantform.tfc\): field 'tfc.project' is missing"):
        Project(bad)


def test_kubernetes_layers_ignore_a_local_kubeconfig_and_can_be_switched_off(tmp_path: Path) -> None:
    from tenantform import workflows
    from tenantform.project import Project
    from tenantform.tenant import Tenant

    settings = Settings(project_dir=copy_project(tmp_path / "p"), target=TargetKind.TFC,
                        kubeconfig="~/.kube/config",
                        tfc={**tfc_config("http://127.0.0.1:9"), "enable_kubernetes_runs": False})
    project = Project(settings)
    tenant = Tenant.create(id="acme", company_name="Acme", admin_email="a@acme.example.com",
                           tier="basic", source="test")
    (provider,) = project.render_root(tenant, "apps", "1.0.0-test")["provider"]["kubernetes"]
    assert "config_path" not in provider and provider["exec"][0]["command"] == "aws"
    outcome = workflows.apply_layer(project, tenant, "apps", "1.0.0-test")  # no API call
    assert outcome.status == "synthesised"
    assert (project.workspace_dir("tenant-acme-apps") / "main.tf.json").is_file()
    assert project.records.get("tenant-acme-apps").status == "synthesised"


# ---- the CLI against the stand-in ---------------------------------------------------------

def test_onboard_requires_the_platform_first(remote: Remote) -> None:
    assert remote.early.returncode == 1
    assert "invoke platform.deploy target=tfc" in remote.early.stderr
    assert remote.early_workspaces == []
    assert remote.early_synthesised is False  # refused before any synthesis


def test_missing_token_fails_before_anything_is_written(remote: Remote) -> None:
    proc = remote.run("onboard", "tenant=initech", check=False, env=NO_TOKEN)
    assert proc.returncode == 1
    assert "TF_TOKEN_tfc_standin_test" in proc.stderr and "TFE_TOKEN" in proc.stderr
    assert not (remote.cli.project_dir / "tenants" / "initech.toml").exists()
    with pytest.raises(KeyError):
        remote.workspace("tenant-initech-infra")


def test_platform_deploy_runs_platform_and_platform_k8s_remotely(remote: Remote) -> None:
    production = remote.standin.project_by_name(ORG, PROJECT)["id"]
    platform, k8s = remote.workspace("platform"), remote.workspace("platform-k8s")
    for ws, layer in ((platform, "platform"), (k8s, "platform-k8s")):
        assert ws["project"] == production
        assert ws["tags"] == {"managed-by": "tenantform", "layer": layer}
        assert ws["attrs"]["working-directory"] == f"workspaces/{layer}"
        (run,) = remote.runs_of(layer)
        assert (run["status"], run["plan-only"], run["is-destroy"]) == ("applied", False, False)
        assert run_url(layer, run["id"]) in remote.deploy.stdout + remote.deploy.stderr
    assert k8s["id"] in platform["consumers"]  # platform-k8s reads the platform's outputs
    uploaded = {}
    for layer in ("platform", "platform-k8s"):
        (run,) = remote.runs_of(layer)
        files = members(remote.standin.uploads[run["cv"]])
        # the platform's configuration version carries the authorizer zip its cdk.tf.json references
        extra = [f"workspaces/{layer}/authorizer.zip"] if layer == "platform" else []
        assert sorted(files) == extra + [f"workspaces/{layer}/cdk.tf.json"]
        uploaded[layer] = json.loads(files[f"workspaces/{layer}/cdk.tf.json"])
        assert "backend" not in uploaded[layer]["terraform"]  # terraform refuses backend beside cloud
        assert uploaded[layer]["terraform"]["cloud"] == {
            "organization": ORG, "hostname": HOST, "workspaces": {"name": layer, "project": PROJECT}}
    (reader,) = uploaded["platform-k8s"]["data"]["terraform_remote_state"].values()
    assert reader["backend"] == "remote"
    assert reader["config"]["workspaces"] == {"name": "platform"}


def test_onboard_creates_both_tenant_workspaces_with_names_and_tags(remote: Remote) -> None:
    production = remote.standin.project_by_name(ORG, PROJECT)["id"]
    varset = next(v for v in remote.standin.varsets.values() if v["name"] == "aws-credentials")
    infra, apps = (remote.workspace(f"tenant-acme-{layer}") for layer in LAYERS)
    for ws, layer in ((infra, "infra"), (apps, "apps")):
        assert ws["project"] == production
        assert ws["tags"] == {"managed-by": "tenantform", "layer": layer, "tenant": "acme",
                              "tier": "basic", "module-version": remote.version}
        assert ws["attrs"]["execution-mode"] == "remote"
        assert ws["attrs"]["terraform-version"] == "1.11.4"
        assert ws["attrs"]["auto-apply"] is False
        assert ws["attrs"]["working-directory"] == f"workspaces/tenant-acme-{layer}"
        assert ws["id"] in varset["workspaces"]
    platform = remote.workspace("platform")
    assert infra["id"] in platform["consumers"] and apps["id"] in platform["consumers"]
    assert infra["consumers"] == [apps["id"]]  # apps reads the infra layer's outputs


def test_onboard_uploads_exactly_the_tenant_root_and_its_module(remote: Remote) -> None:
    for layer in LAYERS:
        workspace = f"tenant-acme-{layer}"
        first = remote.runs_of(workspace)[0]
        uploaded = members(remote.standin.uploads[first["cv"]])
        root, module = f"workspaces/{workspace}/main.tf.json", f"modules/{remote.version}/{layer}/cdk.tf.json"
        assert sorted(uploaded) == sorted([root, module])
        assert uploaded[root] == remote.roots[root] and uploaded[module] == remote.roots[module]
        doc = json.loads(uploaded[root])
        assert "backend" not in doc["terraform"]
        assert doc["terraform"]["cloud"] == {"organization": ORG, "hostname": HOST,
                                             "workspaces": {"name": workspace, "project": PROJECT}}
        assert doc["module"]["tenant"]["source"] == f"../../modules/{remote.version}/{layer}"
        assert doc["data"]["terraform_remote_state"]["platform"] == {
            "backend": "remote",
            "config": {"hostname": HOST, "organization": ORG, "workspaces": {"name": "platform"}}}
    apps_root = json.loads(remote.roots["workspaces/tenant-acme-apps/main.tf.json"])
    assert apps_root["data"]["terraform_remote_state"]["infra"]["config"]["workspaces"] == {
        "name": "tenant-acme-infra"}


def test_onboard_applies_each_layer_and_reports_the_run_url(remote: Remote) -> None:
    for layer in LAYERS:
        workspace = f"tenant-acme-{layer}"
        first = remote.runs_of(workspace)[0]
        assert (first["status"], first["plan-only"], first["is-destroy"]) == ("applied", False, False)
        assert remote.standin.requests_to("POST", rf"/runs/{first['id']}/actions/apply$")
        url = run_url(workspace, first["id"])
        assert f"{workspace}: run {url}" in remote.onboard.stdout  # the report's note line
        record = remote.record(workspace)
        assert (record["status"], record["module_version"], record["log"]) == ("applied", remote.version, url)
        assert record["fingerprint"] and record["resources"] > 0
    listing = remote.run("tenants").stdout
    assert "acme" in listing and listing.count("applied") == 2


def test_rerun_without_changes_applies_nothing(remote: Remote) -> None:
    before = {layer: len(remote.runs_of(f"tenant-acme-{layer}")) for layer in LAYERS}
    applies = len(remote.standin.requests_to("POST", r"/actions/apply$"))
    proc = remote.run("onboard", "tenant=acme")
    assert "No changes: tenant is up to date." in proc.stdout
    for layer in LAYERS:
        runs = remote.runs_of(f"tenant-acme-{layer}")
        assert len(runs) == before[layer] + 1
        assert runs[-1]["status"] == "planned_and_finished"
    assert len(remote.standin.requests_to("POST", r"/actions/apply$")) == applies


def test_errored_run_fails_the_command_with_the_run_error(remote: Remote) -> None:
    apps_runs = len(remote.runs_of("tenant-acme-apps"))
    message = "creating DynamoDB Table (Order-acme): AccessDeniedException: not authorized"
    remote.standin.script_next_run("tenant-acme-infra", changes=(0, 1, 0), apply_error=message)
    proc = remote.run("onboard", "tenant=acme", check=False)
    assert proc.returncode == 1
    run = remote.runs_of("tenant-acme-infra")[-1]
    assert run["status"] == "errored"
    assert message in proc.stderr and run_url("tenant-acme-infra", run["id"]) in proc.stderr
    assert len(remote.runs_of("tenant-acme-apps")) == apps_runs  # stopped at the failed layer
    assert remote.record("tenant-acme-infra")["status"] == "failed"
    remote.run("onboard", "tenant=acme")  # and the next run resumes
    assert remote.record("tenant-acme-infra")["status"] == "applied"


def test_unattended_onboard_never_applies_a_destroying_plan(remote: Remote) -> None:
    remote.standin.script_next_run("tenant-acme-infra", changes=(1, 0, 1))
    proc = remote.run("onboard", "tenant=acme", check=False)
    assert proc.returncode == 1
    assert "destroys 1 resources" in proc.stderr and "invoke update tenant=acme" in proc.stderr
    assert remote.runs_of("tenant-acme-infra")[-1]["status"] == "discarded"


def test_update_plans_asks_and_applies_only_the_confirmed_plan(remote: Remote) -> None:
    refused = remote.run("update", "tenant=acme", "tier=premium", check=False)  # no terminal, no --yes
    assert refused.returncode == 1 and "not confirmed" in refused.stderr
    speculative = remote.runs_of("tenant-acme-infra")[-1]
    assert speculative["plan-only"] is True and speculative["status"] == "planned_and_finished"
    assert remote.workspace("tenant-acme-infra")["tags"]["tier"] == "basic"  # a plan changes nothing
    assert 'tier = "basic"' in (remote.cli.project_dir / "tenants" / "acme.toml").read_text()

    # the plan applied must be the plan confirmed
    remote.standin.script_next_run("tenant-acme-infra", changes=(0, 1, 0))
    remote.standin.script_next_run("tenant-acme-infra", changes=(0, 1, 1))
    changed = remote.run("update", "tenant=acme", "tier=premium", "--yes", check=False)
    assert changed.returncode == 1 and "changed since you confirmed it" in changed.stderr
    assert remote.runs_of("tenant-acme-infra")[-1]["status"] == "discarded"

    proc = remote.run("update", "tenant=acme", "tier=premium", "--yes")
    assert "tenant-acme-infra: +0 ~1 -0" in proc.stdout  # the plan shown before applying
    for layer in LAYERS:
        plan, apply = remote.runs_of(f"tenant-acme-{layer}")[-2:]
        assert (plan["plan-only"], apply["plan-only"], apply["status"]) == (True, False, "applied")
        assert remote.workspace(f"tenant-acme-{layer}")["tags"]["tier"] == "premium"


# The offboarding's data steps (final backup, pooled rows, verification) are AWS calls from this
# machine. Without credentials: refused. With them: here a moto server stands in for the account
# (the stand-in creates no AWS resources, so there is nothing to back up or delete in it).
NO_AWS = {**ENV, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
          "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
          "AWS_EC2_METADATA_DISABLED": "true"}


def test_offboard_destroys_then_deletes_the_workspaces(remote: Remote, tmp_path: Path) -> None:
    from tenantform.local import LocalAws

    remote.run("onboard", "tenant=globex", "tier=premium")  # premium: deletion protection on
    infra_id = remote.workspace("tenant-globex-infra")["id"]
    apps_id = remote.workspace("tenant-globex-apps")["id"]
    no_credentials = remote.run("offboard", "tenant=globex", "--yes", check=False, env=NO_AWS)
    assert no_credentials.returncode == 1
    assert "found no usable AWS credentials" in no_credentials.stderr, no_credentials.stderr
    assert "Nothing was removed" in no_credentials.stderr
    assert "Traceback" not in no_credentials.stderr

    emulator = LocalAws(tmp_path)
    server, _ = emulator.ensure()
    aws = {**NO_AWS, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL": server.endpoint}
    try:
        refused = remote.run("offboard", "tenant=globex", check=False, env=aws)
        assert refused.returncode == 1 and "not confirmed" in refused.stderr
        assert "module.tenant.aws_dynamodb_table." in refused.stdout  # what would be destroyed
        assert "0 products in the pooled table Product" in refused.stdout
        assert remote.workspace("tenant-globex-infra")["resource_count"] > 0

        before = len(remote.standin.runs)
        proc = remote.run("offboard", "tenant=globex", "--yes", env=aws)
    finally:
        emulator.stop()
    runs = list(remote.standin.runs.values())[before:]
    assert [(r["workspace"], r["is-destroy"], r["status"]) for r in runs] == [
        (apps_id, True, "applied"),
        (infra_id, False, "applied"),  # deletion protection off first
        (infra_id, True, "applied")]
    for layer in LAYERS:
        with pytest.raises(KeyError):
            remote.workspace(f"tenant-globex-{layer}")
        assert f"https://{HOST}/app/{ORG}/workspaces/tenant-globex-{layer}" in proc.stdout
        assert not (remote.out / "workspaces" / f"tenant-globex-{layer}").exists()
        assert not (remote.cli.project_dir / ".tenantform" / "records" / f"tenant-globex-{layer}.json").exists()
    assert len(remote.standin.requests_to("POST", r"/actions/safe-delete$")) == 2
    assert not (remote.cli.project_dir / "tenants" / "globex.toml").exists()


def test_onboard_through_statuses_the_sdk_cannot_parse_ends_applied(remote: Remote) -> None:
    """Runs pass through plan_queueable, an unknown status, post_apply_running/completed; the API
    answers a run creation with 502 after creating it, and rate-limits a read: one run per layer,
    applied, no traceback."""
    standin = remote.standin
    standin.hcp_statuses = True
    standin.script_next_run("tenant-initech-infra", unknown_status="queuing_for_a_new_reason")
    standin.fail_next("POST", r"^/api/v2/runs$", 502, after_processing=True)
    standin.fail_next("GET", r"^/api/v2/runs/run-", 429, retry_after=0.05)
    try:
        proc = remote.run("onboard", "tenant=initech", check=False)
    finally:
        standin.hcp_statuses = False
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    for layer in LAYERS:
        workspace = f"tenant-initech-{layer}"
        (run,) = remote.runs_of(workspace)  # the 502 left exactly one run
        assert standin.applies[run["apply"]]["status"] == "finished"  # done at post_apply_completed
        assert {"plan-queueable-at", "post-apply-running-at", "post-apply-completed-at"} <= set(run["timestamps"])
        assert remote.record(workspace)["status"] == "applied"
    assert "queuing-for-a-new-reason-at" in remote.runs_of("tenant-initech-infra")[0]["timestamps"]


def test_an_api_error_fails_the_tenant_with_one_line_and_a_failed_record(remote: Remote) -> None:
    remote.standin.fail_next("POST", r"/configuration-versions$", 500)
    proc = remote.run("onboard", "tenant=initech", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "tenant-initech-infra: ServerError: " in proc.stderr
    assert remote.record("tenant-initech-infra")["status"] == "failed"
    assert remote.record("tenant-initech-infra")["message"].startswith("tenant-initech-infra: ServerError")


def test_doctor_prints_each_check_and_fails_without_a_token(remote: Remote) -> None:
    good = remote.run("tfc.doctor")
    for name in ("token", "account", "organization", "project", "permissions", "variable-sets"):
        assert f"ok   {name}:" in good.stdout
    assert "$TF_TOKEN_tfc_standin_test" in good.stdout and TOKEN not in good.stdout
    bad = remote.run("tfc.doctor", check=False, env=NO_TOKEN)
    assert bad.returncode == 1
    assert "FAIL token: no API token: set TF_TOKEN_tfc_standin_test or TFE_TOKEN" in bad.stdout
    assert "skip account" in bad.stdout and "1 check(s) failed: token" in bad.stderr


def test_no_token_in_any_file_under_the_project(remote: Remote) -> None:
    """Last: after every command above, the token is in no file and in no upload."""
    files = [p for p in remote.cli.project_dir.rglob("*") if p.is_file()]
    assert len(files) > 20  # the project, the synthesised roots and modules, the records
    assert any(".tenantform" in p.parts for p in files)
    leaks = [p for p in files if TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    assert remote.standin.uploads
    assert all(TOKEN.encode() not in data for data in remote.standin.uploads.values())
