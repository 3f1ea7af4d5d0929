"""The state bucket: `invoke bootstrap` creates it or says what it repaired; the aws target
verifies it before writing any state (versioning, encryption, public access block, TLS-only
policy), refuses a 403 as "not yours", and sends ExpectedBucketOwner on every S3 call.

The aws target runs against moto through AWS_ENDPOINT_URL (honoured by boto3 and the terraform
aws provider alike), never against real AWS."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from tenantform.errors import TenantformError
from tenantform.local import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LocalAws
from tenantform.names import EXAMPLE_ACCOUNT_ID
from tenantform.platform_config import PlatformConfig
from tenantform.state_bucket import ENCRYPTION, PUBLIC_ACCESS_BLOCK, default_bucket_name, tls_only_policy
from tenantform.targets import AwsTarget, Settings, TargetKind
from tests.conftest import Cli

REGION = "us-east-1"
AWS_BUCKET = default_bucket_name(account_id=EXAMPLE_ACCOUNT_ID, region=REGION)  # moto's account
FIX = "invoke bootstrap target=aws"


def _aws_env(endpoint: str, key: str = LOCAL_ACCESS_KEY, secret: str = LOCAL_SECRET_KEY) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}


def _s3(endpoint: str):  # noqa: ANN202
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY)


def _lines(proc) -> list[str]:  # noqa: ANN001
    return [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


# -- in-process: the aws target's checks, call by call ----------------------------------------------
@pytest.fixture
def aws_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield AwsTarget(Settings(project_dir=tmp_path, target=TargetKind.AWS), PlatformConfig(region=REGION))


def test_aws_default_bucket_name_carries_the_account_and_region(aws_target: AwsTarget) -> None:
    assert aws_target.state_bucket == f"tenantform-state-{EXAMPLE_ACCOUNT_ID}-{REGION}"
    assert aws_target.s3_settings()["bucket"] == aws_target.state_bucket


def test_aws_prepare_refuses_a_missing_bucket(aws_target: AwsTarget) -> None:
    with pytest.raises(TenantformError, match=rf"state bucket '{AWS_BUCKET}' does not exist; create it with `{FIX}`"):
        aws_target.prepare()


@pytest.mark.parametrize(("breakage", "expected"), [
    (lambda s3: s3.put_bucket_versioning(Bucket=AWS_BUCKET, VersioningConfiguration={"Status": "Suspended"}),
     "versioning is Suspended (wanted Enabled)"),
    (lambda s3: s3.delete_bucket_encryption(Bucket=AWS_BUCKET), "encryption is none (wanted aws:kms (SSE-KMS))"),
    (lambda s3: s3.put_bucket_encryption(Bucket=AWS_BUCKET, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}),
     "encryption is AES256 (SSE-S3) (wanted aws:kms (SSE-KMS))"),
    (lambda s3: s3.put_public_access_block(Bucket=AWS_BUCKET, PublicAccessBlockConfiguration={
        **PUBLIC_ACCESS_BLOCK, "RestrictPublicBuckets": False}),
     "public access block is RestrictPublicBuckets off (wanted all four blocks on)"),
    (lambda s3: s3.delete_bucket_policy(Bucket=AWS_BUCKET),
     "TLS-only policy is no bucket policy (wanted a DenyInsecureTransport statement)"),
], ids=["versioning", "no-encryption", "sse-s3", "public-access-block", "tls-policy"])
def test_aws_prepare_refuses_a_bucket_missing_a_protection(aws_target: AwsTarget, breakage, expected: str) -> None:  # noqa: ANN001
    aws_target.bootstrap()
    aws_target.prepare()  # fully protected: accepted
    breakage(aws_target.client("s3"))
    with pytest.raises(TenantformError) as refused:
        aws_target.prepare()
    message = str(refused.value)
    assert message == (f"state bucket '{AWS_BUCKET}' is not protected: {expected}; "
                       f"apply the protections with `{FIX}`")
    assert "\n" not in message
    result = aws_target.bootstrap()  # and bootstrap puts it back, saying what it changed
    assert [change.split(":")[0] for change in result.changes] == [expected.split(" is ")[0]]
    aws_target.prepare()


def test_bootstrap_keeps_other_policy_statements(aws_target: AwsTarget) -> None:
    s3 = aws_target.client("s3")
    s3.create_bucket(Bucket=AWS_BUCKET)
    other = {"Sid": "Mine", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
             "Resource": f"arn:aws:s3:::{AWS_BUCKET}"}
    s3.put_bucket_policy(Bucket=AWS_BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]}))
    aws_target.bootstrap()
    statements = json.loads(s3.get_bucket_policy(Bucket=AWS_BUCKET)["Policy"])["Statement"]
    assert statements == [other, *tls_only_policy(AWS_BUCKET)["Statement"]]
    assert json.loads(json.dumps(s3.get_bucket_encryption(Bucket=AWS_BUCKET)["ServerSideEncryptionConfiguration"]
                                 ["Rules"][0]["ApplyServerSideEncryptionByDefault"])) == \
        ENCRYPTION["Rules"][0]["ApplyServerSideEncryptionByDefault"]


def test_every_s3_call_of_the_aws_target_names_the_expected_owner(aws_target: AwsTarget) -> None:
    """Recorded on the wire (the signed request's headers), for bootstrap, prepare and the
    state-object calls the workflows make. CreateBucket is the one S3 call with no such field."""
    from tenantform.state_bucket import delete_state_objects, list_state_keys

    s3 = aws_target.client("s3")
    seen: list[tuple[str, str | None]] = []
    s3.meta.events.register("before-sign.s3.*", lambda request, operation_name, **_: seen.append(
        (operation_name, request.headers.get("x-amz-expected-bucket-owner"))))
    aws_target.client = lambda service: s3  # type: ignore[method-assign]  # the same client, observed
    aws_target.bootstrap()
    aws_target.prepare()
    s3.delete_bucket_policy(Bucket=AWS_BUCKET)  # in-process moto evaluates the TLS-only policy as plain HTTP
    s3.put_object(Bucket=AWS_BUCKET, Key="tenants/acme/infra.tfstate", Body=b"{}")
    assert list_state_keys(s3, AWS_BUCKET, "tenants/acme/") == ["tenants/acme/infra.tfstate"]
    assert delete_state_objects(s3, AWS_BUCKET, "tenants/acme/") == ["tenants/acme/infra.tfstate"]
    operations = {name for name, _ in seen}
    assert {"HeadBucket", "CreateBucket", "PutBucketVersioning", "GetBucketVersioning", "GetBucketEncryption",
            "GetPublicAccessBlock", "GetBucketPolicy", "PutBucketPolicy", "ListObjectsV2",
            "ListObjectVersions", "DeleteObjects", "PutObject"} <= operations
    assert [(name, owner) for name, owner in seen if owner != EXAMPLE_ACCOUNT_ID] == [("CreateBucket", None)]


# -- through the CLI, against a moto server ---------------------------------------------------------
@pytest.fixture
def bootstrapped(fresh_project: Cli):  # noqa: ANN201
    """A fresh project whose `invoke bootstrap` (local target) started its moto server."""
    try:
        yield fresh_project, fresh_project.run("bootstrap")
    finally:
        fresh_project.run("local.down", "--yes", check=False)


def _endpoint(cli: Cli) -> str:
    server = LocalAws(cli.project_dir / ".tenantform").current()
    assert server is not None
    return server.endpoint


@pytest.mark.integration
def test_bootstrap_local_creates_then_repairs_and_says_what_changed(bootstrapped) -> None:  # noqa: ANN001
    cli, created = bootstrapped
    assert _lines(created)[:4] == [
        "state bucket tenantform-state: created",
        "versioning: was never enabled, now Enabled",
        "encryption: was none, now aws:kms (SSE-KMS)",
        "public access block: was none, now all four blocks on"]
    assert "not applied on this target: TLS-only policy (the emulator speaks plain HTTP)" in _lines(created)
    s3 = _s3(_endpoint(cli))
    s3.put_bucket_versioning(Bucket="tenantform-state", VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket="tenantform-state")
    repaired = _lines(cli.run("bootstrap", "target=local"))
    assert repaired[:3] == ["state bucket tenantform-state: exists",
                            "versioning: was Suspended, now Enabled",
                            "public access block: was none, now all four blocks on"]
    assert s3.get_bucket_versioning(Bucket="tenantform-state")["Status"] == "Enabled"
    assert _lines(cli.run("bootstrap"))[:2] == ["state bucket tenantform-state: exists",
                                               "nothing to change: every protection was in place"]


@pytest.mark.integration
def test_aws_target_bootstrap_and_refusals_through_the_cli(bootstrapped) -> None:  # noqa: ANN001
    cli, _ = bootstrapped
    endpoint = _endpoint(cli)
    env = _aws_env(endpoint)
    created = _lines(cli.run("bootstrap", "target=aws", env_overrides=env))
    assert created == [f"state bucket {AWS_BUCKET}: created",
                       "versioning: was never enabled, now Enabled",
                       "encryption: was none, now aws:kms (SSE-KMS)",
                       "public access block: was none, now all four blocks on",
                       "TLS-only policy: was no bucket policy, now a DenyInsecureTransport statement"]
    s3 = _s3(endpoint)
    assert json.loads(s3.get_bucket_policy(Bucket=AWS_BUCKET)["Policy"]) == tls_only_policy(AWS_BUCKET)

    # a bucket without versioning is refused before anything is synthesised or planned
    s3.put_bucket_versioning(Bucket=AWS_BUCKET, VersioningConfiguration={"Status": "Suspended"})
    refused = cli.run("platform.plan", "--target", "aws", env_overrides=env, check=False)
    assert refused.returncode == 1
    assert _lines(refused) == [f"error: state bucket '{AWS_BUCKET}' is not protected: versioning is Suspended "
                               f"(wanted Enabled); apply the protections with `{FIX}`"]
    assert not (cli.project_dir / "cdktf.out" / "workspaces" / "platform").exists()
    assert _lines(cli.run("bootstrap", "target=aws", env_overrides=env)) == [
        f"state bucket {AWS_BUCKET}: exists", "versioning: was Suspended, now Enabled"]

    # ... and so is one without encryption
    s3.delete_bucket_encryption(Bucket=AWS_BUCKET)
    refused = cli.run("platform.plan", "--target", "aws", env_overrides=env, check=False)
    assert (refused.returncode, _lines(refused)) == (1, [
        f"error: state bucket '{AWS_BUCKET}' is not protected: encryption is none (wanted aws:kms (SSE-KMS)); "
        f"apply the protections with `{FIX}`"])

    # a missing bucket (a name given in the settings) is "missing", with the fix
    missing = cli.run("platform.plan", "--target", "aws", check=False,
                      env_overrides={**env, "INVOKE_TENANTFORM_STATE_BUCKET": "tenantform-state-nowhere"})
    assert (missing.returncode, _lines(missing)) == (1, [
        f"error: state bucket 'tenantform-state-nowhere' does not exist; create it with `{FIX}`"])


@pytest.mark.integration
def test_aws_target_refuses_a_bucket_it_may_not_read(fresh_project: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto with IAM authentication on (after the first 6 calls): a user allowed nothing on S3
    gets 403 AccessDenied on the bucket's settings, as a bucket of another account answers an
    ExpectedBucketOwner mismatch. That is an error naming the cause, not "missing"."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "6")
    local = LocalAws(fresh_project.project_dir / ".tenantform")
    server, _ = local.ensure()
    try:
        iam = boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION,
                           aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY)
        keys = {}
        for user, actions in (("admin", "*"), ("stranger", "sts:GetCallerIdentity")):  # 6 unauthenticated calls
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
            keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
        admin = _aws_env(server.endpoint, keys["admin"]["AccessKeyId"], keys["admin"]["SecretAccessKey"])
        fresh_project.run("bootstrap", "target=aws", env_overrides=admin)
        stranger = _aws_env(server.endpoint, keys["stranger"]["AccessKeyId"], keys["stranger"]["SecretAccessKey"])
        refused = fresh_project.run("platform.plan", "--target", "aws", check=False,
                                    env_overrides={**stranger, "INVOKE_TENANTFORM_STATE_BUCKET": AWS_BUCKET})
        assert refused.returncode == 1
        (line,) = _lines(refused)
        assert line.startswith(f"error: state bucket '{AWS_BUCKET}' exists but is not yours or not readable (")
        assert "HTTP 403" in line and "does not exist" not in line
    finally:
        local.stop()
