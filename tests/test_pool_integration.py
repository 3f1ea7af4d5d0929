"""The pool for real against moto: `invoke platform.deploy` with `pooled_tiers = ["basic"]`, the
pool roles' policies read back from IAM (the `${aws:PrincipalTag/tenant_id}` policy variable
must arrive literally, not interpolated by Terraform nor left escaped), and `invoke onboard` of a
basic tenant, which gets one workspace and no table or role of its own.

One platform apply in a fresh project (its own moto server): about 2-3 minutes on 2 cores.
moto does not evaluate IAM policies, so what the roles allow is read, not exercised here
(services/ tests exercise the tagged AssumeRole calls).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tenantform.names import tenant_names, workspace_name

pytestmark = pytest.mark.integration

PLATFORM_TOML = 'pooled_tiers = ["basic"]\n'
TENANT = "pooled-co"
TAG_VARIABLE = "${aws:PrincipalTag/tenant_id}"


def policy(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else document


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_pool_applies_with_literal_policy_variables_and_a_pooled_tenant_gets_one_workspace(fresh_project) -> None:  # noqa: ANN001
    cli = fresh_project
    (cli.project_dir / "platform.toml").write_text(PLATFORM_TOML, encoding="utf-8")
    try:
        cli.run("platform.deploy", timeout=900)
        project = cli.project()
        assert project.platform.pooled_tiers and project.platform.pooled_tiers[0].value == "basic"
        iam = project.target.client("iam")
        service = iam.get_role(RoleName="tenantform-pool-service")["Role"]
        access = iam.get_role(RoleName="tenantform-pool-tenant-access")["Role"]

        # the service role: IRSA of pool/pool, and only the right to assume the tenant-access role
        (trust,) = policy(service["AssumeRolePolicyDocument"])["Statement"]
        subjects = [v for k, v in trust["Condition"]["StringEquals"].items() if k.endswith(":sub")]
        assert subjects == ["system:serviceaccount:pool:pool"]
        assert iam.list_role_policies(RoleName=service["RoleName"])["PolicyNames"] == ["assume-tenant-access"]
        assert iam.list_attached_role_policies(RoleName=service["RoleName"])["AttachedPolicies"] == []
        (own,) = policy(iam.get_role_policy(RoleName=service["RoleName"],
                                            PolicyName="assume-tenant-access")["PolicyDocument"])["Statement"]
        assert sorted(as_list(own["Action"])) == ["sts:AssumeRole", "sts:TagSession"]
        assert own["Resource"] == access["Arn"]

        # the tenant-access role: only the service role, only with a tenant tag
        for statement in policy(access["AssumeRolePolicyDocument"])["Statement"]:
            assert statement["Principal"] == {"AWS": service["Arn"]}
            assert statement["Condition"]["Null"] == {"aws:RequestTag/tenant_id": "false"}

        # its permissions: the policy variable arrived literally on every statement
        assert iam.list_role_policies(RoleName=access["RoleName"])["PolicyNames"] == ["pooled-data-access"]
        stored = iam.get_role_policy(RoleName=access["RoleName"], PolicyName="pooled-data-access")["PolicyDocument"]
        text = stored if isinstance(stored, str) else json.dumps(stored)
        assert TAG_VARIABLE in text and "$${" not in text
        ddb = project.target.client("dynamodb")
        arn = {name: ddb.describe_table(TableName=name)["Table"]["TableArn"]
               for name in ("Product", "Order", "TenantCatalogue")}
        keys = {}
        for statement in policy(stored)["Statement"]:
            keys[statement["Sid"]] = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
            assert statement["Condition"]["Null"]["dynamodb:LeadingKeys"] == "false"
            assert "dynamodb:Scan" not in as_list(statement["Action"])
            if statement["Sid"] == "PooledTablesOwnPartitionOnly":
                assert sorted(as_list(statement["Resource"])) == sorted([arn["Product"], arn["Order"]])
            else:
                assert as_list(statement["Resource"]) == [arn["TenantCatalogue"]]
        assert keys == {"PooledTablesOwnPartitionOnly": TAG_VARIABLE, "OwnWriteFreezeFlagOnly": TAG_VARIABLE + "#move"}

        table = ddb.describe_table(TableName="Order")["Table"]
        assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"tenant_id": "HASH",
                                                                                  "order_id": "RANGE"}
        assert table["DeletionProtectionEnabled"] is True
        outputs = project.terraform("platform").outputs()
        assert outputs["pool_tenant_access_role_arn"] == access["Arn"]
        assert outputs["pooled_order_table_arn"] == arn["Order"]

        # a basic tenant joins the pool: its identity and catalogue entry, nothing else
        cli.run("onboard", f"tenant={TENANT}", "tier=basic", timeout=900)
        names = tenant_names(TENANT, platform_name=project.platform.name)
        assert (project.workspace_dir(workspace_name(TENANT, "infra")) / "main.tf.json").is_file()
        assert not project.workspace_dir(workspace_name(TENANT, "apps")).exists()
        assert names.order_table not in ddb.list_tables()["TableNames"]
        assert names.irsa_role not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
        item = ddb.get_item(TableName="TenantCatalogue", Key={"tenant_id": {"S": TENANT}})["Item"]
        assert item["deployment"] == {"S": "pool"} and item["tier"] == {"S": "basic"}
        pools = project.target.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
        assert [p["Id"] for p in pools if p["Name"] == names.user_pool] == [item["user_pool_id"]["S"]]
        apigateway = project.target.client("apigateway")
        keys_in_plan = apigateway.get_usage_plan_keys(usagePlanId=outputs["usage_plan_ids"]["basic"])["items"]
        assert [k["id"] for k in keys_in_plan] == [item["api_key_id"]["S"]]
        infra_outputs = project.terraform(workspace_name(TENANT, "infra")).outputs()
        assert (infra_outputs["irsa_role_arn"], infra_outputs["order_table_name"]) == ("", "")
    finally:
        cli.run("local.down", "--yes", check=False)
