"""State and secrets: the state bucket's protections, and no credential, token or emulator
endpoint in any synthesised file (they travel only in the environment of local terraform runs)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tenantform.local import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY
from tenantform.platform_config import PlatformConfig
from tenantform.state_bucket import ensure_state_bucket, tls_only_policy
from tenantform.targets import AwsTarget, LocalTarget, Settings, TargetKind

# What must never be in a synthesised file: values (in any text file) ...
SECRET_VALUES = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"),
    "HCP Terraform token": re.compile(r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{20,}"),
    "emulator endpoint": re.compile(r"127\.0\.0\.1|\[::1\]|0\.0\.0\.0:\d"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# ... and, in Terraform JSON, any setting of these arguments (a provider's, a backend's, a remote
# state's): credentials and endpoints come from the environment, never from a file.
SECRET_ARGUMENTS = re.compile(r"^(access_key|secret_key|token|session_token|endpoint|endpoints|[a-z0-9_]+_endpoint|"
                              r"shared_credentials_files?|profile|assume_role_with_web_identity)$")
TEST_CREDENTIALS = {LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY}


CONFIG_BLOCKS = {"provider", "backend", "cloud", "terraform_remote_state"}


def _json_leaks(value, where: str = "") -> list[str]:  # noqa: ANN001
    leaks = []
    if isinstance(value, dict):
        in_config = bool(CONFIG_BLOCKS & set(re.split(r"[.\[\]]", where)))
        for key, item in value.items():
            if in_config and SECRET_ARGUMENTS.match(str(key)) and item not in (None, "", [], {}):
                leaks.append(f"{where}.{key}: argument {key!r} is set")
            leaks += _json_leaks(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            leaks += _json_leaks(item, f"{where}[{index}]")
    elif isinstance(value, str) and value in TEST_CREDENTIALS:
        leaks.append(f"{where}: the emulator's test credential {value!r}")
    return leaks


def scan(root: Path) -> tuple[list[Path], list[str]]:
    """Every text file under `root` (provider binaries excepted) and what it leaks."""
    scanned, leaks = [], []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "providers" in path.relative_to(root).parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        scanned.append(path)
        name = path.relative_to(root)
        for what, pattern in SECRET_VALUES.items():
            leaks += [f"{name}: {what}: {m.group(0)!r}" for m in pattern.finditer(text)]
        if path.name.endswith((".json", ".tfstate")):
            try:
                leaks += [f"{name}: {leak}" for leak in _json_leaks(json.loads(text))]
            except ValueError:
                pass
    return scanned, leaks


def test_the_scanner_finds_what_it_looks_for(tmp_path: Path) -> None:
    (tmp_path / "leaky.tf.json").write_text(json.dumps({
        "provider": {"aws": [{"access_key": "AKIAABCDEFGHIJKLMNOP", "secret_key": "test",
                              "endpoints": [{"s3": "http://127.0.0.1:5000"}]}]},
        "terraform": {"cloud": {"token": "abcdefghijklmn.atlasv1.abcdefghijklmnopqrstuvwxyz0123"}}}))
    (tmp_path / ".terraform").mkdir()
    (tmp_path / ".terraform" / "terraform.tfstate").write_text(json.dumps(
        {"backend": {"config": {"bucket": "b", "access_key": None, "token": None, "endpoints": None}}}))
    _, leaks = scan(tmp_path)
    text = "\n".join(leaks)
    for expected in ("AWS access key id", "HCP Terraform token", "emulator endpoint", "argument 'access_key'",
                     "argument 'secret_key'", "argument 'endpoints'", "argument 'token'", "test credential"):
        assert expected in text, (expected, leaks)
    assert not [leak for leak in leaks if leak.startswith(".terraform")]  # null settings in terraform's own backend record are not leaks


# -- the state bucket ------------------------------------------------------------------------------------
def _assert_protected(s3, bucket: str) -> None:  # noqa: ANN001
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_state_bucket_is_versioned_encrypted_private_and_tls_only(region: str) -> None:
    """In-process moto: ensure_state_bucket as the aws target calls it (tls_only=True)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name=region)
        assert ensure_state_bucket(s3, "acme-tf-state", region, tls_only=True).created is True
        _assert_protected(s3, "acme-tf-state")
        policy = json.loads(s3.get_bucket_policy(Bucket="acme-tf-state")["Policy"])
        assert policy == tls_only_policy("acme-tf-state")
        (statement,) = policy["Statement"]
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert set(statement["Resource"]) == {"arn:aws:s3:::acme-tf-state", "arn:aws:s3:::acme-tf-state/*"}
        again = ensure_state_bucket(s3, "acme-tf-state", region, tls_only=True)  # idempotent
        assert (again.created, again.changes) == (False, [])


@pytest.mark.integration
def test_tls_only_policy_really_refuses_plain_http(local_project) -> None:
    """Against the session's moto server (plain HTTP), in a bucket of its own: after the TLS-only
    policy, object writes over HTTP are refused. This is why the local target skips the policy."""
    s3 = local_project.project().target.client("s3")
    assert ensure_state_bucket(s3, "tenantform-tls-proof", "us-east-1", tls_only=True).created is True
    _assert_protected(s3, "tenantform-tls-proof")
    assert json.loads(s3.get_bucket_policy(Bucket="tenantform-tls-proof")["Policy"]) == \
        tls_only_policy("tenantform-tls-proof")
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="tenantform-tls-proof", Key="tenants/x/infra.tfstate", Body=b"{}")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.integration
def test_local_state_bucket_is_protected_except_the_tls_policy(local_project) -> None:
    project = local_project.project()
    s3 = project.target.client("s3")
    _assert_protected(s3, project.target.state_bucket)
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_policy(Bucket=project.target.state_bucket)
    assert missing.value.response["Error"]["Code"] == "NoSuchBucketPolicy"


# -- secrets and endpoints -----------------------------------------------------------------------------
@pytest.mark.integration
def test_no_synthesised_file_holds_credentials_tokens_or_endpoints(local_project) -> None:
    """Every file under cdktf.out/ of a project that deployed the platform and synthesised a
    tenant's roots: module, platform workspaces, tenant roots, terraform's own .terraform/ files."""
    probe = local_project.project_dir / "tenants" / "secrets-probe.toml"
    probe.write_text('id = "secrets-probe"\ncompany_name = "Probe"\nadmin_email = "a@probe.example.com"\n'
                     'tier = "platinum"\n', encoding="utf-8")
    try:
        local_project.run("synth")
        out = local_project.project_dir / "cdktf.out"
        scanned, leaks = scan(out)
        names = {str(p.relative_to(out)) for p in scanned}
        assert "workspaces/platform/cdk.tf.json" in names
        assert "workspaces/tenant-secrets-probe-infra/main.tf.json" in names
        assert "workspaces/tenant-secrets-probe-apps/main.tf.json" in names
        assert any(n.startswith("modules/") and n.endswith("infra/cdk.tf.json") for n in names)
        assert any(n.startswith("workspaces/platform/.terraform/") for n in names)  # backend config of init
        assert leaks == []
    finally:
        probe.unlink(missing_ok=True)
        for layer in ("infra", "apps"):
            shutil.rmtree(local_project.project_dir / "cdktf.out" / "workspaces" / f"tenant-secrets-probe-{layer}",
                          ignore_errors=True)


@pytest.mark.integration
def test_endpoint_and_test_credentials_exist_only_in_local_terraform_environments(local_project, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    project = local_project.project()
    env = project.target.terraform_env()
    server = project.target.server
    assert env["AWS_ENDPOINT_URL"] == server.endpoint.rstrip("/")
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    # ... and only there: the rendered blocks carry neither
    rendered = json.dumps([project.target.aws_provider(), project.target.s3_settings(),
                           project.app_config().platform_backend])
    assert server.endpoint not in rendered and "127.0.0.1" not in rendered
    # the aws target adds neither the emulator's endpoint nor its credentials to the caller's environment
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    aws = AwsTarget(Settings(project_dir=tmp_path, target=TargetKind.AWS), PlatformConfig())
    aws_env = aws.terraform_env()
    assert not {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(aws_env)
    assert isinstance(project.target, LocalTarget)
