"""The `tfc` target against the HCP Terraform API stand-in (tests/tfc_standin/).

Every SDK call goes over HTTP to the stand-in; the tests check the requests we send, the
uploaded tarball and our handling of each run outcome. No live organization is involved.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from tenantform import tfc
from tenantform.errors import InvalidInput
from tests.tfc_standin import StandIn

HOST = "tfc.standin.test"
ORG = "acme-corp"
PROJECT = "production"
TOKEN = f"tfc-test-token-{uuid.uuid4().hex}"
ENV = {"TF_TOKEN_tfc_standin_test": TOKEN}
WS = "tenant-acme-infra"


# ---- fixtures ---------------------------------------------------------------------------

@pytest.fixture
def standin():
    with StandIn(organization=ORG, token=TOKEN) as s:
        yield s


def make_settings(standin: StandIn, **overrides) -> tfc.TfcSettings:
    values = dict(organization=ORG, project=PROJECT, hostname=HOST, address=standin.address,
                  terraform_version="1.11.4", variable_sets=("aws-credentials",),
                  poll_interval=0.001, run_timeout=30.0)
    values.update(overrides)
    return tfc.TfcSettings(**values)


@pytest.fixture
def settings(standin):
    return make_settings(standin)


@pytest.fixture
def client(settings):
    with tfc.TfcClient(settings, environ=ENV) as c:
        yield c


MODULE_DOC = {"resource": {"aws_dynamodb_table": {"orders": {"name": "Order-acme"}},
                           "aws_iam_role": {"tenant": {"name": "acme-tenant"}}},
              "module": {"identity": {"source": "../../identity/1.0.0"}}}
NESTED_DOC = {"resource": {"aws_cognito_user_pool": {"pool": {"name": "acme"}}}}


def write_root(base: Path, workspace: str = WS, *, version: str = "1.0.0") -> Path:
    root = base / "workspaces" / workspace
    root.mkdir(parents=True, exist_ok=True)
    doc = {"terraform": {"required_version": ">= 1.10.0"},
           "module": {"tenant": {"source": f"../../modules/tenant-infra/{version}",
                                 "tenant_id": "acme"}}}
    (root / "main.tf.json").write_text(json.dumps(doc, indent=2))
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A fake project: cdktf.out with one root, its module, a nested module, and debris."""
    base = tmp_path / "project" / "cdktf.out"
    module = base / "modules" / "tenant-infra" / "1.0.0"
    nested = base / "modules" / "identity" / "1.0.0"
    for d in (module, nested, base / "modules" / "tenant-infra" / "0.9.0"):
        d.mkdir(parents=True)
    (module / "cdk.tf.json").write_text(json.dumps(MODULE_DOC))
    (nested / "cdk.tf.json").write_text(json.dumps(NESTED_DOC))
    (base / "modules" / "tenant-infra" / "0.9.0" / "cdk.tf.json").write_text("{}")
    root = write_root(base)
    # debris a local run leaves behind: none of it may be uploaded
    (root / ".terraform" / "providers").mkdir(parents=True)
    (root / ".terraform" / "providers" / "terraform-provider-aws").write_bytes(b"\x7fELF")
    (root / ".terraform.lock.hcl").write_text("# lock")
    (root / "terraform.tfstate").write_text('{"version": 4}')
    (root / "terraform.tfstate.backup").write_text('{"version": 4}')
    (root / "plan.tfplan").write_bytes(b"PK")
    (root / "secrets.auto.tfvars").write_text('password = "x"')
    (root / ".terraformrc").write_text("provider_installation {}")
    (module / ".terraform").mkdir()
    (module / ".terraform" / "modules.json").write_text("{}")
    (base / "workspaces" / "tenant-other-infra").mkdir(parents=True)
    (base / "workspaces" / "tenant-other-infra" / "main.tf.json").write_text("{}")
    return base


EXPECTED_FILES = ("modules/identity/1.0.0/cdk.tf.json",
                  "modules/tenant-infra/1.0.0/cdk.tf.json",
                  f"workspaces/{WS}/main.tf.json")


def body_of(standin: StandIn, method: str, pattern: str) -> list:
    return [r.body for r in standin.requests_to(method, pattern)]


def ensure(client: tfc.TfcClient, name: str = WS, *, tier: str = "basic",
           **extra) -> tfc.WorkspaceRef:
    return client.ensure_workspace(tfc.WorkspaceSpec(
        name=name, working_directory=f"workspaces/{name}",
        tags=tfc.workspace_tags(layer="infra", tenant_id="acme", tier=tier,
                                module_version="1.0.0"), **extra))


# ---- settings and token -----------------------------------------------------------------

def test_settings_reject_agent_mode_without_pool():
    with pytest.raises(InvalidInput, match="agent_pool_id"):
        tfc.TfcSettings(organization=ORG, project=PROJECT, execution_mode="agent")
    with pytest.raises(InvalidInput, match="execution_mode"):
        tfc.TfcSettings(organization=ORG, project=PROJECT, execution_mode="local")
    with pytest.raises(InvalidInput, match="hostname"):
        tfc.TfcSettings(organization=ORG, project=PROJECT, hostname="https://app.terraform.io")


def test_settings_from_mapping_names_file_and_key():
    s = tfc.tfc_settings_from_mapping(
        {"organization": ORG, "project": PROJECT, "variable_sets": ["aws"], "plan_only": True},
        source="tenantform.toml")
    assert s.variable_sets == ("aws",) and s.plan_only is True
    assert s.hostname == "app.terraform.io"
    with pytest.raises(InvalidInput) as err:
        tfc.tfc_settings_from_mapping({"organization": ORG, "project": PROJECT, "token": "x"},
                                      source="tenantform.toml")
    assert "tenantform.toml" in str(err.value) and "tfc.token" in str(err.value)
    with pytest.raises(InvalidInput, match="tfc.project"):
        tfc.tfc_settings_from_mapping({"organization": ORG}, source="tenantform.toml")


def test_token_variables_and_precedence():
    assert tfc.token_env_vars("app.terraform.io") == ("TF_TOKEN_app_terraform_io", "TFE_TOKEN")
    assert tfc.token_env_vars("tfe.my-corp.com") == (
        "TF_TOKEN_tfe_my-corp_com", "TF_TOKEN_tfe_my__corp_com", "TFE_TOKEN")
    env = {"TFE_TOKEN": "generic", "TF_TOKEN_app_terraform_io": "host-specific"}
    assert tfc.read_token("app.terraform.io", env) == "host-specific"
    assert tfc.read_token("app.terraform.io", {"TFE_TOKEN": "generic"}) == "generic"
    assert tfc.read_token("tfe.my-corp.com", {"TF_TOKEN_tfe_my__corp_com": "t"}) == "t"


def test_missing_token_error_names_both_variables():
    with pytest.raises(tfc.TokenMissing) as err:
        tfc.read_token("app.terraform.io", {"TF_TOKEN_app_terraform_io": "  "})
    assert "TF_TOKEN_app_terraform_io" in str(err.value)
    assert "TFE_TOKEN" in str(err.value)
    with pytest.raises(tfc.TokenMissing):
        tfc.TfcClient(tfc.TfcSettings(organization=ORG, project=PROJECT), environ={})


def test_cloud_block_and_remote_state_config():
    s = tfc.TfcSettings(organization=ORG, project=PROJECT)
    assert tfc.cloud_block(s, "tenant-acme-apps") == {
        "organization": ORG, "hostname": "app.terraform.io",
        "workspaces": {"name": "tenant-acme-apps", "project": PROJECT}}
    assert tfc.remote_state_config(s, "platform") == {
        "backend": "remote",
        "config": {"hostname": "app.terraform.io", "organization": ORG,
                   "workspaces": {"name": "platform"}}}


def test_workspace_tags():
    assert tfc.workspace_tags(layer="apps", tenant_id="acme", tier="premium",
                              module_version="1.2.0") == {
        "managed-by": "tenantform", "layer": "apps", "tenant": "acme", "tier": "premium",
        "module-version": "1.2.0"}
    assert tfc.workspace_tags(layer="platform") == {"managed-by": "tenantform",
                                                    "layer": "platform"}


# ---- configuration archive --------------------------------------------------------------

def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_archive_holds_exactly_the_root_and_its_modules(tree):
    root = tree / "workspaces" / WS
    archive = tfc.build_config_archive(root, base_dir=tree)
    assert archive.files == EXPECTED_FILES
    assert archive.working_directory == f"workspaces/{WS}"
    got = members(archive.data)
    assert sorted(got) == list(EXPECTED_FILES)
    assert got[f"workspaces/{WS}/main.tf.json"] == (root / "main.tf.json").read_bytes()
    # relative module sources resolve inside the archive exactly as on disk
    source = json.loads(got[f"workspaces/{WS}/main.tf.json"])["module"]["tenant"]["source"]
    resolved = os.path.normpath(f"workspaces/{WS}/{source}/cdk.tf.json")
    assert resolved in got


def test_archive_base_defaults_to_common_ancestor(tree):
    archive = tfc.build_config_archive(tree / "workspaces" / WS)
    assert archive.files == EXPECTED_FILES
    assert archive.working_directory == f"workspaces/{WS}"


def test_archive_is_deterministic(tree):
    root = tree / "workspaces" / WS
    first = tfc.build_config_archive(root, base_dir=tree)
    os.utime(root / "main.tf.json", (1, 1))
    assert tfc.build_config_archive(root, base_dir=tree).sha256 == first.sha256
    (root / "main.tf.json").write_text((root / "main.tf.json").read_text() + " ")
    assert tfc.build_config_archive(root, base_dir=tree).sha256 != first.sha256


def test_archive_refuses_a_file_containing_the_token(tree):
    (tree / "modules" / "tenant-infra" / "1.0.0" / "notes.txt").write_text(f"token={TOKEN}")
    with pytest.raises(tfc.TfcError, match="contains the API token"):
        tfc.build_config_archive(tree / "workspaces" / WS, base_dir=tree, forbidden=[TOKEN])


def test_archive_errors_on_missing_module_and_outside_base(tree):
    root = write_root(tree, "tenant-new-infra", version="9.9.9")
    with pytest.raises(tfc.TfcError, match="is not a directory"):
        tfc.build_config_archive(root, base_dir=tree)
    with pytest.raises(tfc.TfcError, match="outside the archive base"):
        tfc.build_config_archive(tree / "workspaces" / WS, base_dir=tree / "workspaces")


# ---- workspaces -------------------------------------------------------------------------

def test_ensure_workspace_creates_with_settings_tags_project_and_variable_set(standin, client):
    ref = ensure(client)
    assert ref.created and ref.url == f"https://{HOST}/app/{ORG}/workspaces/{WS}"
    [body] = body_of(standin, "POST", f"^/api/v2/organizations/{ORG}/workspaces$")
    attrs = body["data"]["attributes"]
    assert attrs["name"] == WS
    assert attrs["execution-mode"] == "remote"
    assert attrs["terraform-version"] == "1.11.4"
    assert attrs["auto-apply"] is False
    assert attrs["working-directory"] == f"workspaces/{WS}"
    assert attrs["setting-overwrites"] == {"execution-mode": True, "agent-pool": True}
    assert "agent-pool-id" not in attrs
    rels = body["data"]["relationships"]
    assert rels["project"]["data"]["id"] == standin.project_by_name(ORG, PROJECT)["id"]
    assert {b["attributes"]["key"]: b["attributes"]["value"]
            for b in rels["tag-bindings"]["data"]} == {
        "managed-by": "tenantform", "layer": "infra", "tenant": "acme", "tier": "basic",
        "module-version": "1.0.0"}
    ws = standin.workspace_by_name(ORG, WS)
    [varset] = [v for v in standin.varsets.values() if v["name"] == "aws-credentials"]
    assert varset["workspaces"] == [ws["id"]]
    assert ref.changed == ("variable-set:aws-credentials",)


def test_ensure_workspace_is_idempotent_and_updates_only_what_changed(standin, client):
    ensure(client)
    n_requests = len(standin.requests)
    again = ensure(client)
    assert not again.created and again.changed == ()
    writes = [r for r in standin.requests[n_requests:] if r.method != "GET"]
    assert writes == []
    retiered = ensure(client, tier="premium")
    assert retiered.changed == ("tags:tier",)
    [patch] = body_of(standin, "PATCH", r"/tag-bindings$")
    assert [b["attributes"] for b in patch["data"]] == [{"key": "tier", "value": "premium"}]
    assert standin.workspace_by_name(ORG, WS)["tags"]["tier"] == "premium"


def test_ensure_workspace_corrects_drift(standin, client):
    ensure(client)
    ws = standin.workspace_by_name(ORG, WS)
    ws["attrs"].update({"terraform-version": "1.9.8", "auto-apply": True,
                        "working-directory": "elsewhere"})
    ref = ensure(client)
    assert set(ref.changed) == {"terraform-version", "auto-apply", "working-directory"}
    [patch] = body_of(standin, "PATCH", r"^/api/v2/workspaces/ws-[0-9a-f]+$")
    attrs = patch["data"]["attributes"]
    assert (attrs["terraform-version"], attrs["auto-apply"], attrs["working-directory"]) == (
        "1.11.4", False, f"workspaces/{WS}")
    assert ws["attrs"]["terraform-version"] == "1.11.4"


def test_ensure_workspace_agent_mode_sends_pool():
    with StandIn(organization=ORG, token=TOKEN, agent_pools=("apool-123",)) as s:
        settings = make_settings(s, execution_mode="agent", agent_pool_id="apool-123")
        with tfc.TfcClient(settings, environ=ENV) as c:
            ensure(c)
        [body] = body_of(s, "POST", f"^/api/v2/organizations/{ORG}/workspaces$")
        assert body["data"]["attributes"]["execution-mode"] == "agent"
        assert body["data"]["attributes"]["agent-pool-id"] == "apool-123"
        assert s.workspace_by_name(ORG, WS)["attrs"]["agent-pool-id"] == "apool-123"


def test_global_and_project_variable_sets_are_not_reattached():
    with StandIn(organization=ORG, token=TOKEN, variable_sets=(),
                 global_variable_sets=("org-wide",)) as s:
        s.add_variable_set(ORG, "prod-creds", project_names=(PROJECT,))
        settings = make_settings(s, variable_sets=("org-wide", "prod-creds"))
        with tfc.TfcClient(settings, environ=ENV) as c:
            assert ensure(c).changed == ()
        assert s.requests_to("POST", r"/relationships/workspaces$") == []


def test_missing_variable_set_fails_before_creating_anything(standin, settings):
    with tfc.TfcClient(make_settings(standin, variable_sets=("nope",)), environ=ENV) as c:
        with pytest.raises(tfc.TfcError, match="variable set\\(s\\) not found.*nope"):
            ensure(c)


def test_remote_state_access_is_granted_once(standin, client):
    client.ensure_workspace(tfc.WorkspaceSpec(name="platform",
                                              tags=tfc.workspace_tags(layer="platform")))
    ref = ensure(client, remote_state_from=("platform",))
    assert "reads-state-of:platform" in ref.changed
    platform = standin.workspace_by_name(ORG, "platform")
    assert platform["consumers"] == [ref.id]
    assert "reads-state-of:platform" not in ensure(client, remote_state_from=("platform",)).changed
    with pytest.raises(tfc.TfcError, match="'platform-k8s'.*does not exist"):
        ensure(client, remote_state_from=("platform-k8s",))


def test_list_workspaces_follows_pagination(standin, client):
    names = [f"tenant-t{i:03d}-infra" for i in range(105)]
    standin.seed_workspaces(ORG, names, project=PROJECT, tags={"layer": "infra"})
    standin.seed_workspaces(ORG, ["elsewhere"], project="Default Project")
    listed = client.list_workspaces()
    assert [w.name for w in listed] == names
    pages = [r.query["page[number]"][0] for r in
             standin.requests_to("GET", f"^/api/v2/organizations/{ORG}/workspaces$")]
    assert pages == ["1", "2"]


def test_list_workspaces_pages_of_twenty_and_tag_filter():
    with StandIn(organization=ORG, token=TOKEN, max_page_size=20) as s:
        s.seed_workspaces(ORG, [f"tenant-t{i:02d}-apps" for i in range(45)], project=PROJECT,
                          tags={"layer": "apps"})
        s.seed_workspaces(ORG, ["tenant-acme-infra"], project=PROJECT,
                          tags={"layer": "infra", "tenant": "acme"})
        with tfc.TfcClient(make_settings(s), environ=ENV) as c:
            assert len(c.list_workspaces()) == 46
            assert [w.name for w in c.list_workspaces(tags={"tenant": "acme"})] == [
                "tenant-acme-infra"]
        sizes = {r.query["page[number]"][0] for r in
                 s.requests_to("GET", f"^/api/v2/organizations/{ORG}/workspaces$")}
        assert sizes == {"1", "2", "3"}


def test_standin_pagination_meta_matches_the_documented_example(standin):
    page = standin.paginate(list(range(21)), {"page[size]": ["20"]}, "/x")
    assert page["meta"]["pagination"] == {"current-page": 1, "page-size": 20,
                                          "prev-page": None, "next-page": 2,
                                          "total-pages": 2, "total-count": 21}
    assert page["links"]["prev"] is None and "page%5Bnumber%5D=2" in page["links"]["next"]


# ---- runs -------------------------------------------------------------------------------

def test_apply_run_uploads_the_root_and_applies(standin, client, tree):
    ensure(client)
    events: list[tfc.RunProgress] = []
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree,
                     message="onboard acme", on_progress=events.append)
    assert out.ok and out.applied and out.status == "applied"
    assert (out.additions, out.changes, out.destructions) == (3, 0, 0)
    assert out.url == f"https://{HOST}/app/{ORG}/workspaces/{WS}/runs/{out.run_id}"
    assert out.error is None and out.has_changes
    [cv_body] = body_of(standin, "POST", r"/configuration-versions$")
    assert cv_body["data"]["attributes"] == {"auto-queue-runs": False, "speculative": False}
    [upload] = standin.uploads.values()
    assert sorted(members(upload)) == list(EXPECTED_FILES)
    [run_body] = body_of(standin, "POST", r"^/api/v2/runs$")
    attrs, rels = run_body["data"]["attributes"], run_body["data"]["relationships"]
    assert (attrs["message"], attrs["plan-only"], attrs["is-destroy"], attrs["auto-apply"]) == (
        "onboard acme", False, False, False)
    assert rels["workspace"]["data"]["id"] == standin.workspace_by_name(ORG, WS)["id"]
    assert rels["configuration-version"]["data"]["id"] == next(iter(standin.uploads))
    assert len(standin.requests_to("POST", r"/actions/apply$")) == 1
    assert [e.status for e in events if e.phase == "upload"][-1] == "uploaded"
    assert [e.status for e in events if e.phase == "run"] == [
        "plan_queued", "planning", "planned", "apply_queued", "applying", "applied"]
    assert all(e.url.startswith(f"https://{HOST}/") for e in events)


def test_plan_only_run_never_applies(standin, tree):
    with tfc.TfcClient(make_settings(standin, plan_only=True), environ=ENV) as c:
        ensure(c)
        out = c.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="fleet plan")
    assert out.ok and out.plan_only and out.has_changes and not out.applied
    assert out.status == "planned_and_finished" and out.additions == 3
    [cv_body] = body_of(standin, "POST", r"/configuration-versions$")
    assert cv_body["data"]["attributes"]["speculative"] is True
    [run_body] = body_of(standin, "POST", r"^/api/v2/runs$")
    assert run_body["data"]["attributes"]["plan-only"] is True
    assert standin.requests_to("POST", r"/actions/apply$") == []


def test_unchanged_configuration_gives_no_changes(standin, client, tree):
    ensure(client)
    root = tree / "workspaces" / WS
    first = client.run(WS, root_dir=root, base_dir=tree, message="one")
    second = client.run(WS, root_dir=root, base_dir=tree, message="two")
    assert first.has_changes and second.ok
    assert second.status == "planned_and_finished" and not second.has_changes
    assert second.summary.startswith(f"{WS}: planned_and_finished (no changes)")
    assert first.config_sha256 == second.config_sha256
    assert len(standin.requests_to("POST", r"/actions/apply$")) == 1


@pytest.mark.parametrize("phase", ["plan", "apply"])
def test_errored_run_reports_the_error_from_the_log(standin, client, tree, phase):
    ensure(client)
    message = "creating DynamoDB Table (Order-acme): ResourceInUseException: already exists"
    standin.script_next_run(WS, **{f"{phase}_error": message})
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
    assert out.status == "errored" and not out.ok and not out.applied
    assert out.error == f"Error: {message}"
    with pytest.raises(tfc.RemoteRunFailed) as err:
        out.raise_for_status()
    assert message in str(err.value) and out.url in str(err.value)
    assert err.value.outcome is out
    # the log is fetched from its pre-signed URL without the API token
    logs = standin.requests_to("GET", r"^/_archivist/v1/object/log-")
    assert logs and all(r.authorization is None for r in logs)


def test_discarded_run(standin, client, tree):
    ensure(client)
    standin.script_next_run(WS, discard=True)
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
    assert out.status == "discarded" and not out.ok
    assert "discarded" in out.error
    assert standin.requests_to("POST", r"/actions/apply$") == []


def test_rejected_plan_is_discarded(standin, client, tree):
    ensure(client)
    standin.script_next_run(WS, changes=(0, 1, 4))
    seen = []
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m",
                     approve=lambda p: seen.append(p) or p.destructions == 0)
    assert seen == [tfc.PlanSummary(additions=0, changes=1, destructions=4, is_destroy=False)]
    assert out.status == "discarded" and "plan rejected (+0 ~1 -4)" in out.error
    assert len(standin.requests_to("POST", r"/actions/discard$")) == 1
    assert standin.requests_to("POST", r"/actions/apply$") == []


@pytest.mark.parametrize(("policy", "status", "ok"), [("passed", "applied", True),
                                                      ("soft_failed", "policy_soft_failed", False)])
def test_policy_checks(standin, client, tree, policy, status, ok):
    ensure(client)
    standin.script_next_run(WS, policy=policy)
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
    assert (out.status, out.ok) == (status, ok)
    if not ok:  # not overridden without the flag: discarded so it does not block the queue
        assert "--override-policy" in out.error and "discarded" in out.error
        assert standin.requests_to("POST", r"/actions/apply$") == []
        assert len(standin.requests_to("POST", r"/actions/discard$")) == 1


def test_working_directory_follows_the_archive(standin, client, tree):
    client.ensure_workspace(tfc.WorkspaceSpec(name=WS))  # working directory left empty
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
    assert out.ok
    assert standin.workspace_by_name(ORG, WS)["attrs"]["working-directory"] == f"workspaces/{WS}"


def test_destroy_then_delete_workspace(standin, client, tree):
    ensure(client)
    assert client.destroy(WS, message="nothing yet") is None  # manages no resources
    root = tree / "workspaces" / WS
    applied = client.run(WS, root_dir=root, base_dir=tree, message="m")
    assert applied.ok
    applied_cv = body_of(standin, "POST", r"^/api/v2/runs$")[-1]["data"]["relationships"][
        "configuration-version"]["data"]["id"]
    assert client.run(WS, root_dir=root, base_dir=tree, message="fleet", plan_only=True).ok
    with pytest.raises(tfc.TfcError, match="managing 3 resources"):
        client.delete_workspace(WS)
    out = client.destroy(WS, message="offboard acme")  # the local root may be gone
    assert out.ok and out.is_destroy and out.applied and out.destructions == 3
    run_body = body_of(standin, "POST", r"^/api/v2/runs$")[-1]
    assert run_body["data"]["attributes"]["is-destroy"] is True
    # not the fleet plan's speculative version, which could never be applied
    assert run_body["data"]["relationships"]["configuration-version"]["data"]["id"] == applied_cv
    assert client.delete_workspace(WS) is True
    assert standin.requests_to("POST", r"/actions/safe-delete$")
    assert client.read_workspace(WS) is None
    assert client.delete_workspace(WS) is False


def test_run_timeout_returns_a_timed_out_outcome(tree):
    with StandIn(organization=ORG, token=TOKEN, cv_reads_to_process=0) as s:
        with tfc.TfcClient(make_settings(s, run_timeout=1e-9), environ=ENV) as c:
            ensure(c)
            out = c.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
    assert out.timed_out and not out.ok and "continues remotely" in out.error


def test_run_on_unknown_workspace(client, tree):
    with pytest.raises(tfc.TfcError, match="does not exist"):
        client.run("tenant-ghost-infra", root_dir=tree / "workspaces" / WS, base_dir=tree,
                   message="m")


# ---- doctor -----------------------------------------------------------------------------

def by_name(checks: list[tfc.Check]) -> dict[str, tfc.Check]:
    return {c.name: c for c in checks}


def test_doctor_all_good(standin, settings):
    checks = tfc.doctor(settings, environ=ENV)
    assert [c.name for c in checks] == ["token", "account", "organization", "project",
                                        "permissions", "variable-sets"]
    assert all(c.status == "ok" for c in checks), checks
    assert "TF_TOKEN_tfc_standin_test" in checks[0].detail


def test_doctor_missing_token(settings):
    checks = by_name(tfc.doctor(settings, environ={}))
    assert checks["token"].status == "fail"
    assert "TF_TOKEN_tfc_standin_test" in checks["token"].detail
    assert "TFE_TOKEN" in checks["token"].detail
    assert {c.status for n, c in checks.items() if n != "token"} == {"skip"}


def test_doctor_rejected_token(settings):
    checks = by_name(tfc.doctor(settings, environ={"TFE_TOKEN": "wrong"}))
    assert checks["account"].status == "fail" and "rejected the token" in checks["account"].detail
    assert checks["organization"].status == "skip"


def test_doctor_unknown_organization(standin):
    checks = by_name(tfc.doctor(make_settings(standin, organization="nobody"), environ=ENV))
    assert checks["organization"].status == "fail"
    assert "'nobody' does not exist" in checks["organization"].detail
    assert checks["project"].status == "skip"


def test_doctor_missing_project_and_variable_set(standin):
    checks = by_name(tfc.doctor(make_settings(standin, project="staging",
                                              variable_sets=("aws-credentials", "gcp")),
                                environ=ENV))
    assert checks["project"].status == "fail"
    assert "'staging' not found" in checks["project"].detail
    assert "Default Project, production" in checks["project"].detail
    assert checks["variable-sets"].status == "fail"
    assert checks["variable-sets"].detail.startswith("variable set(s) not found")
    assert ": gcp;" in checks["variable-sets"].detail


def test_doctor_permissions(standin):
    standin.add_token("read-only", username="auditor", role="readonly")
    standin.add_token("proj-admin", username="prod-team", role="project-admin",
                      service_account=True)
    ro = by_name(tfc.doctor(make_settings(standin), environ={"TFE_TOKEN": "read-only"}))
    assert ro["permissions"].status == "fail"
    assert "cannot create workspaces" in ro["permissions"].detail
    pa = by_name(tfc.doctor(make_settings(standin), environ={"TFE_TOKEN": "proj-admin"}))
    assert pa["permissions"].status == "ok" and "project permission" in pa["permissions"].detail
    assert "team/organization token" in pa["account"].detail


def test_doctor_agent_pool():
    with StandIn(organization=ORG, token=TOKEN) as s:
        checks = by_name(tfc.doctor(make_settings(s, execution_mode="agent",
                                                  agent_pool_id="apool-missing"), environ=ENV))
    assert checks["agent-pool"].status == "fail"


# ---- secrets ----------------------------------------------------------------------------

def test_no_token_in_any_file_written_or_uploaded(standin, client, tree):
    project = tree.parent
    # what the lead's roots.py writes for tfc: a cloud block instead of the S3 backend
    for name in (WS, "tenant-acme-apps"):
        root = tree / "workspaces" / name
        root.mkdir(parents=True, exist_ok=True)
        doc = json.loads((tree / "workspaces" / WS / "main.tf.json").read_text())
        doc["terraform"]["cloud"] = tfc.cloud_block(client.settings, name)
        doc["data"] = {"terraform_remote_state": {
            "platform": tfc.remote_state_config(client.settings, "platform")}}
        (root / "main.tf.json").write_text(json.dumps(doc))
    ensure(client)
    out = client.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
    assert out.ok
    assert client.destroy(WS, message="offboard").ok
    scanned = 0
    for path in project.rglob("*"):
        if path.is_file():
            scanned += 1
            assert TOKEN.encode() not in path.read_bytes(), path
    assert scanned >= 10
    for data in standin.uploads.values():
        for name, content in members(data).items():
            assert TOKEN.encode() not in content, name
    assert TOKEN not in repr(client) and TOKEN not in repr(client.settings)
    # the token only ever went to the API, never to upload or log URLs
    for r in standin.requests:
        assert (r.authorization == TOKEN) == r.path.startswith("/api/v2/"), r.path


def test_error_from_log_reads_structured_output():
    lines = [json.dumps({"@level": "info", "@message": "Terraform 1.11.4"}),
             json.dumps({"@level": "error", "@message": "Error: Unsupported argument",
                         "diagnostic": {"detail": 'An argument named "foo" is not expected.'}})]
    assert tfc.error_from_log("\n".join(lines)) == (
        'Error: Unsupported argument: An argument named "foo" is not expected.')
    assert tfc.error_from_log("Plan: 1 to add, 0 to change, 0 to destroy.\n") is None


# ---- TLS --------------------------------------------------------------------------------

# pytfe hands `ca_bundle` to httpx as a path string, which httpx 0.28 deprecates (still works).
@pytest.mark.filterwarnings("ignore:`verify=<str>` is deprecated:DeprecationWarning")
def test_https_with_a_private_ca(tree):
    with StandIn(organization=ORG, token=TOKEN, tls=True) as s:
        assert s.address.startswith("https://")
        settings = make_settings(s, ca_bundle=s.ca_file)
        assert all(c.status == "ok" for c in tfc.doctor(settings, environ=ENV))
        with tfc.TfcClient(settings, environ=ENV) as c:
            ensure(c)
            s.script_next_run(WS, plan_error="Invalid provider configuration")
            out = c.run(WS, root_dir=tree / "workspaces" / WS, base_dir=tree, message="m")
        assert out.error == "Error: Invalid provider configuration"
