"""`platform` for real against moto: init, plan, apply, a clean re-plan, destroy.

One cycle with a custom domain (its hosted zone created), the configuration with the most
resources, so VPC, EKS, node group, OIDC, ECR, tables, NLB, API Gateway, CloudFront, ACM and
Route53 are all applied. Driven through the real `invoke` tasks in a copy of the project with
its own moto server. About 3 minutes on 2 cores (apply ~90 s, destroy ~90 s).
"""

from __future__ import annotations

import time

import pytest

from tenantform import workflows
from tenantform.contract import platform_output_names
from tenantform.names import PLATFORM_WORKSPACE
from tenantform.tiers import TIER_PROFILES, Tier

pytestmark = pytest.mark.integration

DOMAIN = "tenantform-test.example.com"
PLATFORM_TOML = f'''
domain = "{DOMAIN}"
enable_hosted_zone_creation = true
'''


def test_platform_applies_replans_clean_and_destroys(fresh_project, terraform: str,  # noqa: ANN001
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cli = fresh_project
    (cli.project_dir / "platform.toml").write_text(PLATFORM_TOML, encoding="utf-8")
    # moto issues DNS-validated certificates after MOTO_ACM_VALIDATION_WAIT seconds (60 by default)
    monkeypatch.setenv("MOTO_ACM_VALIDATION_WAIT", "0")
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        deployed = cli.run("platform.deploy", timeout=900)
        timings["deploy"] = time.monotonic() - started
        assert "platform: applied" in deployed.stdout, deployed.stdout
        assert f"api_endpoint = https://api.{DOMAIN}" in deployed.stdout

        project = cli.project()
        assert project.emulator
        tf = project.terraform(PLATFORM_WORKSPACE)
        outputs = tf.outputs()
        assert set(outputs) == set(platform_output_names())

        eks = project.target.client("eks")
        cluster = eks.describe_cluster(name=outputs["cluster_name"])["cluster"]
        assert cluster["version"] == "1.33"
        assert outputs["oidc_provider_url"] == cluster["identity"]["oidc"]["issuer"].removeprefix("https://")
        assert outputs["oidc_provider_arn"].endswith(f":oidc-provider/{outputs['oidc_provider_url']}")
        assert outputs["cluster_endpoint"] == cluster["endpoint"]
        group = eks.describe_nodegroup(clusterName=outputs["cluster_name"], nodegroupName="tenantform-general")
        assert group["nodegroup"]["scalingConfig"] == {"minSize": 2, "maxSize": 6, "desiredSize": 3}
        assert len(group["nodegroup"]["subnets"]) == 3 == len(outputs["private_subnet_ids"])

        plans = {p["name"]: p for p in project.target.client("apigateway").get_usage_plans()["items"]}
        for tier in Tier:
            plan = plans[f"tenantform-{tier.value}"]
            assert plan["id"] == outputs["usage_plan_ids"][tier.value]
            assert plan["throttle"]["rateLimit"] == TIER_PROFILES[tier].throttle_rate_limit
            assert plan["throttle"]["burstLimit"] == TIER_PROFILES[tier].throttle_burst_limit
            assert plan["apiStages"] == [{"apiId": outputs["api_id"], "stage": outputs["api_stage_name"]}]

        repositories = project.target.client("ecr").describe_repositories()["repositories"]
        assert {r["repositoryUri"] for r in repositories} == {outputs["product_repository_url"],
                                                              outputs["order_repository_url"]}
        assert all(r["imageTagMutability"] == "IMMUTABLE" and r["imageScanningConfiguration"]["scanOnPush"]
                   for r in repositories)

        records = project.target.client("route53").list_resource_record_sets(
            HostedZoneId=outputs["hosted_zone_id"])["ResourceRecordSets"]
        aliases = {(r["Name"].rstrip("."), r["Type"]) for r in records if "AliasTarget" in r}
        assert aliases == {(f"admin.{DOMAIN}", "A"), (f"admin.{DOMAIN}", "AAAA"), (f"api.{DOMAIN}", "A")}

        # the shared tables hold every tenant's data: deletion protection on, and moto honours it
        ddb = project.target.client("dynamodb")
        shared = (project.platform.product_table_name, project.platform.catalogue_table_name)
        for table in shared:
            assert ddb.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True
        with pytest.raises(ddb.exceptions.ClientError, match="DeletionProtectionEnabled"):
            ddb.delete_table(TableName=project.platform.product_table_name)

        # A re-plan right after the apply changes nothing: moto's read-back quirks are ignored
        # on the local target (docs/platform.md lists them).
        started = time.monotonic()
        replan = tf.plan()
        timings["re-plan"] = time.monotonic() - started
        assert not replan.changes.any, replan.changes.actions

        started = time.monotonic()
        destroyed = cli.run("platform.destroy", "--yes", timeout=900)
        timings["destroy"] = time.monotonic() - started
        assert f"Deletion protection is turned off first on the tables {', '.join(shared)}" in destroyed.stdout
        assert all(f"turning deletion protection off on table {table}" in destroyed.stderr for table in shared)
        assert not set(shared) & set(ddb.list_tables()["TableNames"])
        assert not workflows.platform_deployed(project)
        assert eks.list_clusters()["clusters"] == []
        assert project.target.client("apigateway").get_usage_plans()["items"] == []
        assert project.target.client("ecr").describe_repositories()["repositories"] == []
    finally:
        print("platform integration timings (s):", {k: round(v, 1) for k, v in timings.items()})
        cli.run("local.down", "--yes", check=False)
