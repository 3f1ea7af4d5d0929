"""The pool deployment (issue 14), synthesised: the platform's pool roles and table, a pooled
tenant's footprint, the routing, and the pool's namespace in `platform-k8s`.

The tenant-access policy is read from the synthesised `aws_iam_policy_document` as written
(`$${aws:PrincipalTag/tenant_id}`: Terraform's escape of a literal `${`); what AWS stores is read
back from moto's IAM in tests/test_pool_integration.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from cdktf import Testing as CdktfTesting  # aliased: pytest would try to collect `Testing*`
from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey
from cdktf_cdktf_provider_aws.cognito_user import CognitoUser
from cdktf_cdktf_provider_aws.cognito_user_pool_client import CognitoUserPoolClient
from cdktf_cdktf_provider_aws.cognito_user_pool_domain import CognitoUserPoolDomain
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.dynamodb_table_item import DynamodbTableItem
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_kubernetes.ingress_v1 import IngressV1
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider

from modules.platform.stack import PlatformStack
from modules.platform_k8s import PlatformK8sStack
from modules.platform_pool_k8s import PoolApps, pool_props
from modules.tenant_apps import kubernetes_manifests
from modules.tenant_infra import POOLED_TABLE_ACTIONS
from modules.tenant_stack import TenantStack
from tenantform.contract import platform_output_names
from tenantform.errors import InvalidInput, TenantformError
from tenantform.names import APPS, INFRA, layers_of
from tenantform.platform_config import PlatformConfig, load_platform_config
from tenantform.project import Project
from tenantform.roots import render_apps_root, render_infra_root
from tenantform.synthesis import AppConfig
from tenantform.targets import LocalTarget, Settings, TargetKind
from tenantform.tenant import Tenant
from tenantform.tiers import Deployment, Tier

POOLED = PlatformConfig(pooled_tiers=(Tier.BASIC,))
PRINCIPAL_TAG = "$${aws:PrincipalTag/tenant_id}"  # as synthesised; AWS stores ${aws:PrincipalTag/tenant_id}
ACCOUNT = "123456789012"


def tenant(tier: Tier, tenant_id: str = "acme") -> Tenant:
    return Tenant(id=tenant_id, company_name="Acme Corp", admin_email=f"admin@{tenant_id}.example.com", tier=tier)


@pytest.fixture(scope="module")
def platform_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("platform")
    config = Project(Settings(project_dir=tmp, target=TargetKind.AWS, state_bucket="tenantform-state"),
                     platform=POOLED).app_config()
    stack = PlatformStack(CdktfTesting.app(), "platform", platform=POOLED, config=config)
    return json.loads(CdktfTesting.synth(stack))


def by_name(doc: dict[str, Any], rtype: str, name_key: str = "name") -> dict[str, dict[str, Any]]:
    return {body[name_key]: body for body in doc["resource"][rtype].values() if name_key in body}


def logical(doc: dict[str, Any], rtype: str, name: str) -> str:
    (found,) = [key for key, body in doc["resource"][rtype].items() if body.get("name") == name]
    return found


def document(doc: dict[str, Any], reference: str) -> dict[str, Any]:
    """The aws_iam_policy_document a `${data.aws_iam_policy_document.<x>.json}` reference names."""
    prefix = f"${{data.{DataAwsIamPolicyDocument.TF_RESOURCE_TYPE}."
    assert reference.startswith(prefix) and reference.endswith(".json}"), reference
    return doc["data"][DataAwsIamPolicyDocument.TF_RESOURCE_TYPE][reference[len(prefix):-len(".json}")]]


def conditions(statement: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    return {(c["test"], c["variable"]): c["values"] for c in statement.get("condition", [])}


# --- configuration ----------------------------------------------------------------------------------
def test_deployment_is_derived_from_the_tier_and_pooled_tiers() -> None:
    assert PlatformConfig().pooled_tiers == ()
    assert {PlatformConfig().deployment_of(t) for t in Tier} == {Deployment.SILO}
    assert POOLED.deployment_of(Tier.BASIC) is Deployment.POOL
    assert POOLED.deployment_of("standard") is Deployment.SILO
    assert layers_of(Deployment.POOL) == (INFRA,)
    assert layers_of(Deployment.SILO) == (INFRA, APPS)


def test_pooled_tiers_load_as_tiers(tmp_path: Path) -> None:
    path = tmp_path / "platform.toml"
    path.write_text('pooled_tiers = ["basic", "standard"]\npooled_order_table_name = "PoolOrders"\n', encoding="utf-8")
    config = load_platform_config(path)
    assert config.pooled_tiers == (Tier.BASIC, Tier.STANDARD)
    assert config.pooled_order_table_name == "PoolOrders"


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ('pooled_tiers = ["gold"]', "pooled_tiers", "basic, standard, premium, platinum"),
    ('pooled_tiers = ["Basic"]', "pooled_tiers", "basic, standard, premium, platinum"),
    ('pooled_tiers = [" basic"]', "pooled_tiers", "basic, standard, premium, platinum"),
    ('pooled_tiers = ["basic", "basic"]', "pooled_tiers", "at most once"),
    ('pooled_tiers = "basic"', "pooled_tiers", "an array of strings"),
    ('pooled_order_table_name = "Product"', "pooled_order_table_name", "other than product_table_name"),
    ('pooled_order_table_name = "Order-acme"', "pooled_order_table_name", "Order-<tenant>"),
    ('pooled_order_table_name = "a b"', "pooled_order_table_name", "3-255"),
])
def test_bad_pool_settings_name_the_field(tmp_path: Path, body: str, field: str, fragment: str) -> None:
    path = tmp_path / "platform.toml"
    path.write_text(body + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as error:
        load_platform_config(path)
    assert error.value.field == field and fragment in error.value.allowed
    assert "\n" not in str(error.value) and str(path) in str(error.value)


# --- the platform's pool (AWS) ------------------------------------------------------------------------
def test_pooled_order_table_is_keyed_by_tenant_and_protected(platform_doc: dict[str, Any]) -> None:
    table = by_name(platform_doc, DynamodbTable.TF_RESOURCE_TYPE)["Order"]
    assert (table["hash_key"], table["range_key"]) == ("tenant_id", "order_id")
    assert {a["name"]: a["type"] for a in table["attribute"]} == {"tenant_id": "S", "order_id": "S"}
    assert table["server_side_encryption"] == {"enabled": True}
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["deletion_protection_enabled"] is True


def test_pool_outputs_are_part_of_the_contract(platform_doc: dict[str, Any]) -> None:
    outputs = platform_doc["output"]
    for name in ("pooled_order_table_name", "pooled_order_table_arn", "pool_service_role_arn",
                 "pool_tenant_access_role_arn"):
        assert name in platform_output_names() and name in outputs
    roles = {key: body["name"] for key, body in platform_doc["resource"][IamRole.TF_RESOURCE_TYPE].items()}
    service, access = (outputs["pool_service_role_arn"]["value"], outputs["pool_tenant_access_role_arn"]["value"])
    assert roles[service.split(".")[1]] == "tenantform-pool-service"
    assert roles[access.split(".")[1]] == "tenantform-pool-tenant-access"


def test_service_role_is_the_pool_service_accounts_and_may_only_assume_tenant_access(platform_doc) -> None:  # noqa: ANN001
    roles = by_name(platform_doc, IamRole.TF_RESOURCE_TYPE)
    (trust,) = document(platform_doc, roles["tenantform-pool-service"]["assume_role_policy"])["statement"]
    assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert trust["principals"][0]["type"] == "Federated"
    subjects = [c["values"] for c in trust["condition"] if c["variable"].endswith(":sub")]
    assert subjects == [["system:serviceaccount:pool:pool"]]
    service_key = logical(platform_doc, IamRole.TF_RESOURCE_TYPE, "tenantform-pool-service")
    access_key = logical(platform_doc, IamRole.TF_RESOURCE_TYPE, "tenantform-pool-tenant-access")
    policies = [p for p in platform_doc["resource"][IamRolePolicy.TF_RESOURCE_TYPE].values()
                if p["role"] == f"${{aws_iam_role.{service_key}.id}}"]
    (policy,) = policies  # its only permission
    (statement,) = document(platform_doc, policy["policy"])["statement"]
    assert statement["effect"] == "Allow"
    assert sorted(statement["actions"]) == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["resources"] == [f"${{aws_iam_role.{access_key}.arn}}"]


def test_tenant_access_role_trusts_only_the_service_role_with_a_tenant_tag(platform_doc) -> None:  # noqa: ANN001
    roles = by_name(platform_doc, IamRole.TF_RESOURCE_TYPE)
    service_key = logical(platform_doc, IamRole.TF_RESOURCE_TYPE, "tenantform-pool-service")
    statements = document(platform_doc, roles["tenantform-pool-tenant-access"]["assume_role_policy"])["statement"]
    for statement in statements:
        assert statement["effect"] == "Allow"
        assert statement["principals"] == [{"type": "AWS", "identifiers": [f"${{aws_iam_role.{service_key}.arn}}"]}]
        assert set(statement["actions"]) <= {"sts:AssumeRole", "sts:TagSession"}
        found = conditions(statement)
        assert found[("Null", "aws:RequestTag/tenant_id")] == ["false"]
        assert found[("ForAllValues:StringEquals", "aws:TagKeys")] == ["tenant_id"]
    assert {a for s in statements for a in s["actions"]} == {"sts:AssumeRole", "sts:TagSession"}


def test_tenant_access_policy_binds_the_leading_key_to_the_principal_tag_on_every_statement(platform_doc) -> None:  # noqa: ANN001
    access_key = logical(platform_doc, IamRole.TF_RESOURCE_TYPE, "tenantform-pool-tenant-access")
    (policy,) = [p for p in platform_doc["resource"][IamRolePolicy.TF_RESOURCE_TYPE].values()
                 if p["role"] == f"${{aws_iam_role.{access_key}.id}}"]
    statements = document(platform_doc, policy["policy"])["statement"]
    tables = {key: body["name"] for key, body in platform_doc["resource"][DynamodbTable.TF_RESOURCE_TYPE].items()}
    named = {f"${{aws_dynamodb_table.{key}.arn}}": name for key, name in tables.items()}
    by_sid = {s["sid"]: s for s in statements}
    assert set(by_sid) == {"PooledTablesOwnPartitionOnly", "OwnWriteFreezeFlagOnly"}
    for statement in statements:  # every statement: the key is the tag, present, and the tag present
        found = conditions(statement)
        leading = found[("ForAllValues:StringEquals", "dynamodb:LeadingKeys")]
        assert len(leading) == 1 and leading[0].startswith(PRINCIPAL_TAG)
        assert found[("Null", "dynamodb:LeadingKeys")] == ["false"]
        assert found[("Null", "aws:PrincipalTag/tenant_id")] == ["false"]
        assert not any(test.startswith("ForAnyValue") or test.endswith("IfExists") for test, _ in found)
        assert "dynamodb:Scan" not in statement["actions"] and not any("*" in a for a in statement["actions"])
    pooled = by_sid["PooledTablesOwnPartitionOnly"]
    assert sorted(pooled["actions"]) == sorted(POOLED_TABLE_ACTIONS)
    assert sorted(named[r] for r in pooled["resources"]) == ["Order", "Product"]
    assert conditions(pooled)[("ForAllValues:StringEquals", "dynamodb:LeadingKeys")] == [PRINCIPAL_TAG]
    freeze = by_sid["OwnWriteFreezeFlagOnly"]
    assert freeze["actions"] == ["dynamodb:GetItem"]
    assert [named[r] for r in freeze["resources"]] == ["TenantCatalogue"]
    assert conditions(freeze)[("ForAllValues:StringEquals", "dynamodb:LeadingKeys")] == [PRINCIPAL_TAG + "#move"]


def test_gateway_forwards_to_the_authorizers_deployment(platform_doc: dict[str, Any]) -> None:
    (integration,) = platform_doc["resource"][ApiGatewayIntegration.TF_RESOURCE_TYPE].values()
    assert integration["uri"].endswith(":80/{deployment}/{proxy}")
    assert integration["request_parameters"]["integration.request.path.deployment"] == "context.authorizer.deployment"
    assert integration["request_parameters"]["integration.request.path.proxy"] == "method.request.path.proxy"


# --- a tenant's footprint -----------------------------------------------------------------------------
def synth_tenant(t: Tenant, platform: PlatformConfig) -> dict[str, Any]:
    stack = TenantStack(CdktfTesting.app(), f"tenant-{t.id}", tenant=t, platform=platform,
                        config=AppConfig(platform_config_path="platform.toml"))
    return json.loads(CdktfTesting.synth(stack))


def counts(doc: dict[str, Any], rtype: str) -> list[Any]:
    section = "data" if rtype == DataAwsIamPolicyDocument.TF_RESOURCE_TYPE else "resource"
    return [body.get("count", 1) for body in doc[section].get(rtype, {}).values()]


def catalogue_item(doc: dict[str, Any]) -> str:
    (item,) = doc["resource"][DynamodbTableItem.TF_RESOURCE_TYPE].values()
    return item["item"]


def test_a_pooled_tenant_owns_only_its_identity_key_and_catalogue_entry() -> None:
    doc = synth_tenant(tenant(Tier.BASIC), POOLED)
    assert counts(doc, DynamodbTable.TF_RESOURCE_TYPE) == [0]
    assert counts(doc, IamRole.TF_RESOURCE_TYPE) == [0]
    assert counts(doc, IamRolePolicy.TF_RESOURCE_TYPE) == [0]
    assert counts(doc, DataAwsIamPolicyDocument.TF_RESOURCE_TYPE) == [0, 0]
    for kept in (CognitoUserPoolClient, CognitoUserPoolDomain, CognitoUser, ApiGatewayUsagePlanKey):
        assert counts(doc, kept.TF_RESOURCE_TYPE) == [1], kept.TF_RESOURCE_TYPE
    assert '"deployment" = {"S" = "pool"}' in catalogue_item(doc)
    assert doc["output"]["irsa_role_arn"]["value"] == '${try(aws_iam_role.irsa_role[0].arn, "")}'


@pytest.mark.parametrize("platform", [PlatformConfig(), POOLED], ids=["no-pool", "basic-pooled"])
def test_a_silo_tenant_keeps_its_table_and_role_and_is_routed_to_the_silo(platform: PlatformConfig) -> None:
    doc = synth_tenant(tenant(Tier.STANDARD), platform)
    assert counts(doc, DynamodbTable.TF_RESOURCE_TYPE) == [1]
    assert counts(doc, IamRole.TF_RESOURCE_TYPE) == counts(doc, IamRolePolicy.TF_RESOURCE_TYPE) == [1]
    assert '"deployment" = {"S" = "silo"}' in catalogue_item(doc)
    policy = doc["data"][DataAwsIamPolicyDocument.TF_RESOURCE_TYPE]["data_access"]
    (freeze,) = [s for s in policy["statement"] if s.get("sid") == "OwnWriteFreezeFlagOnly"]
    assert freeze["actions"] == ["dynamodb:GetItem"]
    assert freeze["resources"] == [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/TenantCatalogue"]
    assert conditions(freeze)[("ForAllValues:StringEquals", "dynamodb:LeadingKeys")] == ["acme#move"]


def test_roots_follow_the_deployment_and_a_move_overrides_it(tmp_path: Path) -> None:
    target = LocalTarget(Settings(project_dir=tmp_path), POOLED)
    common = dict(target=target, platform=POOLED, version="v", out_dir=tmp_path / "cdktf.out")
    pooled = render_infra_root(tenant(Tier.BASIC), **common)["module"]["tenant"]
    assert (pooled["deployment"], pooled["routing"]) == ("pool", "pool")
    silo = render_infra_root(tenant(Tier.PREMIUM), **common)["module"]["tenant"]
    assert (silo["deployment"], silo["routing"]) == ("silo", "silo")
    # a move into a silo: the footprint first, the routing afterwards
    moving = render_infra_root(tenant(Tier.BASIC), **common, deployment="silo", routing="pool")["module"]["tenant"]
    assert (moving["deployment"], moving["routing"]) == ("silo", "pool")
    render_apps_root(tenant(Tier.PREMIUM), **common)  # a silo tenant has an apps root
    with pytest.raises(TenantformError, match="acme .basic. runs in the pool: it has no apps layer"):
        render_apps_root(tenant(Tier.BASIC), **common)


# --- the pool's namespace (platform-k8s) ---------------------------------------------------------------
def k8s_doc(tmp: Path, platform: PlatformConfig) -> dict[str, Any]:
    config = Project(Settings(project_dir=tmp, target=TargetKind.AWS, state_bucket="tenantform-state"),
                     platform=platform).app_config()
    return json.loads(CdktfTesting.synth(PlatformK8sStack(CdktfTesting.app(), "k8s", platform=platform, config=config)))


class LiteralPool(TerraformStack):
    def __init__(self, scope: Any, stack_id: str) -> None:
        super().__init__(scope, stack_id)
        KubernetesProvider(self, "kubernetes")
        PoolApps(self, "pool", props=pool_props(
            POOLED, service_role_arn=f"arn:aws:iam::{ACCOUNT}:role/tenantform-pool-service",
            image_registry=f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/tenantform", pooled_order_table_name="Order"),
            tenant_access_role_arn=f"arn:aws:iam::{ACCOUNT}:role/tenantform-pool-tenant-access")


@pytest.fixture(scope="module")
def pool_manifests() -> list[dict[str, Any]]:
    return kubernetes_manifests(json.loads(CdktfTesting.synth(LiteralPool(CdktfTesting.app(), "pool"))))


def kinds(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def test_no_pool_namespace_without_pooled_tiers(tmp_path: Path) -> None:
    doc = k8s_doc(tmp_path, PlatformConfig())
    assert [n["metadata"]["name"] for n in doc["resource"][NamespaceV1.TF_RESOURCE_TYPE].values()] == ["ingress-nginx"]
    assert IngressV1.TF_RESOURCE_TYPE not in doc["resource"]


def test_pool_workloads_read_the_platform_outputs(tmp_path: Path) -> None:
    doc = k8s_doc(tmp_path, POOLED)
    text = json.dumps(doc["resource"])
    for output in ("pool_service_role_arn", "pool_tenant_access_role_arn", "pooled_order_table_name", "image_registry"):
        assert f"data.terraform_remote_state.platform.outputs.{output}" in text
    (ingress,) = doc["resource"][IngressV1.TF_RESOURCE_TYPE].values()
    assert ingress["depends_on"] == ["helm_release.ingress_nginx"]


def test_pool_namespace_service_account_and_environment(pool_manifests: list[dict[str, Any]]) -> None:
    (namespace,) = kinds(pool_manifests, "Namespace")
    assert namespace["metadata"]["name"] == "pool"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (account,) = kinds(pool_manifests, "ServiceAccount")
    assert account["metadata"]["name"] == "pool" and account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/tenantform-pool-service"}
    tables = {"product": ("PRODUCT_TABLE_NAME", "Product"), "order": ("ORDER_TABLE_NAME", "Order")}
    deployments = kinds(pool_manifests, "Deployment")
    assert sorted(d["metadata"]["name"] for d in deployments) == ["order", "product"]
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == "pool"
        (container,) = spec["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        table_env, table = tables[deployment["metadata"]["name"]]
        assert env == {"POOL": "true", "TENANT_ACCESS_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/tenantform-pool-tenant-access",
                       table_env: table, "CATALOGUE_TABLE": "TenantCatalogue"}  # no TENANT_ID: every pooled tenant
        assert deployment["spec"]["replicas"] >= 2
    assert {h["spec"]["scaleTargetRef"]["name"] for h in kinds(pool_manifests, "HorizontalPodAutoscaler")} == {
        "product", "order"}
    assert len(kinds(pool_manifests, "ResourceQuota")) == len(kinds(pool_manifests, "LimitRange")) == 1


def test_pool_network_policies_deny_by_default(pool_manifests: list[dict[str, Any]]) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in kinds(pool_manifests, "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    (rule,) = policies["allow-from-ingress-controller"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    dns_ports = {(p["port"], p["protocol"]) for p in policies["allow-dns-egress"]["egress"][0]["ports"]}
    assert dns_ports == {(53, "UDP"), (53, "TCP")}
    (https,) = policies["allow-aws-https-egress"]["egress"]
    assert https["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert "10.0.0.0/8" in https["to"][0]["ipBlock"]["except"]


def test_pool_ingress_serves_only_paths_under_pool(pool_manifests: list[dict[str, Any]]) -> None:
    (ingress,) = kinds(pool_manifests, "Ingress")
    assert ingress["metadata"]["annotations"] == {"nginx.ingress.kubernetes.io/use-regex": "true"}
    assert "defaultBackend" not in ingress["spec"]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {"/pool/[a-z]([-a-z0-9]*[a-z0-9])?/products(/|$)": "product",
                     "/pool/[a-z]([-a-z0-9]*[a-z0-9])?/orders(/|$)": "order"}


def test_pool_manifests_are_valid_for_the_cluster_version(pool_manifests: list[dict[str, Any]]) -> None:
    assert len(pool_manifests) == 16  # the kinds of a tenant's apps layer, once
    for manifest in pool_manifests:
        # raises ValidationError on any error; returns the schema version used
        assert kubernetes_validate.validate(manifest, POOLED.kubernetes_version, strict=True) \
            == POOLED.kubernetes_version, manifest["metadata"]["name"]


def test_a_move_keeps_the_freeze_as_long_as_routing_may_be_cached() -> None:
    """After the switch, the gateway may reuse an authorizer decision (and the authorizer its
    catalogue entry) naming the old deployment: the freeze must outlast both caches."""
    from modules.platform.authorizer import RESULT_TTL_SECONDS
    from services.authorizer.catalogue import Catalogue
    from tenantform.tenant_move import ROUTING_SETTLE_SECONDS

    catalogue_ttl = Catalogue.__dataclass_fields__["ttl"].default
    assert ROUTING_SETTLE_SECONDS >= RESULT_TTL_SECONDS + catalogue_ttl
