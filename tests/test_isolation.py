"""Tenant isolation, proven on the synthesised module (per tier, per generated tenant id) and on
the policies moto holds after a real `invoke onboard`.

The checkers live in tenantform/checks.py, so `invoke check` enforces exactly what these tests
prove; the negative tests below show that each checker fails on the broken variant.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tenantform import checks
from tenantform.module_schema import apps_inputs, infra_inputs
from tenantform.names import APPS, INFRA, tenant_names
from tenantform.platform_config import PlatformConfig
from tenantform.tenant import Tenant
from tenantform.tiers import Tier

cdktf = pytest.importorskip("cdktf")
from modules.tenant_apps import kubernetes_manifests  # noqa: E402
from modules.tenant_module import TenantModuleStack  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PLATFORM = PlatformConfig()
ACCOUNT = checks.ACCOUNT
REGISTRY = f"{ACCOUNT}.dkr.ecr.{PLATFORM.region}.amazonaws.com/tenantform"

from tests.strategies import tenant_ids  # noqa: E402


@pytest.fixture(scope="module")
def modules() -> dict[str, dict[str, Any]]:
    app = cdktf.Testing.app()
    return {layer: json.loads(cdktf.Testing.synth(TenantModuleStack(app, f"tenant-{layer}-module", layer=layer)))
            for layer in (INFRA, APPS)}


def tenant(tenant_id: str, tier: Tier = Tier.BASIC) -> Tenant:
    return Tenant(id=tenant_id, company_name="Some Co", admin_email=f"admin@{tenant_id}.example.com", tier=tier)


def order_arn(tenant_id: str) -> str:
    return f"arn:aws:dynamodb:{PLATFORM.region}:{ACCOUNT}:table/Order-{tenant_id}"


def rendered_policies(modules: dict[str, Any], t: Tenant) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(data policy, trust policy, literal inputs) of one tenant, as the module renders them."""
    values = infra_inputs(t, PLATFORM, platform_refs=False)
    doc = checks.instantiate_module(modules[INFRA], values)
    resolve = checks.placeholder_resolver(region=PLATFORM.region,
                                          known={"${aws_dynamodb_table.order_table[0].arn}": order_arn(t.id)})
    policies = checks.policy_documents(doc, resolve)
    return (policies["data.aws_iam_policy_document.data_access"],
            policies["data.aws_iam_policy_document.irsa_trust"], values)


def data_problems(policy: dict[str, Any], values: dict[str, Any]) -> list[str]:
    return checks.data_policy_violations(policy, tenant_id=values["tenant_id"],
                                         order_table_arn=order_arn(values["tenant_id"]),
                                         pooled_table_arns=[values["product_table_arn"]],
                                         catalogue_table_arn=values["catalogue_table_arn"])


def trust_problems(policy: dict[str, Any], values: dict[str, Any]) -> list[str]:
    return checks.trust_violations(policy, oidc_provider_arn=values["oidc_provider_arn"],
                                   oidc_provider_url=values["oidc_provider_url"], namespace=values["namespace"],
                                   service_account=values["service_account_name"])


def manifests_for(modules: dict[str, Any], t: Tenant) -> list[dict[str, Any]]:
    names = tenant_names(t.id, platform_name=PLATFORM.name)
    values = apps_inputs(t, PLATFORM, irsa_role_arn=f"arn:aws:iam::{ACCOUNT}:role/{names.irsa_role}",
                         image_registry=REGISTRY)
    return kubernetes_manifests(checks.instantiate_module(modules[APPS], values))


def pooled_statement(policy: dict[str, Any]) -> dict[str, Any]:
    (statement,) = [s for s in policy["Statement"] if s.get("Sid") == "PooledProductsOwnPartitionOnly"]
    return statement


# -- the synthesised role policies ------------------------------------------------------------------
@pytest.mark.parametrize("tier", list(Tier), ids=lambda t: t.value)
def test_each_tiers_role_policy_and_trust_are_isolated(modules, tier: Tier) -> None:
    data, trust, values = rendered_policies(modules, tenant("acme", tier))
    assert data_problems(data, values) == []
    assert trust_problems(trust, values) == []
    # what the checker accepted, spelled out: own table + own partition + own write-freeze flag
    resources = sorted(r for s in data["Statement"] for r in checks.as_list(s["Resource"]))
    assert resources == sorted([order_arn("acme"), values["product_table_arn"], values["catalogue_table_arn"]])
    (freeze,) = [s for s in data["Statement"] if s.get("Sid") == "OwnWriteFreezeFlagOnly"]
    assert freeze["Action"] == "dynamodb:GetItem"
    assert freeze["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == "acme#move"
    assert "dynamodb:Scan" not in checks.as_list(pooled_statement(data)["Action"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=tenant_ids, second=tenant_ids, tier=st.sampled_from(list(Tier)))
def test_a_tenants_policies_never_admit_another_tenant(modules, first: str, second: str, tier: Tier) -> None:
    data, trust, values = rendered_policies(modules, tenant(first, tier))
    assert data_problems(data, values) == []
    assert trust_problems(trust, values) == []
    if first != second:  # judged as the other tenant's, the same documents must fail
        other = {**values, "tenant_id": second, "namespace": second, "service_account_name": f"{second}-service-account"}
        assert data_problems(data, other), "tenant policy admits another tenant's order table or partition"
        assert trust_problems(trust, other), "tenant trust admits another tenant's service account"


# -- the checkers fail on what breaks isolation ------------------------------------------------------
def test_scan_put_back_on_the_pooled_table_is_flagged(modules) -> None:
    data, _, values = rendered_policies(modules, tenant("acme"))
    broken = copy.deepcopy(data)
    statement = pooled_statement(broken)
    statement["Action"] = checks.as_list(statement["Action"]) + ["dynamodb:Scan"]
    assert any("dynamodb:Scan on a pooled table carries no leading key" in p for p in data_problems(broken, values))


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s.__setitem__("Resource", "*"), "wildcard resource"),
    (lambda s: s.__setitem__("Resource", f"arn:aws:dynamodb:{PLATFORM.region}:{ACCOUNT}:table/*"), "wildcard resource"),
    (lambda s: s.__setitem__("Action", "dynamodb:*"), "wildcard action"),
    (lambda s: s.__setitem__("Action", ["dynamodb:GetItem", "dynamodb:PartiQLSelect"]), "carries no leading key"),
    (lambda s: s["Condition"].pop("Null"), "keyless request would pass"),
    (lambda s: s["Condition"].__setitem__("ForAllValues:StringEquals", {"dynamodb:LeadingKeys": "other"}),
     "not bound to dynamodb:LeadingKeys"),
    (lambda s: s["Condition"].__setitem__("ForAnyValue:StringEquals", {"dynamodb:LeadingKeys": "acme"}),
     "ForAnyValue"),
    (lambda s: s.__setitem__("NotAction", "dynamodb:DeleteTable"), "NotAction"),
], ids=["star", "table-star", "action-star", "partiql", "no-null", "other-key", "for-any", "not-action"])
def test_every_widening_of_the_pooled_statement_is_flagged(modules, breakage, expected: str) -> None:
    data, _, values = rendered_policies(modules, tenant("acme"))
    broken = copy.deepcopy(data)
    breakage(pooled_statement(broken))
    assert any(expected in p for p in data_problems(broken, values)), data_problems(broken, values)


def test_another_tenants_table_is_flagged(modules) -> None:
    data, _, values = rendered_policies(modules, tenant("acme"))
    broken = copy.deepcopy(data)
    broken["Statement"][0]["Resource"] = [order_arn("acme"), order_arn("globex")]
    assert any("neither the tenant's order table" in p for p in data_problems(broken, values))


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s["Condition"].__setitem__("StringLike", s["Condition"].pop("StringEquals")), "StringEquals"),
    (lambda s: s["Condition"]["StringEquals"].pop(next(k for k in s["Condition"]["StringEquals"] if k.endswith(":aud"))),
     ":aud must be exactly"),
    (lambda s: s["Condition"]["StringEquals"].__setitem__(
        next(k for k in s["Condition"]["StringEquals"] if k.endswith(":sub")), "system:serviceaccount:acme:*"),
     ":sub must be exactly"),
    (lambda s: s.__setitem__("Principal", {"Federated": s["Principal"]["Federated"], "AWS": "*"}), "principal"),
    (lambda s: s.__setitem__("Action", ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"]), "actions"),
], ids=["string-like", "no-audience", "any-service-account", "extra-principal", "assume-role"])
def test_every_widening_of_the_trust_is_flagged(modules, breakage, expected: str) -> None:
    _, trust, values = rendered_policies(modules, tenant("acme"))
    broken = copy.deepcopy(trust)
    breakage(broken["Statement"][0])
    assert any(expected in p for p in trust_problems(broken, values)), trust_problems(broken, values)


# -- namespaces and ingress ---------------------------------------------------------------------------
@pytest.mark.parametrize("tier", list(Tier), ids=lambda t: t.value)
def test_every_tenant_namespace_has_default_deny_quota_and_limit_range(modules, tier: Tier) -> None:
    manifests = manifests_for(modules, tenant("acme", tier))
    assert checks.namespace_violations(manifests, namespace="acme") == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda ms: [m for m in ms if m["metadata"]["name"] != "default-deny"], "no default-deny"),
    (lambda ms: [m for m in ms if m["kind"] != "ResourceQuota"], "no ResourceQuota"),
    (lambda ms: [m for m in ms if m["kind"] != "LimitRange"], "no LimitRange"),
], ids=["no-default-deny", "no-quota", "no-limit-range"])
def test_a_namespace_missing_a_guard_is_flagged(modules, breakage, expected: str) -> None:
    manifests = breakage(manifests_for(modules, tenant("acme")))
    assert any(expected in p for p in checks.namespace_violations(manifests, namespace="acme"))


def test_a_policy_opening_other_namespaces_or_private_ranges_is_flagged(modules) -> None:
    manifests = copy.deepcopy(manifests_for(modules, tenant("acme")))
    (same_ns,) = [m for m in manifests if m["metadata"]["name"] == "allow-same-namespace"]
    same_ns["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})
    (https,) = [m for m in manifests if m["metadata"]["name"] == "allow-aws-https-egress"]
    https["spec"]["egress"][0]["to"][0]["ipBlock"]["except"] = []
    problems = checks.namespace_violations(manifests, namespace="acme")
    assert any("reaches beyond" in p for p in problems)
    assert any("opens 10.0.0.0/8" in p for p in problems)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=st.lists(tenant_ids, min_size=2, max_size=4, unique=True))
def test_no_tenants_ingress_path_routes_to_another_tenant(modules, ids: list[str]) -> None:
    by_tenant = {tid: manifests_for(modules, tenant(tid)) for tid in ids}
    assert checks.ingress_route_violations(by_tenant) == []


def test_prefix_sharing_ids_do_not_capture_each_others_paths(modules) -> None:
    by_tenant = {tid: manifests_for(modules, tenant(tid)) for tid in ("acme", "acme-corp", "acme-products")}
    assert checks.ingress_route_violations(by_tenant) == []


def test_a_route_into_another_tenants_space_is_flagged(modules) -> None:
    by_tenant = {tid: copy.deepcopy(manifests_for(modules, tenant(tid))) for tid in ("acme", "globex")}
    (ingress,) = [m for m in by_tenant["acme"] if m["kind"] == "Ingress"]
    ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/silo/globex"
    problems = checks.ingress_route_violations(by_tenant)
    assert any("not under /silo/acme/" in p for p in problems)
    assert any("also matches globex's path" in p for p in problems)
    ingress["spec"]["defaultBackend"] = {"service": {"name": "product", "port": {"name": "http"}}}
    assert any("default backend" in p for p in checks.ingress_route_violations(by_tenant))


# -- the applied policies (terraform against moto) ----------------------------------------------------
APPLIED_TENANT = "iso-applied"


@pytest.fixture(scope="module")
def applied(local_project) -> dict[str, Any]:  # noqa: ANN001
    """Onboard one tenant for real and read back what IAM and DynamoDB hold."""
    local_project.run("onboard", f"tenant={APPLIED_TENANT}", "tier=premium")
    project = local_project.project()
    iam, dynamodb = project.target.client("iam"), project.target.client("dynamodb")
    names = tenant_names(APPLIED_TENANT, platform_name=project.platform.name)
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    return {
        "names": names,
        "role": iam.get_role(RoleName=names.irsa_role)["Role"],
        "inline": iam.list_role_policies(RoleName=names.irsa_role)["PolicyNames"],
        "attached": iam.list_attached_role_policies(RoleName=names.irsa_role)["AttachedPolicies"],
        "policy": iam.get_role_policy(RoleName=names.irsa_role, PolicyName="tenant-data-access")["PolicyDocument"],
        "order_arn": dynamodb.describe_table(TableName=names.order_table)["Table"]["TableArn"],
        "product_arn": dynamodb.describe_table(TableName=project.platform.product_table_name)["Table"]["TableArn"],
        "catalogue_arn": dynamodb.describe_table(TableName=project.platform.catalogue_table_name)["Table"]["TableArn"],
        "oidc_arns": [p["Arn"] for p in providers],
        "iam": iam,
    }


def _policy(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else document


@pytest.mark.integration
def test_applied_role_has_only_its_own_inline_policy(applied) -> None:
    assert applied["inline"] == ["tenant-data-access"]
    assert applied["attached"] == []


@pytest.mark.integration
def test_applied_data_policy_names_only_the_tenants_own_data(applied) -> None:
    policy = _policy(applied["policy"])
    assert checks.data_policy_violations(policy, tenant_id=APPLIED_TENANT, order_table_arn=applied["order_arn"],
                                         pooled_table_arns=[applied["product_arn"]],
                                         catalogue_table_arn=applied["catalogue_arn"]) == []
    broken = copy.deepcopy(policy)
    statement = pooled_statement(broken)
    statement["Action"] = checks.as_list(statement["Action"]) + ["dynamodb:Scan"]
    assert checks.data_policy_violations(broken, tenant_id=APPLIED_TENANT, order_table_arn=applied["order_arn"],
                                         pooled_table_arns=[applied["product_arn"]],
                                         catalogue_table_arn=applied["catalogue_arn"])


@pytest.mark.integration
def test_applied_trust_admits_only_the_tenants_service_account(applied) -> None:
    trust = _policy(applied["role"]["AssumeRolePolicyDocument"])
    (oidc_arn,) = applied["oidc_arns"]
    url = oidc_arn.split(":oidc-provider/", 1)[1]
    names = applied["names"]
    assert checks.trust_violations(trust, oidc_provider_arn=oidc_arn, oidc_provider_url=url,
                                   namespace=names.namespace, service_account=names.service_account) == []
    assert checks.trust_violations(trust, oidc_provider_arn=oidc_arn, oidc_provider_url=url,
                                   namespace="other", service_account="other-service-account")


@pytest.mark.integration
def test_moto_cannot_simulate_policies(applied) -> None:
    """IAM's policy simulator would be extra evidence (condition keys included); moto 5.2.5 does not
    implement it, so the checkers above are the evidence. This test notices when moto gains it."""
    from botocore.exceptions import ClientError
    from botocore.parsers import ResponseParserError

    with pytest.raises((ClientError, ResponseParserError, NotImplementedError)):  # moto answers non-XML
        applied["iam"].simulate_custom_policy(
            PolicyInputList=[json.dumps(_policy(applied["policy"]))], ActionNames=["dynamodb:Scan"],
            ResourceArns=[applied["product_arn"]])


# -- the gates `invoke check` runs on the same renderings ------------------------------------------------
EXCEPTIONS = checks.load_exceptions(REPO / checks.EXCEPTIONS_FILE)


def test_every_exception_has_a_reason_and_a_precise_check() -> None:
    assert EXCEPTIONS, "the exceptions file is missing or empty"
    for entry in EXCEPTIONS:
        assert len(entry.reason) >= 30, entry.describe()
        assert "*" not in entry.check, f"{entry.describe()}: an exception names one check, never a pattern"


def test_parliament_passes_the_tenant_policies_and_fails_a_scan_on_star(modules) -> None:
    data, trust, _ = rendered_policies(modules, tenant("acme", Tier.PREMIUM))
    target = "module-infra-premium"
    report = checks.apply_exceptions(checks.run_parliament({
        (target, "data.aws_iam_policy_document.data_access"): data,
        (target, "data.aws_iam_policy_document.irsa_trust"): trust}), EXCEPTIONS)
    assert report.ok and report.checked == 2, [f.message for f in report.unexplained] + report.errors
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": "*"}]}
    report = checks.apply_exceptions(checks.run_parliament(
        {(target, "data.aws_iam_policy_document.data_access"): bad}), EXCEPTIONS)
    assert not report.ok and {f.check for f in report.unexplained} == {"RESOURCE_STAR"}


def test_unrendered_expressions_in_a_policy_are_an_error(modules) -> None:
    data, _, _ = rendered_policies(modules, tenant("acme"))
    data = copy.deepcopy(data)
    data["Statement"][0]["Resource"] = "${aws_dynamodb_table.unknown.arn}"
    report = checks.run_parliament({("x", "y"): data})
    assert not report.ok and "unresolved expression" in report.errors[0]


@pytest.mark.parametrize("tier", list(Tier), ids=lambda t: t.value)
def test_kubernetes_gate_passes_each_tier_and_fails_a_schema_error(modules, tier: Tier) -> None:
    manifests = manifests_for(modules, tenant("acme", tier))
    report = checks.run_kubernetes({f"module-apps-{tier.value}": ("acme", manifests)}, PLATFORM.kubernetes_version)
    assert report.ok and report.checked == len(manifests) == 16, [f.message for f in report.findings]
    broken = copy.deepcopy(manifests)
    next(m for m in broken if m["kind"] == "Deployment")["spec"]["replicas"] = "2"
    report = checks.run_kubernetes({"x": ("acme", broken)}, PLATFORM.kubernetes_version)
    assert [f.check for f in report.unexplained] == ["schema"]


def test_scan_copies_keep_everything_but_terraforms_strings() -> None:
    doc = {"terraform": {"required_version": ">= 1.10.0", "backend": {"s3": {"key": "k"}}}, "resource": {}}
    assert checks.scannable(doc) == {"terraform": {"backend": {"s3": {"key": "k"}}}, "resource": {}}


def test_the_checkov_pin_comes_from_pyproject() -> None:
    requirement = checks.checkov_requirement(REPO / "pyproject.toml")
    assert requirement.startswith("checkov==3.3.")
