"""The tenant module's AWS layer, synthesised by CDKTF: per tier, as a module, and its root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantform.module_schema import INFRA_OUTPUTS, INFRA_VARIABLES, infra_inputs
from tenantform.names import INFRA
from tenantform.pins import PROVIDER_REQUIREMENTS
from tenantform.platform_config import PlatformConfig
from tenantform.roots import fingerprint, render_infra_root
from tenantform.synthesis import AppConfig
from tenantform.targets import LocalTarget, Settings
from tenantform.tenant import Tenant
from tenantform.tiers import Tier, profile

cdktf = pytest.importorskip("cdktf")  # installed by the README's test command; import costs ~20 s once
from cdktf import App, Testing  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_api_key import ApiGatewayApiKey  # noqa: E402
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey  # noqa: E402
from cdktf_cdktf_provider_aws.cognito_user import CognitoUser  # noqa: E402
from cdktf_cdktf_provider_aws.cognito_user_pool_client import CognitoUserPoolClient  # noqa: E402
from cdktf_cdktf_provider_aws.route53_record import Route53Record  # noqa: E402
from cdktf_cdktf_provider_aws.cognito_user_pool import CognitoUserPool  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument  # noqa: E402
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable  # noqa: E402
from cdktf_cdktf_provider_aws.dynamodb_table_item import DynamodbTableItem  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role import IamRole  # noqa: E402

from modules.tenant_infra import POOLED_TABLE_ACTIONS  # noqa: E402
from modules.tenant_module import TenantModuleStack  # noqa: E402
from modules.tenant_stack import TenantStack  # noqa: E402

PLATFORM = PlatformConfig()


def tenant(tier: Tier, tenant_id: str = "acme") -> Tenant:
    return Tenant(id=tenant_id, company_name="Acme Corp", admin_email=f"admin@{tenant_id}.example.com", tier=tier)


def synth_tenant(t: Tenant, *, emulator: bool = False) -> str:
    app = Testing.app()
    stack = TenantStack(app, f"tenant-{t.id}", tenant=t, platform=PLATFORM,
                        config=AppConfig(platform_config_path="platform.toml", emulator=emulator))
    return Testing.synth(stack)


def resources(synth: str, resource_type: str) -> dict:
    return json.loads(synth)["resource"][resource_type]


def data_sources(synth: str, data_type: str) -> dict:
    return json.loads(synth)["data"][data_type]


@pytest.fixture(scope="module", params=list(Tier), ids=lambda t: t.value)
def tier_synth(request: pytest.FixtureRequest) -> tuple[Tier, str]:
    return request.param, synth_tenant(tenant(request.param))


def test_order_table_per_tier(tier_synth: tuple[Tier, str]) -> None:
    tier, synth = tier_synth
    settings = profile(tier)
    assert Testing.to_have_resource_with_properties(synth, DynamodbTable.TF_RESOURCE_TYPE, {
        "name": "Order-acme",
        "billing_mode": "PAY_PER_REQUEST",
        "server_side_encryption": {"enabled": True},
        "point_in_time_recovery": {"enabled": settings.enable_point_in_time_recovery},
        "deletion_protection_enabled": settings.enable_deletion_protection,
    })
    # negative: the other setting is not there
    assert Testing.to_have_resource_with_properties(synth, DynamodbTable.TF_RESOURCE_TYPE, {
        "point_in_time_recovery": {"enabled": not settings.enable_point_in_time_recovery},
    }) is False


# Written out by hand (not read from tenantform.tiers): premium and platinum keep their data.
PROTECTED = {Tier.BASIC: False, Tier.STANDARD: False, Tier.PREMIUM: True, Tier.PLATINUM: True}


def test_premium_and_platinum_order_table_and_user_pool_are_protected(tier_synth: tuple[Tier, str]) -> None:
    tier, synth = tier_synth
    (table,) = resources(synth, DynamodbTable.TF_RESOURCE_TYPE).values()
    (pool,) = resources(synth, CognitoUserPool.TF_RESOURCE_TYPE).values()
    assert table["deletion_protection_enabled"] is PROTECTED[tier]
    assert table["point_in_time_recovery"] == {"enabled": PROTECTED[tier]}
    assert pool["deletion_protection"] == ("ACTIVE" if PROTECTED[tier] else "INACTIVE")


def test_admin_user_carries_tenant_and_tier(tier_synth: tuple[Tier, str]) -> None:
    tier, synth = tier_synth
    assert Testing.to_have_resource_with_properties(synth, CognitoUser.TF_RESOURCE_TYPE, {
        "username": "admin-acme",
        "desired_delivery_mediums": ["EMAIL"],
        "attributes": {"email": "admin@acme.example.com", "email_verified": "true",
                       "custom:tenant-id": "acme", "custom:tier": tier.value},
    })
    other = next(t for t in Tier if t is not tier)
    assert Testing.to_have_resource_with_properties(synth, CognitoUser.TF_RESOURCE_TYPE, {
        "attributes": {"custom:tier": other.value}}) is False


def test_user_pool_declares_the_custom_attributes_immutable(tier_synth: tuple[Tier, str]) -> None:
    _, synth = tier_synth
    pool = next(iter(resources(synth, CognitoUserPool.TF_RESOURCE_TYPE).values()))
    assert {s["name"] for s in pool["schema"]} == {"tenant-id", "tier"}
    for attribute in pool["schema"]:
        assert attribute["mutable"] is False, attribute["name"]  # set once, at AdminCreateUser
        assert attribute["developer_only_attribute"] is False
    assert pool["admin_create_user_config"]["allow_admin_create_user_only"] is True
    mutable = json.loads(synth)
    for attribute in next(iter(mutable["resource"]["aws_cognito_user_pool"].values()))["schema"]:
        attribute["mutable"] = True
    assert not Testing.to_have_resource_with_properties(synth, CognitoUserPool.TF_RESOURCE_TYPE, {
        "schema": next(iter(mutable["resource"]["aws_cognito_user_pool"].values()))["schema"]})


# The schema each user pool generation was released with; a schema change without a new generation
# would be planned as an in-place update that Cognito refuses ("cannot modify or remove schema items").
SCHEMA_OF_GENERATION = {2: [("tenant-id", False), ("tier", False)]}


def test_a_schema_change_comes_with_a_new_user_pool_generation(tier_synth: tuple[Tier, str]) -> None:
    from modules.tenant_infra import USER_POOL_GENERATION

    _, synth = tier_synth
    pools = resources(synth, CognitoUserPool.TF_RESOURCE_TYPE)
    assert list(pools) == [f"user_pool_g{USER_POOL_GENERATION}"]
    schema = sorted((a["name"], a["mutable"]) for a in pools[f"user_pool_g{USER_POOL_GENERATION}"]["schema"])
    assert SCHEMA_OF_GENERATION.get(USER_POOL_GENERATION) == schema, (
        "the user pool schema changed: bump modules/tenant_infra.py USER_POOL_GENERATION and record it here")


def test_app_client_cannot_write_the_tenant_claims(tier_synth: tuple[Tier, str]) -> None:
    _, synth = tier_synth
    client = next(iter(resources(synth, CognitoUserPoolClient.TF_RESOURCE_TYPE).values()))
    # written by hand from the Cognito attribute names, not from the module's constants
    assert client["write_attributes"] == ["email", "name"]
    assert client["read_attributes"] == ["email", "email_verified", "name", "custom:tenant-id", "custom:tier"]
    assert not [a for a in client["write_attributes"] if a.startswith("custom:")]
    for claim in ("custom:tenant-id", "custom:tier"):
        assert not Testing.to_have_resource_with_properties(synth, CognitoUserPoolClient.TF_RESOURCE_TYPE, {
            "write_attributes": ["email", "name", claim]})


def test_admin_user_tier_attribute_is_not_rewritten(tier_synth: tuple[Tier, str]) -> None:
    _, synth = tier_synth
    user = next(iter(resources(synth, CognitoUser.TF_RESOURCE_TYPE).values()))
    assert user["lifecycle"]["ignore_changes"] == ['attributes["custom:tier"]']


def test_irsa_trust_admits_only_the_tenant_service_account(tier_synth: tuple[Tier, str]) -> None:
    _, synth = tier_synth
    trust = data_sources(synth, DataAwsIamPolicyDocument.TF_RESOURCE_TYPE)["irsa_trust"]
    (statement,) = trust["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert statement["principals"] == [{"type": "Federated", "identifiers": [
        infra_inputs(tenant(Tier.BASIC), PLATFORM, platform_refs=False)["oidc_provider_arn"]]}]
    conditions = {c["variable"].split(":")[-1]: c for c in statement["condition"]}
    assert conditions["sub"]["test"] == "StringEquals"
    assert conditions["sub"]["values"] == ["system:serviceaccount:acme:acme-service-account"]
    assert conditions["aud"]["values"] == ["sts.amazonaws.com"]
    assert Testing.to_have_resource_with_properties(synth, IamRole.TF_RESOURCE_TYPE,
                                                    {"name": "tenantform-acme-tenant"})


def test_pooled_table_access_is_bound_to_the_leading_key_and_has_no_scan(tier_synth: tuple[Tier, str]) -> None:
    _, synth = tier_synth
    policy = data_sources(synth, DataAwsIamPolicyDocument.TF_RESOURCE_TYPE)["data_access"]
    by_sid = {s["sid"]: s for s in policy["statement"]}
    pooled = by_sid["PooledProductsOwnPartitionOnly"]
    assert pooled["resources"] == ["arn:aws:dynamodb:us-east-1:123456789012:table/Product"]
    assert "dynamodb:Scan" not in pooled["actions"]
    assert not any(a.endswith("*") for a in pooled["actions"])
    assert sorted(pooled["actions"]) == sorted(POOLED_TABLE_ACTIONS)
    conditions = {(c["test"], c["variable"]): c["values"] for c in pooled["condition"]}
    assert conditions[("ForAllValues:StringEquals", "dynamodb:LeadingKeys")] == ["acme"]
    assert conditions[("Null", "dynamodb:LeadingKeys")] == ["false"]
    own = by_sid["OwnOrderTable"]
    assert own["resources"] == ["${aws_dynamodb_table.order_table[0].arn}"]  # counted: silo only
    for statement in policy["statement"]:
        assert all("*" not in resource for resource in statement["resources"])


def test_catalogue_entry_is_owned_by_the_tenant(tier_synth: tuple[Tier, str]) -> None:
    tier, synth = tier_synth
    (item,) = resources(synth, DynamodbTableItem.TF_RESOURCE_TYPE).values()
    assert item["table_name"] == PLATFORM.catalogue_table_name
    assert item["hash_key"] == "tenant_id"
    compact = item["item"].replace(" ", "")
    assert compact.startswith("${jsonencode(")
    assert '"tenant_id"={"S"="acme"}' in compact
    assert f'"tier"={{"S"="{tier.value}"}}' in compact
    assert '"user_pool_id"={"S"=aws_cognito_user_pool.user_pool_g2.id}' in compact
    assert '"app_client_id"={"S"=aws_cognito_user_pool_client.app_client.id}' in compact
    assert '"api_key_id"={"S"=aws_api_gateway_api_key.api_key.id}' in compact


def test_api_key_joins_its_tiers_usage_plan(tier_synth: tuple[Tier, str]) -> None:
    tier, synth = tier_synth
    assert Testing.to_have_resource_with_properties(synth, ApiGatewayUsagePlanKey.TF_RESOURCE_TYPE, {
        "key_type": "API_KEY", "usage_plan_id": f"plan-{tier.value}"})
    other = next(t for t in Tier if t is not tier)
    assert Testing.to_have_resource_with_properties(synth, ApiGatewayUsagePlanKey.TF_RESOURCE_TYPE, {
        "usage_plan_id": f"plan-{other.value}"}) is False
    assert Testing.to_have_resource_with_properties(synth, ApiGatewayApiKey.TF_RESOURCE_TYPE,
                                                    {"name": "tenantform-acme", "enabled": True})


def test_without_a_domain_no_alias_record_and_callbacks_on_the_app_distribution(tier_synth: tuple[Tier, str]) -> None:
    _, synth = tier_synth
    assert Testing.to_have_resource_with_properties(synth, Route53Record.TF_RESOURCE_TYPE, {"count": 0})
    client = next(iter(resources(synth, CognitoUserPoolClient.TF_RESOURCE_TYPE).values()))
    # the stand-alone stack's placeholder for the platform's app distribution name: https, never localhost
    assert client["callback_urls"] == client["logout_urls"] == ["https://d111111abcdef8.cloudfront.net/"]


def test_a_tenant_root_without_a_domain_calls_back_to_the_app_distribution(tmp_path) -> None:  # noqa: ANN001
    from tenantform.roots import render_infra_root
    from tenantform.targets import AwsTarget, Settings, TargetKind
    from tenantform.tenant import Tenant

    platform = PlatformConfig()
    target = AwsTarget(Settings(project_dir=tmp_path, target=TargetKind.AWS, state_bucket="b"), platform)
    root = render_infra_root(Tenant.create(id="acme", company_name="Acme", admin_email="a@acme.example.com",
                                           tier="basic"),
                             target=target, platform=platform, version="v1", out_dir=tmp_path)
    assert root["module"]["tenant"]["callback_urls"] == [
        "https://${data.terraform_remote_state.platform.outputs.app_distribution_domain_name}/"]
    assert "localhost" not in json.dumps(root)


def test_with_a_domain_the_tenant_gets_its_host_and_callbacks() -> None:
    platform = PlatformConfig(domain="saas.example.com")
    app = Testing.app()
    stack = TenantStack(app, "tenant-acme", tenant=tenant(Tier.BASIC), platform=platform,
                        config=AppConfig(platform_config_path="platform.toml"))
    synth = Testing.synth(stack)
    assert Testing.to_have_resource_with_properties(synth, Route53Record.TF_RESOURCE_TYPE, {
        "count": 1, "name": "acme.app.saas.example.com", "type": "A", "zone_id": "Z0EXAMPLE",
        "alias": {"name": "d111111abcdef8.cloudfront.net", "zone_id": "Z2FDTNDATAQYW2",
                  "evaluate_target_health": False}})
    client = next(iter(resources(synth, CognitoUserPoolClient.TF_RESOURCE_TYPE).values()))
    assert client["callback_urls"] == ["https://acme.app.saas.example.com/"]


def test_emulator_flavour_only_ignores_what_moto_reports_wrongly() -> None:
    real = resources(synth_tenant(tenant(Tier.BASIC)), CognitoUser.TF_RESOURCE_TYPE)["admin_user"]
    emulated = resources(synth_tenant(tenant(Tier.BASIC), emulator=True), CognitoUser.TF_RESOURCE_TYPE)["admin_user"]
    # AWS: only the immutable tier attribute (a tier change must not try to rewrite it)
    assert real["lifecycle"] == {"ignore_changes": ['attributes["custom:tier"]']}
    assert emulated["lifecycle"] == {"ignore_changes": ["attributes"]}
    for resource_type, name in ((CognitoUserPool.TF_RESOURCE_TYPE, "user_pool_g2"),
                                (ApiGatewayApiKey.TF_RESOURCE_TYPE, "api_key")):
        assert "lifecycle" not in resources(synth_tenant(tenant(Tier.BASIC)), resource_type)[name]
        assert resources(synth_tenant(tenant(Tier.BASIC), emulator=True), resource_type)[name]["lifecycle"] == \
            {"ignore_changes": ["tags"]}


# -- the module ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def module_json() -> dict:
    app = Testing.app()
    stack = TenantModuleStack(app, "tenant-infra-module", layer=INFRA)
    return json.loads(Testing.synth(stack))


def test_module_declares_exactly_the_schema(module_json: dict) -> None:
    assert set(module_json["variable"]) == set(INFRA_VARIABLES)
    for name, spec in INFRA_VARIABLES.items():
        assert module_json["variable"][name]["type"] == spec.type
        assert module_json["variable"][name]["description"] == spec.description
    assert set(module_json["output"]) == set(INFRA_OUTPUTS)


def test_module_has_no_provider_and_no_backend(module_json: dict) -> None:
    assert "provider" not in module_json
    assert "backend" not in module_json["terraform"]
    assert module_json["terraform"]["required_providers"] == {"aws": PROVIDER_REQUIREMENTS["aws"]}


def test_module_takes_names_from_inputs(module_json: dict) -> None:
    from modules.tenant_infra import USER_POOL_GENERATION

    table = module_json["resource"][DynamodbTable.TF_RESOURCE_TYPE]["order_table"]
    assert table["name"] == "${var.order_table_name}"
    assert table["deletion_protection_enabled"] == "${var.enable_deletion_protection}"
    pool = module_json["resource"][CognitoUserPool.TF_RESOURCE_TYPE][f"user_pool_g{USER_POOL_GENERATION}"]
    assert pool["deletion_protection"] == '${var.enable_deletion_protection ? "ACTIVE" : "INACTIVE"}'


def test_module_snapshot(module_json: dict, snapshot) -> None:  # noqa: ANN001
    # The snapshot is the module's contract: read and explain every change (docs/testing.md, snapshots).
    stable = {key: value for key, value in module_json.items() if key != "//"}  # CDKTF's metadata
    assert stable == snapshot


# -- a tenant root -----------------------------------------------------------------------------------
def local_target(tmp_path: Path) -> LocalTarget:
    return LocalTarget(Settings(project_dir=tmp_path), PLATFORM)


def test_root_calls_the_module_with_every_variable(tmp_path: Path) -> None:
    doc = render_infra_root(tenant(Tier.PREMIUM), target=local_target(tmp_path), platform=PLATFORM,
                            version="1.0.0-abc", out_dir=tmp_path / "cdktf.out")
    call = doc["module"]["tenant"]
    assert call["source"] == "../../modules/1.0.0-abc/infra"
    assert set(call) - {"source"} == set(INFRA_VARIABLES)
    backend = doc["terraform"]["backend"]["s3"]
    assert backend["key"] == "tenants/acme/infra.tfstate"
    assert backend["use_lockfile"] is True and backend["encrypt"] is True
    assert doc["terraform"]["required_providers"]["aws"]["source"] == "hashicorp/aws"
    assert call["oidc_provider_arn"] == "${data.terraform_remote_state.platform.outputs.oidc_provider_arn}"
    assert doc["data"]["terraform_remote_state"]["platform"]["config"]["key"] == "platform/aws.tfstate"


def test_root_escapes_template_sequences_in_tenant_data(tmp_path: Path) -> None:
    hostile = Tenant(id="acme", company_name="Acme ${file(\"/etc/passwd\")} %{if true}x%{endif}",
                     admin_email="admin@acme.example.com", tier=Tier.BASIC)
    doc = render_infra_root(hostile, target=local_target(tmp_path), platform=PLATFORM, version="v",
                            out_dir=tmp_path / "out")
    assert doc["module"]["tenant"]["company_name"] == 'Acme $${file("/etc/passwd")} %%{if true}x%%{endif}'


def test_root_has_no_endpoint_or_credentials(tmp_path: Path) -> None:
    text = json.dumps(render_infra_root(tenant(Tier.BASIC), target=local_target(tmp_path), platform=PLATFORM,
                                        version="v", out_dir=tmp_path / "out"))
    for needle in ("127.0.0.1", "access_key", "secret_key", "AKIA", "token", "endpoint"):
        assert needle not in text


def test_root_fingerprint_follows_inputs(tmp_path: Path) -> None:
    target = local_target(tmp_path)
    basic = render_infra_root(tenant(Tier.BASIC), target=target, platform=PLATFORM, version="v", out_dir=tmp_path)
    premium = render_infra_root(tenant(Tier.PREMIUM), target=target, platform=PLATFORM, version="v", out_dir=tmp_path)
    assert fingerprint(basic, "v") == fingerprint(basic, "v")
    assert fingerprint(basic, "v") != fingerprint(premium, "v")
    assert fingerprint(basic, "v") != fingerprint(basic, "w")


def test_root_snapshot(tmp_path: Path, snapshot) -> None:  # noqa: ANN001
    doc = render_infra_root(tenant(Tier.PLATINUM), target=local_target(tmp_path), platform=PLATFORM,
                            version="1.0.0-snapshot", out_dir=tmp_path / "cdktf.out")
    assert doc == snapshot
