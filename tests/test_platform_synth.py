"""The `platform` workspace (AWS), synthesised by CDKTF: every item of issue 3, per switch.

Each configuration is synthesised once per module (about 3-5 s each after the ~20 s import of
the AWS bindings): production without and with a custom domain, the local (moto) target, and a
two-AZ variant with one NAT gateway per AZ.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from cdktf import Testing as CdktfTesting  # aliased: pytest would try to collect `Testing*`
from cdktf_cdktf_provider_aws.acm_certificate import AcmCertificate
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.api_gateway_authorizer import ApiGatewayAuthorizer
from cdktf_cdktf_provider_aws.api_gateway_base_path_mapping import ApiGatewayBasePathMapping
from cdktf_cdktf_provider_aws.api_gateway_domain_name import ApiGatewayDomainName
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_resource import ApiGatewayResource
from cdktf_cdktf_provider_aws.api_gateway_rest_api import ApiGatewayRestApi
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import ApiGatewayUsagePlan
from cdktf_cdktf_provider_aws.api_gateway_vpc_link import ApiGatewayVpcLink
from cdktf_cdktf_provider_aws.autoscaling_attachment import AutoscalingAttachment
from cdktf_cdktf_provider_aws.cloudfront_distribution import CloudfrontDistribution
from cdktf_cdktf_provider_aws.cloudfront_origin_access_control import CloudfrontOriginAccessControl
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_route53_zone import DataAwsRoute53Zone
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.ecr_repository import EcrRepository
from cdktf_cdktf_provider_aws.eks_addon import EksAddon
from cdktf_cdktf_provider_aws.eks_cluster import EksCluster
from cdktf_cdktf_provider_aws.eks_node_group import EksNodeGroup
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.launch_template import LaunchTemplate
from cdktf_cdktf_provider_aws.lb import Lb
from cdktf_cdktf_provider_aws.lb_listener import LbListener
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route53_record import Route53Record
from cdktf_cdktf_provider_aws.route53_zone import Route53Zone
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from modules.platform.cluster import VPC_CNI_CONFIGURATION
from modules.platform.network import subnet_cidrs
from modules.platform.stack import PlatformStack
from tenantform.contract import PLATFORM_OUTPUT_DESCRIPTIONS, platform_output_names
from tenantform import lambda_package
from tenantform.errors import InvalidInput
from tenantform.gateway_check import gateway_violations
from tenantform.names import PLATFORM_STATE_KEY
from tenantform.pins import CLUSTER_AUTOSCALER_IMAGE_TAGS, PROVIDER_REQUIREMENTS
from tenantform.platform_config import (
    EMULATOR_UNSUPPORTED,
    PlatformConfig,
    field_docs,
    load_platform_config,
)
from tenantform.project import Project
from tenantform.synthesis import AppConfig
from tenantform.targets import Settings, TargetKind
from tenantform.tiers import TIER_PROFILES, Tier

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "example.com"


def app_config(tmp: Path, platform: PlatformConfig, target: TargetKind) -> AppConfig:
    """What the orchestration passes for this target (backends and provider as targets.py renders them)."""
    # an explicit bucket: the aws target's default name needs the account (STS), these tests have none
    return Project(Settings(project_dir=tmp, target=target, state_bucket="tenantform-state"),
                   platform=platform).app_config()


def synth(tmp: Path, platform: PlatformConfig, *, target: TargetKind = TargetKind.AWS) -> str:
    app = CdktfTesting.app()
    stack = PlatformStack(app, "platform", platform=platform, config=app_config(tmp, platform, target))
    return CdktfTesting.synth(stack)


def doc(synthesised: str) -> dict[str, Any]:
    return json.loads(synthesised)


def resources(synthesised: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return doc(synthesised).get("resource", {}).get(resource_type, {})


def only(synthesised: str, resource_type: str) -> dict[str, Any]:
    found = resources(synthesised, resource_type)
    assert len(found) == 1, f"{resource_type}: {sorted(found)}"
    return next(iter(found.values()))


def has(synthesised: str, resource_type: str, properties: dict[str, Any]) -> bool:
    return CdktfTesting.to_have_resource_with_properties(synthesised, resource_type, properties)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Defaults, AWS target, no custom domain."""
    return synth(tmp_path_factory.mktemp("aws"), PlatformConfig())


@pytest.fixture(scope="module")
def with_domain(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A custom domain in a region other than us-east-1 (CloudFront's certificate region)."""
    return synth(tmp_path_factory.mktemp("domain"), PlatformConfig(domain=DOMAIN, region="eu-west-1"))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The local target: moto; its switches off and its read-back quirks ignored."""
    return synth(tmp_path_factory.mktemp("local"), PlatformConfig(), target=TargetKind.LOCAL)


@pytest.fixture(scope="module")
def two_zones(tmp_path_factory: pytest.TempPathFactory) -> str:
    return synth(tmp_path_factory.mktemp("two"), PlatformConfig(
        availability_zone_count=2, enable_nat_gateway_per_az=True, vpc_cidr="10.20.0.0/18",
        enable_endpoint_public_access=False, enable_secrets_encryption=False, enable_vpc_flow_logs=False,
        node_min_size=1, node_desired_size=1, node_max_size=3, ingress_node_port=31080,
        enable_hosted_zone_creation=True, domain="saas.example.org"))


# --- network ----------------------------------------------------------------------------------------
def test_vpc_private_and_public_subnet_per_zone(production: str) -> None:
    assert has(production, Vpc.TF_RESOURCE_TYPE, {"cidr_block": "10.0.0.0/16", "enable_dns_hostnames": True})
    subnets = resources(production, Subnet.TF_RESOURCE_TYPE).values()
    private, public = subnet_cidrs("10.0.0.0/16", 3)
    assert private == ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"]
    assert public == ["10.0.192.0/21", "10.0.200.0/21", "10.0.208.0/21"]
    assert {s["cidr_block"] for s in subnets} == set(private + public)
    for subnet in subnets:
        assert subnet["map_public_ip_on_launch"] is False
        assert re.fullmatch(r"\$\{element\(data\.aws_availability_zones\.\w+\.names, [012]\)\}",
                            subnet["availability_zone"])
    internal = [s for s in subnets if s["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    assert {s["cidr_block"] for s in internal} == set(private)
    assert len(resources(production, NatGateway.TF_RESOURCE_TYPE)) == 1


def test_two_zones_with_a_nat_gateway_each(two_zones: str) -> None:
    assert len(resources(two_zones, Subnet.TF_RESOURCE_TYPE)) == 4
    assert len(resources(two_zones, NatGateway.TF_RESOURCE_TYPE)) == 2
    assert has(two_zones, Vpc.TF_RESOURCE_TYPE, {"cidr_block": "10.20.0.0/18"})
    assert "aws_flow_log" not in doc(two_zones)["resource"]


def test_flow_logs_on_by_default(production: str) -> None:
    assert has(production, "aws_flow_log", {"traffic_type": "ALL", "log_destination_type": "cloud-watch-logs"})


# --- cluster ----------------------------------------------------------------------------------------
def test_cluster_version_endpoints_logging_encryption(production: str) -> None:
    cluster = only(production, EksCluster.TF_RESOURCE_TYPE)
    assert cluster["name"] == "tenantform-eks"
    assert cluster["version"] == "1.33"
    assert cluster["enabled_cluster_log_types"] == ["api", "audit", "authenticator", "controllerManager",
                                                    "scheduler"]
    assert cluster["vpc_config"]["endpoint_private_access"] is True
    assert cluster["vpc_config"]["endpoint_public_access"] is False  # private by default
    assert "public_access_cidrs" not in cluster["vpc_config"]
    assert len(cluster["vpc_config"]["subnet_ids"]) == 3
    assert cluster["encryption_config"]["resources"] == ["secrets"]
    assert cluster["access_config"]["authentication_mode"] == "API"
    assert "lifecycle" not in cluster  # production ignores nothing on the cluster
    # the control-plane log group exists before the cluster, with a retention
    assert has(production, CloudwatchLogGroup.TF_RESOURCE_TYPE,
               {"name": "/aws/eks/tenantform-eks/cluster", "retention_in_days": 90})
    assert any("aws_cloudwatch_log_group." in dep for dep in cluster["depends_on"])


def test_private_only_endpoint_and_no_secrets_key(two_zones: str) -> None:
    cluster = only(two_zones, EksCluster.TF_RESOURCE_TYPE)
    assert cluster["vpc_config"]["endpoint_public_access"] is False
    assert "public_access_cidrs" not in cluster["vpc_config"]
    assert "encryption_config" not in cluster
    assert "aws_kms_key" not in doc(two_zones)["resource"]


def test_node_group_spread_sized_and_owned_by_the_autoscaler(production: str, two_zones: str) -> None:
    group = only(production, EksNodeGroup.TF_RESOURCE_TYPE)
    assert group["scaling_config"] == {"min_size": 2, "desired_size": 3, "max_size": 6}
    assert len(group["subnet_ids"]) == 3 and all("aws_subnet.network_private_" in s for s in group["subnet_ids"])
    assert group["lifecycle"]["ignore_changes"] == ["scaling_config[0].desired_size"]
    assert group["instance_types"] == ["m5.large"] and group["capacity_type"] == "ON_DEMAND"
    assert only(two_zones, EksNodeGroup.TF_RESOURCE_TYPE)["scaling_config"] == {
        "min_size": 1, "desired_size": 1, "max_size": 3}


def test_nodes_imdsv2_hop_limit_one_and_encrypted_disk(production: str) -> None:
    template = only(production, LaunchTemplate.TF_RESOURCE_TYPE)
    assert template["metadata_options"] == {"http_endpoint": "enabled", "http_tokens": "required",
                                            "http_put_response_hop_limit": 1}
    ebs = template["block_device_mappings"][0]["ebs"]
    assert ebs["encrypted"] == "true" and ebs["volume_type"] == "gp3" and ebs["volume_size"] == 50


def test_oidc_provider_is_the_clusters_issuer(production: str) -> None:
    provider = only(production, IamOpenidConnectProvider.TF_RESOURCE_TYPE)
    assert re.fullmatch(r"\$\{aws_eks_cluster\.\w+\.identity\[0\]\.oidc\[0\]\.issuer\}", provider["url"])
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    outputs = doc(production)["output"]
    assert outputs["oidc_provider_url"]["value"].startswith("${replace(aws_eks_cluster.")
    assert "aws_iam_openid_connect_provider." in outputs["oidc_provider_arn"]["value"]


def test_cluster_and_node_roles(production: str) -> None:
    roles = {r["name"]: r for r in resources(production, IamRole.TF_RESOURCE_TYPE).values()}
    assert {"tenantform-eks-cluster", "tenantform-eks-node", "tenantform-cluster-autoscaler"} <= set(roles)
    attached = {a["policy_arn"].rsplit("/", 1)[1]
                for a in resources(production, "aws_iam_role_policy_attachment").values()}
    assert {"AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly",
            "AmazonEKS_CNI_Policy"} <= attached


def test_autoscaler_role_trusts_only_its_service_account(production: str) -> None:
    documents = doc(production)["data"]["aws_iam_policy_document"]
    trust = next(d for key, d in documents.items() if key.startswith("cluster_autoscaler_trust"))
    conditions = {c["variable"].rsplit(":", 1)[1]: c["values"] for c in trust["statement"][0]["condition"]}
    assert conditions == {"sub": ["system:serviceaccount:kube-system:cluster-autoscaler"],
                          "aud": ["sts.amazonaws.com"]}
    permissions = next(d for key, d in documents.items() if key.startswith("cluster_autoscaler_permissions"))
    resize = next(s for s in permissions["statement"] if s["sid"] == "ResizeOwnGroups")
    assert resize["condition"][0]["variable"] == "aws:ResourceTag/k8s.io/cluster-autoscaler/tenantform-eks"


def test_vpc_cni_addon_enforces_network_policies(production: str) -> None:
    addon = only(production, EksAddon.TF_RESOURCE_TYPE)
    assert addon["addon_name"] == "vpc-cni"
    assert json.loads(addon["configuration_values"]) == VPC_CNI_CONFIGURATION == {"enableNetworkPolicy": "true"}
    assert "data.aws_eks_addon_version." in addon["addon_version"]  # EKS's default for the pinned version


# --- registry and tables ------------------------------------------------------------------------------
@pytest.mark.parametrize("service", ["product", "order"])
def test_repositories_scan_on_push_immutable(production: str, service: str) -> None:
    assert has(production, EcrRepository.TF_RESOURCE_TYPE, {
        "name": f"tenantform/{service}", "image_tag_mutability": "IMMUTABLE",
        "image_scanning_configuration": {"scan_on_push": True}, "force_delete": False,
    })
    assert not has(production, EcrRepository.TF_RESOURCE_TYPE, {"image_tag_mutability": "MUTABLE"})


def test_shared_tables_encrypted_protected_with_point_in_time_recovery(production: str, local: str) -> None:
    tables = {t["name"]: t for t in resources(production, DynamodbTable.TF_RESOURCE_TYPE).values()}
    assert set(tables) == {"Product", "TenantCatalogue", "Order"}  # Order: the pool's orders (issue 14)
    assert tables["Product"]["hash_key"] == "tenant_id" and tables["Product"]["range_key"] == "product_id"
    assert tables["Order"]["hash_key"] == "tenant_id" and tables["Order"]["range_key"] == "order_id"
    assert tables["TenantCatalogue"]["hash_key"] == "tenant_id"
    for table in tables.values():
        assert table["server_side_encryption"] == {"enabled": True}
        assert table["point_in_time_recovery"] == {"enabled": True}
        assert table["deletion_protection_enabled"] is True  # every tenant's data: platform.destroy turns it off
    local_tables = resources(local, DynamodbTable.TF_RESOURCE_TYPE).values()
    assert [t["deletion_protection_enabled"] for t in local_tables] == [True, True, True]  # the emulator build too


# --- ingress --------------------------------------------------------------------------------------------
def test_internal_nlb_forwards_to_the_ingress_node_port(production: str, two_zones: str) -> None:
    assert has(production, Lb.TF_RESOURCE_TYPE, {"load_balancer_type": "network", "internal": True})
    assert has(production, LbTargetGroup.TF_RESOURCE_TYPE, {"port": 30080, "protocol": "TCP",
                                                            "target_type": "instance"})
    assert has(two_zones, LbTargetGroup.TF_RESOURCE_TYPE, {"port": 31080})
    assert not has(two_zones, LbTargetGroup.TF_RESOURCE_TYPE, {"port": 30080})
    assert has(production, LbListener.TF_RESOURCE_TYPE, {"port": 80, "protocol": "TCP"})
    # nodes accept the NodePort from the VPC only, and register with the target group
    assert has(production, VpcSecurityGroupIngressRule.TF_RESOURCE_TYPE,
               {"from_port": 30080, "to_port": 30080, "ip_protocol": "tcp", "cidr_ipv4": "10.0.0.0/16"})
    attachment = only(production, AutoscalingAttachment.TF_RESOURCE_TYPE)
    assert ".resources[0].autoscaling_groups[0].name" in attachment["autoscaling_group_name"]


def test_rest_api_any_proxy_over_vpc_link(production: str) -> None:
    assert has(production, ApiGatewayResource.TF_RESOURCE_TYPE, {"path_part": "{proxy+}"})
    assert has(production, ApiGatewayMethod.TF_RESOURCE_TYPE,
               {"http_method": "ANY", "api_key_required": True,
                "request_parameters": {"method.request.path.proxy": True}})
    integration = only(production, ApiGatewayIntegration.TF_RESOURCE_TYPE)
    assert integration["type"] == "HTTP_PROXY" and integration["connection_type"] == "VPC_LINK"
    assert "aws_api_gateway_vpc_link." in integration["connection_id"]
    # /<deployment>/<path>: the authorizer's pool or silo is the first segment (contract of issue 14)
    assert re.fullmatch(r"http://\$\{aws_lb\.\w+\.dns_name\}:80/\{deployment\}/\{proxy\}", integration["uri"])
    assert integration["request_parameters"]["integration.request.path.deployment"] == "context.authorizer.deployment"
    assert "aws_lb." in only(production, ApiGatewayVpcLink.TF_RESOURCE_TYPE)["target_arns"][0]
    assert "lifecycle" not in integration


def test_proxy_method_is_behind_the_tenant_authorizer(production: str, local: str) -> None:
    for synthesised in (production, local):
        method = only(synthesised, ApiGatewayMethod.TF_RESOURCE_TYPE)
        assert method["authorization"] == "CUSTOM"
        assert re.fullmatch(r"\$\{aws_api_gateway_authorizer\.\w+\.id\}", method["authorizer_id"])
        assert method["api_key_required"] is True
        authorizer = only(synthesised, ApiGatewayAuthorizer.TF_RESOURCE_TYPE)
        assert authorizer["type"] == "REQUEST"
        # cached per token AND path: an Allow for /acme/... is never reused for /globex/...
        assert authorizer["identity_source"] == "method.request.header.Authorization,context.httpMethod,context.path"
        assert 0 < authorizer["authorizer_result_ttl_in_seconds"] <= 3600
        assert re.fullmatch(r"\$\{aws_lambda_function\.\w+\.invoke_arn\}", authorizer["authorizer_uri"])
        assert only(synthesised, ApiGatewayRestApi.TF_RESOURCE_TYPE)["api_key_source"] == "AUTHORIZER"
        assert gateway_violations(doc(synthesised)) == []


def _broken(synthesised: str, change) -> dict[str, Any]:  # noqa: ANN001
    broken = doc(synthesised)
    change(broken["resource"])
    return broken


@pytest.mark.parametrize("case,change,expected", [
    ("authorization NONE", lambda r: next(iter(r["aws_api_gateway_method"].values())).update(authorization="NONE"),
     "authorization 'NONE', expected CUSTOM"),
    ("IAM instead of the authorizer",
     lambda r: next(iter(r["aws_api_gateway_method"].values())).update(authorization="AWS_IAM"),
     "authorization 'AWS_IAM', expected CUSTOM"),
    ("no authorizer_id", lambda r: next(iter(r["aws_api_gateway_method"].values())).pop("authorizer_id"),
     "is not one of this workspace's authorizers"),
    ("a second method without authorizer", lambda r: r["aws_api_gateway_method"].update(
        extra={"http_method": "GET", "authorization": "NONE", "rest_api_id": "x", "resource_id": "y"}),
     "aws_api_gateway_method.extra (GET): authorization 'NONE'"),
    ("no API key", lambda r: next(iter(r["aws_api_gateway_method"].values())).update(api_key_required=False),
     "api_key_required is not true"),
    ("cache keyed on the token only", lambda r: next(iter(r["aws_api_gateway_authorizer"].values())).update(
        identity_source="method.request.header.Authorization"), "identity_source lacks context.path"),
    ("cache reused across methods", lambda r: next(iter(r["aws_api_gateway_authorizer"].values())).update(
        identity_source="method.request.header.Authorization,context.path"),
     "identity_source lacks context.httpMethod"),
    ("TOKEN authorizer", lambda r: next(iter(r["aws_api_gateway_authorizer"].values())).update(type="TOKEN"),
     "type 'TOKEN', expected REQUEST"),
    ("no methods at all", lambda r: r.pop("aws_api_gateway_method"), "no aws_api_gateway_method found"),
])
def test_gateway_checker_refuses_a_method_reachable_without_the_authorizer(production: str, case: str, change,  # noqa: ANN001
                                                                          expected: str) -> None:
    assert gateway_violations(doc(production)) == []  # control: the synthesised platform passes
    problems = gateway_violations(_broken(production, change))
    assert problems and any(expected in p for p in problems), (case, problems)


def test_tenant_headers_come_from_the_authorizer_context(production: str) -> None:
    params = only(production, ApiGatewayIntegration.TF_RESOURCE_TYPE)["request_parameters"]
    assert params["integration.request.header.X-Tenant-Id"] == "context.authorizer.tenant_id"
    assert params["integration.request.header.X-Tenant-Tier"] == "context.authorizer.tier"


def test_default_endpoint_disabled_only_with_a_domain(production: str, with_domain: str) -> None:
    assert only(production, ApiGatewayRestApi.TF_RESOURCE_TYPE)["disable_execute_api_endpoint"] is False
    assert only(with_domain, ApiGatewayRestApi.TF_RESOURCE_TYPE)["disable_execute_api_endpoint"] is True


def test_authorizer_function_runs_the_packaged_zip(production: str) -> None:
    function = only(production, LambdaFunction.TF_RESOURCE_TYPE)
    package = lambda_package.build(REPO)
    assert function["filename"] == lambda_package.ZIP_NAME
    assert function["source_code_hash"] == package.sha256_base64
    assert function["handler"] == "authorizer.handler.handler" and function["runtime"] == "python3.11"
    assert "authorizer/handler.py" in package.names
    assert function["environment"]["variables"]["CATALOGUE_TABLE"].startswith("${aws_dynamodb_table.")
    permission = only(production, LambdaPermission.TF_RESOURCE_TYPE)
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert re.fullmatch(r"\$\{aws_api_gateway_rest_api\.\w+\.execution_arn\}/authorizers/"
                        r"\$\{aws_api_gateway_authorizer\.\w+\.id\}", permission["source_arn"])


def test_authorizer_role_least_privilege(production: str) -> None:
    (policy,) = [json.loads(p["policy"]) for p in resources(production, IamRolePolicy.TF_RESOURCE_TYPE).values()
                 if p["name"] == "authorizer"]
    actions = {s["Sid"]: (s["Action"], s["Resource"]) for s in policy["Statement"]}
    action, resource = actions["ReadCatalogueEntry"]
    assert action == "dynamodb:GetItem"
    assert re.fullmatch(r"\$\{aws_dynamodb_table\.\w*catalogue\w*\.arn\}", resource), resource
    assert "Query" not in json.dumps(policy) and "Scan" not in json.dumps(policy)
    assert actions["ReadApiKeyValues"] == ("apigateway:GET", "arn:aws:apigateway:us-east-1::/apikeys/*")
    assert sorted(actions) == ["OwnLogs", "ReadApiKeyValues", "ReadCatalogueEntry", "Tracing"]
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    (trust,) = [d for key, d in doc(production)["data"]["aws_iam_policy_document"].items() if "authorizer_trust" in key]
    (statement,) = trust["statement"]
    assert statement["actions"] == ["sts:AssumeRole"]
    assert statement["principals"] == [{"type": "Service", "identifiers": ["lambda.amazonaws.com"]}]


def test_stage_access_logging(production: str) -> None:
    stage = only(production, ApiGatewayStage.TF_RESOURCE_TYPE)
    assert stage["stage_name"] == "v1"
    assert "aws_cloudwatch_log_group." in stage["access_log_settings"]["destination_arn"]
    assert "$context.requestId" in json.loads(stage["access_log_settings"]["format"]).values()
    assert only(production, ApiGatewayAccount.TF_RESOURCE_TYPE)["reset_on_delete"] is True


@pytest.mark.parametrize("tier", list(Tier), ids=lambda t: t.value)
def test_one_usage_plan_per_tier(production: str, tier: Tier) -> None:
    settings = TIER_PROFILES[tier]
    assert has(production, ApiGatewayUsagePlan.TF_RESOURCE_TYPE, {
        "name": f"tenantform-{tier.value}",
        "throttle_settings": {"rate_limit": settings.throttle_rate_limit,
                              "burst_limit": settings.throttle_burst_limit},
    })


def test_usage_plans_basic_lowest_platinum_highest(production: str) -> None:
    plans = {p["name"]: p["throttle_settings"] for p in resources(production, ApiGatewayUsagePlan.TF_RESOURCE_TYPE).values()}
    assert len(plans) == len(Tier)
    rates = [plans[f"tenantform-{t.value}"]["rate_limit"] for t in Tier]
    bursts = [plans[f"tenantform-{t.value}"]["burst_limit"] for t in Tier]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    assert bursts == sorted(bursts) and len(set(bursts)) == len(bursts)


# --- frontends ------------------------------------------------------------------------------------------
def test_private_buckets_behind_origin_access_control(production: str) -> None:
    buckets = resources(production, S3Bucket.TF_RESOURCE_TYPE)
    assert sorted(b["bucket_prefix"] for b in buckets.values()) == ["tenantform-admin-", "tenantform-app-"]
    blocks = resources(production, S3BucketPublicAccessBlock.TF_RESOURCE_TYPE).values()
    assert len(blocks) == 2 and all(b["block_public_policy"] and b["restrict_public_buckets"] for b in blocks)
    assert has(production, CloudfrontOriginAccessControl.TF_RESOURCE_TYPE,
               {"origin_access_control_origin_type": "s3", "signing_behavior": "always", "signing_protocol": "sigv4"})
    policies = [d for key, d in doc(production)["data"]["aws_iam_policy_document"].items() if "bucket_policy" in key]
    assert len(policies) == 2
    for policy in policies:
        read = next(s for s in policy["statement"] if s["sid"] == "CloudFrontReadsThroughOriginAccessControl")
        assert read["principals"] == [{"type": "Service", "identifiers": ["cloudfront.amazonaws.com"]}]
        assert "aws_cloudfront_distribution." in read["condition"][0]["values"][0]


def test_spa_routing_and_https_only(production: str) -> None:
    distributions = resources(production, CloudfrontDistribution.TF_RESOURCE_TYPE).values()
    assert len(distributions) == 2
    for distribution in distributions:
        assert distribution["default_root_object"] == "index.html"
        assert sorted(e["error_code"] for e in distribution["custom_error_response"]) == [403, 404]
        assert {e["response_page_path"] for e in distribution["custom_error_response"]} == {"/index.html"}
        assert distribution["default_cache_behavior"]["viewer_protocol_policy"] == "redirect-to-https"
        assert "aws_cloudfront_origin_access_control." in distribution["origin"][0]["origin_access_control_id"]
        assert distribution["viewer_certificate"] == {"cloudfront_default_certificate": True}
        assert "aliases" not in distribution and "lifecycle" not in distribution


def test_custom_domain_tls12_aliases(with_domain: str) -> None:
    distributions = {d["comment"]: d for d in resources(with_domain, CloudfrontDistribution.TF_RESOURCE_TYPE).values()}
    assert distributions["tenantform app SPA"]["aliases"] == [f"*.app.{DOMAIN}"]
    assert distributions["tenantform admin SPA"]["aliases"] == [f"admin.{DOMAIN}"]
    for distribution in distributions.values():
        certificate = distribution["viewer_certificate"]
        assert certificate["minimum_protocol_version"] == "TLSv1.2_2021"
        assert certificate["ssl_support_method"] == "sni-only"
        assert "aws_acm_certificate_validation." in certificate["acm_certificate_arn"]


# --- custom domain --------------------------------------------------------------------------------------
def test_no_domain_no_route53_no_acm(production: str) -> None:
    kinds = set(doc(production)["resource"])
    assert not kinds & {AcmCertificate.TF_RESOURCE_TYPE, Route53Record.TF_RESOURCE_TYPE,
                        ApiGatewayDomainName.TF_RESOURCE_TYPE, Route53Zone.TF_RESOURCE_TYPE}
    assert doc(production)["output"]["hosted_zone_id"]["value"] == ""
    assert "${aws_api_gateway_stage." in doc(production)["output"]["api_endpoint"]["value"]
    assert len(doc(production)["provider"]["aws"]) == 1


def test_custom_domain_certificates_and_records(with_domain: str) -> None:
    certificates = {c["domain_name"]: c for c in resources(with_domain, AcmCertificate.TF_RESOURCE_TYPE).values()}
    assert set(certificates) == {f"*.app.{DOMAIN}", f"api.{DOMAIN}"}
    assert certificates[f"*.app.{DOMAIN}"]["subject_alternative_names"] == [f"admin.{DOMAIN}"]
    # CloudFront's certificate comes from us-east-1, the API's from the platform's region
    assert certificates[f"*.app.{DOMAIN}"]["provider"] == "aws.us_east_1"
    assert "provider" not in certificates[f"api.{DOMAIN}"]
    providers = {p.get("alias", ""): p for p in doc(with_domain)["provider"]["aws"]}
    assert providers["us_east_1"]["region"] == "us-east-1" and providers[""]["region"] == "eu-west-1"
    assert all(c["validation_method"] == "DNS" for c in certificates.values())
    assert CdktfTesting.to_have_data_source_with_properties(with_domain, DataAwsRoute53Zone.TF_RESOURCE_TYPE,
                                                       {"name": DOMAIN, "private_zone": False})
    records = list(resources(with_domain, Route53Record.TF_RESOURCE_TYPE).values())
    aliases = {(r["name"], r["type"]) for r in records if "alias" in r}
    assert aliases == {(f"admin.{DOMAIN}", "A"), (f"admin.{DOMAIN}", "AAAA"), (f"api.{DOMAIN}", "A")}
    # one validation record per certificate name, looked up by name (a for_each would have unknown keys)
    validation = sorted(r["name"] for r in records if "alias" not in r)
    assert len(validation) == 3 and all(".domain_validation_options : option.domain_name => option }" in v
                                        for v in validation)
    assert {v.split('["')[1].split('"]')[0] for v in validation} == {f"*.app.{DOMAIN}", f"admin.{DOMAIN}",
                                                                     f"api.{DOMAIN}"}
    assert has(with_domain, ApiGatewayDomainName.TF_RESOURCE_TYPE,
               {"domain_name": f"api.{DOMAIN}", "security_policy": "TLS_1_2",
                "endpoint_configuration": {"types": ["REGIONAL"]}})
    mapping = only(with_domain, ApiGatewayBasePathMapping.TF_RESOURCE_TYPE)
    assert "aws_api_gateway_stage." in mapping["stage_name"] and "aws_api_gateway_domain_name." in mapping["domain_name"]
    outputs = doc(with_domain)["output"]
    assert outputs["api_endpoint"]["value"] == f"https://api.{DOMAIN}"
    assert "data.aws_route53_zone." in outputs["hosted_zone_id"]["value"]


def test_hosted_zone_created_when_asked(two_zones: str) -> None:
    assert has(two_zones, Route53Zone.TF_RESOURCE_TYPE, {"name": "saas.example.org"})
    assert "aws_route53_zone" not in doc(two_zones).get("data", {})


# --- outputs, providers, backend ------------------------------------------------------------------------
def test_outputs_are_exactly_the_documented_contract(production: str, with_domain: str) -> None:
    for synthesised in (production, with_domain):
        outputs = doc(synthesised)["output"]
        assert sorted(outputs) == sorted(platform_output_names())
        for name, output in outputs.items():
            assert output["description"] == PLATFORM_OUTPUT_DESCRIPTIONS[name]
    usage_plans = doc(production)["output"]["usage_plan_ids"]["value"]
    assert set(usage_plans) == {t.value for t in Tier}
    assert all(v.startswith("${aws_api_gateway_usage_plan.") for v in usage_plans.values())


def test_backend_and_required_providers(production: str, local: str) -> None:
    for synthesised in (production, local):
        terraform = doc(synthesised)["terraform"]
        assert terraform["required_providers"] == {"aws": PROVIDER_REQUIREMENTS["aws"]}
        assert terraform["backend"]["s3"]["key"] == PLATFORM_STATE_KEY
        assert "local" not in terraform["backend"]
    assert doc(local)["provider"]["aws"][0]["skip_credentials_validation"] is True
    assert "skip_credentials_validation" not in doc(production)["provider"]["aws"][0]
    assert doc(production)["provider"]["aws"][0]["default_tags"] == [{"tags": {"managed-by": "tenantform"}}]


# --- the local (moto) target -----------------------------------------------------------------------------
def test_local_target_switches_off_what_moto_cannot_serve(local: str, production: str) -> None:
    assert set(EMULATOR_UNSUPPORTED) == {"enable_vpc_cni_addon", "enable_node_target_registration"}
    kinds = set(doc(local)["resource"])
    assert EksAddon.TF_RESOURCE_TYPE not in kinds and AutoscalingAttachment.TF_RESOURCE_TYPE not in kinds
    assert "aws_eks_addon_version" not in doc(local)["data"]
    assert {EksAddon.TF_RESOURCE_TYPE, AutoscalingAttachment.TF_RESOURCE_TYPE} <= set(doc(production)["resource"])
    # everything else is the same set of resource types
    assert set(doc(production)["resource"]) - kinds == {EksAddon.TF_RESOURCE_TYPE,
                                                        AutoscalingAttachment.TF_RESOURCE_TYPE}


def test_local_target_ignores_only_moto_read_back_quirks(local: str) -> None:
    assert only(local, EksCluster.TF_RESOURCE_TYPE)["lifecycle"]["ignore_changes"] == ["access_config",
                                                                                        "upgrade_policy"]
    assert only(local, EksNodeGroup.TF_RESOURCE_TYPE)["lifecycle"]["ignore_changes"] == [
        "scaling_config[0].desired_size", "remote_access", "update_config"]
    assert only(local, ApiGatewayIntegration.TF_RESOURCE_TYPE)["lifecycle"]["ignore_changes"] == ["connection_id"]
    for distribution in resources(local, CloudfrontDistribution.TF_RESOURCE_TYPE).values():
        assert "origin" in distribution["lifecycle"]["ignore_changes"]
    assert "reset_on_delete" not in only(local, ApiGatewayAccount.TF_RESOURCE_TYPE)


# --- snapshots ------------------------------------------------------------------------------------------
def test_snapshot_without_domain(production: str, snapshot) -> None:  # noqa: ANN001
    assert doc(production) == snapshot


def test_snapshot_with_domain(with_domain: str, snapshot) -> None:  # noqa: ANN001
    assert doc(with_domain) == snapshot


# --- configuration (platform.toml) ----------------------------------------------------------------------
def test_repository_platform_toml_documents_every_input_with_its_default() -> None:
    text = (REPO / "platform.toml").read_text(encoding="utf-8")
    assert load_platform_config(REPO / "platform.toml") == PlatformConfig()
    documented = (REPO / "docs" / "platform.md").read_text(encoding="utf-8")
    docs = field_docs()
    for field in fields(PlatformConfig):
        assert docs.get(field.name), f"{field.name} has no docstring"
        assert re.search(rf"^#? ?\[?{field.name}\]? ?=?", text, re.MULTILINE), f"{field.name} not in platform.toml"
        assert f"`{field.name}`" in documented, f"{field.name} not in docs/platform.md"
    assert set(CLUSTER_AUTOSCALER_IMAGE_TAGS) >= {PlatformConfig().kubernetes_version}


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ("node_min_size = 4", "node_desired_size", "1 <= node_min_size"),
    ('availability_zone_count = "3"', "availability_zone_count", "an integer"),
    ("availability_zone_count = 4", "availability_zone_count", "2 or 3"),
    ('vpc_cidr = "10.0.0.0/8"', "vpc_cidr", "/16 to /20"),
    ('kubernetes_version = "1.29"', "kubernetes_version", "1.31"),
    ('node_capacity_type = "RESERVED"', "node_capacity_type", "'SPOT'"),
    ("ingress_node_port = 8080", "ingress_node_port", "30000 to 32767"),
    ('cluster_log_types = ["api", "kubelet"]', "cluster_log_types", "controllerManager"),
    ("log_retention_days = 31", "log_retention_days", "30"),
    ('domain = "Example.COM"', "domain", "lower-case DNS name"),
    ("enable_vpc_cni_addon = 1", "enable_vpc_cni_addon", "true or false"),
    ("enable_endpoint_public_access = false\nenable_endpoint_private_access = false",
     "enable_endpoint_private_access", "at least one"),
    ('endpoint_public_access_cidrs = ["everywhere"]', "endpoint_public_access_cidrs", "IPv4 CIDRs"),
    ("tags = { team = 1 }", "tags", '[tags] with key = "value"'),
    ('nodes = 3', "nodes", "node_min_size"),
])
def test_invalid_settings_name_the_field_and_what_is_allowed(tmp_path: Path, body: str, field: str,
                                                               fragment: str) -> None:
    path = tmp_path / "platform.toml"
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as error:
        load_platform_config(path)
    assert error.value.field == field
    assert fragment in error.value.allowed
    assert str(path) in str(error.value)


def test_lists_become_tuples_and_emulator_turns_switches_off(tmp_path: Path) -> None:
    path = tmp_path / "platform.toml"
    path.write_text('node_instance_types = ["m6i.large", "m5.large"]\ndomain = "example.com"\n', encoding="utf-8")
    config = load_platform_config(path)
    assert config.node_instance_types == ("m6i.large", "m5.large") and config.domain == "example.com"
    local = config.for_emulator()
    assert not local.enable_vpc_cni_addon and not local.enable_node_target_registration
    assert local.domain == "example.com" and config.enable_vpc_cni_addon
