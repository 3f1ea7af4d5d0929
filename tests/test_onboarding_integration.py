"""`invoke onboard` end to end on the local target: real terraform, S3 state with locking, moto.

The platform is deployed once per session by the `local_project` fixture (tests/conftest.py).
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def _table_missing(ddb, name: str) -> bool:  # noqa: ANN001
    try:
        ddb.describe_table(TableName=name)
    except ddb.exceptions.ResourceNotFoundException:
        return True
    return False


def test_onboard_is_idempotent_and_offboard_removes_everything(local_project) -> None:  # noqa: ANN001
    cli = local_project
    first = cli.run("onboard", "tenant=acme", "tier=premium", "email=owner@acme.example.com", "name=Acme Corp")
    assert "tenant-acme-infra" in first.stdout and "applied" in first.stdout
    assert "not planned: no cluster is configured" in first.stdout
    assert (cli.project_dir / "tenants" / "acme.toml").read_text().count('tier = "premium"') == 1

    project = cli.project()
    bucket = project.target.state_bucket
    ddb, idp, iam, s3 = (project.target.client(name) for name in ("dynamodb", "cognito-idp", "iam", "s3"))

    # the silo table, with the premium tier's protections
    table = ddb.describe_table(TableName="Order-acme")["Table"]
    assert table["DeletionProtectionEnabled"] is True
    backups = ddb.describe_continuous_backups(TableName="Order-acme")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    # Cognito: one pool for the tenant, its admin user with tenant and tier
    pools = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "tenantform-acme"]
    assert len(pools) == 1
    pool_id = pools[0]["Id"]
    user = idp.admin_get_user(UserPoolId=pool_id, Username="admin-acme")
    attributes = {a["Name"]: a["Value"] for a in user["UserAttributes"]}
    assert attributes["email"] == "owner@acme.example.com"
    assert {attributes.get("custom:tenant-id", attributes.get("tenant-id")),
            attributes.get("custom:tier", attributes.get("tier"))} == {"acme", "premium"}

    # the IRSA role: trust names exactly the tenant's service account; data policy as designed
    role = iam.get_role(RoleName="tenantform-acme-tenant")["Role"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    conditions = trust["Condition"]["StringEquals"]
    assert [v for k, v in conditions.items() if k.endswith(":sub")] == ["system:serviceaccount:acme:acme-service-account"]
    assert [v for k, v in conditions.items() if k.endswith(":aud")] == ["sts.amazonaws.com"]
    policy = iam.get_role_policy(RoleName="tenantform-acme-tenant", PolicyName="tenant-data-access")["PolicyDocument"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    pooled = statements["PooledProductsOwnPartitionOnly"]
    assert pooled["Resource"].endswith(":table/Product")
    assert "dynamodb:Scan" not in pooled["Action"]
    assert pooled["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == "acme"
    assert pooled["Condition"]["Null"]["dynamodb:LeadingKeys"] == "false"
    assert statements["OwnOrderTable"]["Resource"].endswith(":table/Order-acme")

    # the catalogue entry points at the tenant's pool
    item = ddb.get_item(TableName="TenantCatalogue", Key={"tenant_id": {"S": "acme"}})["Item"]
    assert item["user_pool_id"]["S"] == pool_id and item["tier"]["S"] == "premium"
    assert item["deployment"]["S"] == "silo"  # the authorizer's route: /silo/acme/... (issue 14)

    # the tenant's API key is in its tier's usage plan (the platform's per-tier throttling)
    apigw = project.target.client("apigateway")
    (key,) = [k for k in apigw.get_api_keys()["items"] if k["name"] == "tenantform-acme"]
    plans = {p["name"]: p for p in apigw.get_usage_plans()["items"]}
    premium = next(p for name, p in plans.items() if name.endswith("premium"))
    assert key["id"] in [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=premium["id"])["items"]]
    for name, plan in plans.items():
        if plan is not premium:
            assert key["id"] not in [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]]

    # state lives in its own key, and no lock is left behind
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tenants/acme/").get("Contents", [])]
    assert [k for k in keys if ".record." not in k] == ["tenants/acme/infra.tfstate"]
    assert len([k for k in keys if k.startswith("tenants/acme/infra.record.")]) == 1  # the change record
    state = json.loads(s3.get_object(Bucket=bucket, Key="tenants/acme/infra.tfstate")["Body"].read())
    assert len(state["resources"]) >= 8

    # running it again changes nothing and says so
    again = cli.run("onboard", "tenant=acme")
    assert "No changes: tenant is up to date." in again.stdout

    # asking for a different tier on an existing tenant is refused, pointing at `invoke update`
    refused = cli.run("onboard", "tenant=acme", "tier=basic", check=False)
    assert refused.returncode != 0 and "invoke update tenant=acme" in refused.stderr

    # a tier change: the plan is shown first, then exactly that plan is applied, to this tenant only
    changed = cli.run("update", "tenant=acme", "tier=platinum", "--yes")
    assert "tenant-acme-infra:" in changed.stdout and "usage_plan_key" in changed.stdout
    assert "terraform apply of the confirmed plan" in changed.stderr
    assert 'tier = "platinum"' in (cli.project_dir / "tenants" / "acme.toml").read_text()
    platinum = next(p for name, p in plans.items() if name.endswith("platinum"))
    assert key["id"] in [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=platinum["id"])["items"]]
    assert key["id"] not in [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=premium["id"])["items"]]
    item = ddb.get_item(TableName="TenantCatalogue", Key={"tenant_id": {"S": "acme"}})["Item"]
    assert item["tier"]["S"] == "platinum"
    assert "No changes" in cli.run("onboard", "tenant=acme").stdout

    # offboarding without --yes and without a terminal refuses and removes nothing
    refused = cli.run("offboard", "tenant=acme", check=False)
    assert refused.returncode != 0 and "pass --yes" in refused.stderr
    assert ddb.describe_table(TableName="Order-acme")["Table"]["TableName"] == "Order-acme"

    gone = cli.run("offboard", "tenant=acme", "--yes")
    assert "turning deletion protection off" in gone.stderr
    assert "removed s3://tenantform-state/tenants/acme/infra.tfstate" in gone.stdout
    assert _table_missing(ddb, "Order-acme")
    assert not [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "tenantform-acme"]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="tenantform-acme-tenant")
    assert "Item" not in ddb.get_item(TableName="TenantCatalogue", Key={"tenant_id": {"S": "acme"}})
    assert not [k for k in apigw.get_api_keys()["items"] if k["name"] == "tenantform-acme"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="tenants/acme/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert not (cli.project_dir / "tenants" / "acme.toml").exists()
    assert not (cli.project_dir / "cdktf.out" / "workspaces" / "tenant-acme-infra").exists()


def test_a_held_state_lock_stops_the_run_and_nothing_changes(local_project) -> None:  # noqa: ANN001
    """S3 native locking: a `.tflock` held by someone else makes terraform wait, then give up."""
    cli = local_project
    cli.run("onboard", "tenant=locked")
    project = cli.project()
    s3 = project.target.client("s3")
    bucket, key = project.target.state_bucket, "tenants/locked/infra.tfstate"
    before = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    lock = {"ID": "00000000-0000-0000-0000-000000000001", "Operation": "OperationTypeApply",
            "Who": "someone@elsewhere", "Version": "1.11.4", "Created": "2026-01-01T00:00:00Z", "Path": key}
    s3.put_object(Bucket=bucket, Key=key + ".tflock", Body=json.dumps(lock).encode())
    try:
        blocked = cli.run("update", "tenant=locked", "tier=standard", "--yes", check=False,
                          env_overrides={"INVOKE_TENANTFORM_LOCK_TIMEOUT": "3s"})
        assert blocked.returncode != 0
        assert "lock" in (blocked.stdout + blocked.stderr).lower()
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == before
        assert 'tier = "basic"' in (cli.project_dir / "tenants" / "locked.toml").read_text()
    finally:
        s3.delete_object(Bucket=bucket, Key=key + ".tflock")
    cli.run("offboard", "tenant=locked", "--yes")
