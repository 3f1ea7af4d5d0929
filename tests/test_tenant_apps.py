"""The tenant module's Kubernetes layer (modules/tenant_apps.py): synthesis per tier, isolation,
the shared module's interface, a snapshot, and strict schema validation of every object.

The kubernetes bindings cost ~20 s to import and synthesis ~0.1 s per stack, so every stack is
built once per test module (fixtures below) and the tests only read the synthesised JSON.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from typing import Any

import kubernetes_validate
import pytest
import cdktf
from cdktf_cdktf_provider_kubernetes.deployment_v1 import DeploymentV1
from cdktf_cdktf_provider_kubernetes.horizontal_pod_autoscaler_v2 import HorizontalPodAutoscalerV2
from cdktf_cdktf_provider_kubernetes.ingress_v1 import IngressV1
from cdktf_cdktf_provider_kubernetes.limit_range_v1 import LimitRangeV1
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1
from cdktf_cdktf_provider_kubernetes.network_policy_v1 import NetworkPolicyV1
from cdktf_cdktf_provider_kubernetes.resource_quota_v1 import ResourceQuotaV1
from cdktf_cdktf_provider_kubernetes.service_account_v1 import ServiceAccountV1
from cdktf_cdktf_provider_kubernetes.service_v1 import ServiceV1
from kubernetes_validate.utils import all_versions
from syrupy.extensions.json import JSONSnapshotExtension

from modules.tenant_apps import (
    AWS_EGRESS_EXCEPT,
    CONTAINER_PORT,
    MANIFEST_KINDS,
    QUOTA_PODS,
    TenantAppsStack,
    kubernetes_manifests,
)
from modules.tenant_module import TenantModuleStack
from tenantform.module_schema import APPS_OUTPUTS, APPS_VARIABLES, INGRESS_CONTROLLER_NAMESPACE
from tenantform.pins import PROVIDER_REQUIREMENTS
from tenantform.platform_config import PlatformConfig
from tenantform.tenant import Tenant
from tenantform.tiers import TIER_PROFILES, Tier

PLATFORM = PlatformConfig()
IRSA_ROLE_ARN = "arn:aws:iam::123456789012:role/x"
IMAGE_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantform"
# A different tenant per tier, so that "only its own id" checks have other ids to miss.
TENANT_IDS = {Tier.BASIC: "acme", Tier.STANDARD: "globex", Tier.PREMIUM: "initech", Tier.PLATINUM: "umbrella"}
TIERS = list(Tier)
# README.md, "Tenants" (the tier table): requests cpu/mem, limits cpu/mem. Typed out on purpose: the test
# fails if tiers.py drifts from the reference.
REFERENCE_QUOTAS = {
    Tier.BASIC: ("1", "1Gi", "2", "2Gi"),
    Tier.STANDARD: ("2", "2Gi", "4", "4Gi"),
    Tier.PREMIUM: ("3", "3Gi", "6", "6Gi"),
    Tier.PLATINUM: ("4", "4Gi", "8", "8Gi"),
}
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")


def quota_hard(tier: Tier) -> dict[str, str]:
    req_cpu, req_mem, lim_cpu, lim_mem = REFERENCE_QUOTAS[tier]
    return {"requests.cpu": req_cpu, "requests.memory": req_mem, "limits.cpu": lim_cpu, "limits.memory": lim_mem}


def tenant(tier: Tier) -> Tenant:
    tid = TENANT_IDS[tier]
    return Tenant(id=tid, company_name=f"{tid.title()} Inc.", admin_email=f"admin@{tid}.example", tier=tier)


# --- fixtures: every stack built and synthesised once ------------------------------------------

@pytest.fixture(scope="module")
def tier_stacks() -> dict[Tier, TenantAppsStack]:
    app = cdktf.Testing.app()
    return {tier: TenantAppsStack(app, f"apps-{tier.value}", tenant=tenant(tier), platform=PLATFORM,
                                  irsa_role_arn=IRSA_ROLE_ARN, image_registry=IMAGE_REGISTRY)
            for tier in TIERS}


@pytest.fixture(scope="module")
def synths(tier_stacks) -> dict[Tier, str]:
    return {tier: cdktf.Testing.synth(stack) for tier, stack in tier_stacks.items()}


@pytest.fixture(scope="module")
def parsed(synths) -> dict[Tier, dict[str, Any]]:
    return {tier: json.loads(text) for tier, text in synths.items()}


@pytest.fixture(scope="module")
def manifests(parsed) -> dict[Tier, list[dict[str, Any]]]:
    return {tier: kubernetes_manifests(doc) for tier, doc in parsed.items()}


@pytest.fixture(scope="module")
def module_json() -> dict[str, Any]:
    app = cdktf.Testing.app()
    cdktf.Testing.stub_version(app)
    return json.loads(cdktf.Testing.synth(TenantModuleStack(app, "tenant-apps-module", layer="apps")))


def resources(doc: dict[str, Any], resource_class: Any) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(resource_class.TF_RESOURCE_TYPE, {}).values())


def by_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in items if m["kind"] == kind]


# --- namespace, identity, sizing ----------------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
def test_namespace_is_labelled_with_tenant_tier_and_pod_security(synths, tier):
    tid = TENANT_IDS[tier]
    version = f"v{PLATFORM.kubernetes_version}"
    labels = {"tenant": tid, "tier": tier.value, "app.kubernetes.io/managed-by": "tenantform"}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    assert cdktf.Testing.to_have_resource_with_properties(
        synths[tier], NamespaceV1.TF_RESOURCE_TYPE, {"metadata": {"name": tid, "labels": labels}})
    assert cdktf.Testing.to_have_resource_with_properties(
        synths[tier], NamespaceV1.TF_RESOURCE_TYPE,
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}) is False
    other = next(t for t in TIERS if t != tier)
    assert cdktf.Testing.to_have_resource_with_properties(
        synths[tier], NamespaceV1.TF_RESOURCE_TYPE, {"metadata": {"labels": {"tier": other.value}}}) is False


@pytest.mark.parametrize("tier", TIERS)
def test_service_account_carries_the_irsa_role_and_no_api_token(synths, tier):
    tid = TENANT_IDS[tier]
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], ServiceAccountV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": f"{tid}-service-account",
                     "annotations": {"eks.amazonaws.com/role-arn": IRSA_ROLE_ARN}},
        "automount_service_account_token": False,
    })
    assert cdktf.Testing.to_have_resource_with_properties(
        synths[tier], ServiceAccountV1.TF_RESOURCE_TYPE, {"automount_service_account_token": True}) is False


@pytest.mark.parametrize("tier", TIERS)
def test_resource_quota_is_the_tiers_reference_quota(synths, tier):
    assert cdktf.Testing.to_have_resource_with_properties(
        synths[tier], ResourceQuotaV1.TF_RESOURCE_TYPE,
        {"spec": {"hard": {**quota_hard(tier), "services.loadbalancers": "0", "services.nodeports": "0"}}})
    for other in TIERS:
        if other != tier:
            assert cdktf.Testing.to_have_resource_with_properties(
                synths[tier], ResourceQuotaV1.TF_RESOURCE_TYPE, {"spec": {"hard": quota_hard(other)}}) is False


@pytest.mark.parametrize("tier", TIERS)
def test_limit_range_defaults_every_container(synths, tier):
    p = TIER_PROFILES[tier]
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], LimitRangeV1.TF_RESOURCE_TYPE, {
        "spec": {"limit": [{
            "type": "Container",
            "default": {"cpu": p.container_limit_cpu, "memory": p.container_limit_memory},
            "default_request": {"cpu": p.container_request_cpu, "memory": p.container_request_memory},
        }]},
    })


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", value).groups()
    return float(number) * units[unit]


def test_pod_cap_admits_every_tiers_hpa_maximum_during_a_rollout():
    for tier, p in TIER_PROFILES.items():
        assert int(QUOTA_PODS) >= 2 * (p.max_replicas + 1), tier


@pytest.mark.parametrize("tier", TIERS)
def test_compute_quota_admits_both_services_at_hpa_maximum(tier):
    # Found platinum's 1 CPU / 1Gi container limit x (2 x 6 replicas + 2 surge) over its 8 / 8Gi
    # quota; tiers.py now gives platinum containers 500m / 512Mi.
    p = TIER_PROFILES[tier]
    pods = 2 * (p.max_replicas + 1)  # two services at the maximum, one surge pod each
    hard = quota_hard(tier)
    assert pods * _quantity(p.container_request_cpu) <= _quantity(hard["requests.cpu"])
    assert pods * _quantity(p.container_request_memory) <= _quantity(hard["requests.memory"])
    assert pods * _quantity(p.container_limit_cpu) <= _quantity(hard["limits.cpu"])
    assert pods * _quantity(p.container_limit_memory) <= _quantity(hard["limits.memory"])


# --- network isolation --------------------------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
def test_default_deny_covers_ingress_and_egress_of_every_pod(synths, tier):
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], NetworkPolicyV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": "default-deny"},
        "spec": {"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
    })
    # ... and carries no rule at all (a rule there would be an allow).
    deny = [p for p in resources(json.loads(synths[tier]), NetworkPolicyV1) if p["metadata"]["name"] == "default-deny"]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], NetworkPolicyV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": "default-deny"}, "spec": {"policy_types": ["Ingress"]}}) is False


@pytest.mark.parametrize("tier", TIERS)
def test_every_namespaced_object_is_in_the_tenants_namespace(manifests, tier):
    for manifest in manifests[tier]:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == TENANT_IDS[tier], manifest["metadata"]["name"]


@pytest.mark.parametrize("tier", TIERS)
def test_network_policy_exceptions_are_exactly_dns_ingress_controller_namespace_and_aws(manifests, tier):
    policies = {m["metadata"]["name"]: m["spec"] for m in by_kind(manifests[tier], "NetworkPolicy")}
    assert set(policies) == {"default-deny", "allow-dns-egress", "allow-from-ingress-controller",
                             "allow-same-namespace", "allow-aws-https-egress"}
    assert policies["allow-dns-egress"] == {
        "podSelector": {}, "policyTypes": ["Egress"],
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}],
    }
    assert policies["allow-from-ingress-controller"]["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": INGRESS_CONTROLLER_NAMESPACE}}}],
        "ports": [{"port": CONTAINER_PORT, "protocol": "TCP"}],
    }]
    assert policies["allow-same-namespace"] == {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}], "egress": [{"to": [{"podSelector": {}}]}],
    }


@pytest.mark.parametrize("tier", TIERS)
def test_no_policy_opens_other_namespaces_or_private_addresses(manifests, tier):
    for policy in by_kind(manifests[tier], "NetworkPolicy"):
        name, spec = policy["metadata"]["name"], policy["spec"]
        peers = [peer for rule in spec.get("ingress", []) for peer in rule.get("from", [])]
        peers += [peer for rule in spec.get("egress", []) for peer in rule.get("to", [])]
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            assert rule.get("from", rule.get("to")), f"{name}: a rule without peers allows everyone"
        for peer in peers:
            selector = peer.get("namespaceSelector")
            if selector is not None:  # {} would be every namespace, i.e. every other tenant
                assert selector.get("matchLabels", {}).get("kubernetes.io/metadata.name"), name
            if "ipBlock" in peer:
                excepted = [ipaddress.ip_network(c) for c in peer["ipBlock"].get("except", [])]
                for private in map(ipaddress.ip_network, PRIVATE_RANGES):
                    assert any(private.subnet_of(e) for e in excepted), f"{name} opens {private}"
                rule_ports = [r for r in spec["egress"] if peer in r["to"]][0]["ports"]
                assert rule_ports == [{"port": 443, "protocol": "TCP"}], name
    assert set(PRIVATE_RANGES) <= set(AWS_EGRESS_EXCEPT)


# --- workloads ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("service, table", [("product", "Product"), ("order", None)])
def test_deployment_sizing_identity_and_environment(synths, manifests, tier, service, table):
    tid, p = TENANT_IDS[tier], TIER_PROFILES[tier]
    table = table or f"Order-{tid}"
    table_env = "PRODUCT_TABLE_NAME" if service == "product" else "ORDER_TABLE_NAME"
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], DeploymentV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": service},
        "spec": {
            "replicas": p.min_replicas,
            "template": {"spec": {
                "automount_service_account_token": False,
                "container": [{
                    "name": service,
                    "image": f"{IMAGE_REGISTRY}/{service}:1.0.0",
                    "env": [{"name": "TENANT_ID", "value": tid}, {"name": table_env, "value": table},
                            {"name": "CATALOGUE_TABLE", "value": "TenantCatalogue"}],
                    "resources": {
                        "requests": {"cpu": p.container_request_cpu, "memory": p.container_request_memory},
                        "limits": {"cpu": p.container_limit_cpu, "memory": p.container_limit_memory},
                    },
                    "liveness_probe": {"http_get": {"port": "http"}},
                    "readiness_probe": {"http_get": {"port": "http"}},
                    "volume_mount": [{"name": "tmp", "mount_path": "/tmp"}],
                }],
                "volume": [{"name": "tmp", "empty_dir": {}}],
            }},
        },
        # the HPA owns the replica count after creation
        "lifecycle": {"ignore_changes": ["spec[0].replicas"]},
    })
    pod = [d for d in by_kind(manifests[tier], "Deployment") if d["metadata"]["name"] == service][0]
    assert pod["spec"]["template"]["spec"]["serviceAccountName"] == f"{tid}-service-account"
    other = "order" if service == "product" else "product"
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], DeploymentV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": service},
        "spec": {"template": {"spec": {"container": [{"image": f"{IMAGE_REGISTRY}/{other}:1.0.0"}]}}},
    }) is False


RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod_spec: dict[str, Any]) -> list[str]:
    """The Pod Security Standard `restricted` (plus our own read-only root), for one pod spec."""
    problems = []
    pod_sc = pod_spec.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(key):
            problems.append(key)
    for volume in pod_spec.get("volumes", []):
        if not set(volume) - {"name"} <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']}")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    containers = pod_spec.get("containers", []) + pod_spec.get("initContainers", [])
    if not containers:
        problems.append("no containers")
    for container in containers:
        name, sc = container["name"], container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities not dropped")
        if not set(sc.get("capabilities", {}).get("add", [])) <= {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities added")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser", 0)) == 0:
            problems.append(f"{name}: runs as uid 0 (or unset)")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccomp {seccomp}")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: writable root filesystem")
        if any("hostPort" in port for port in container.get("ports", [])):
            problems.append(f"{name}: hostPort")
    return problems


@pytest.mark.parametrize("tier", TIERS)
def test_no_container_runs_as_root_and_every_pod_meets_restricted(manifests, tier):
    deployments = by_kind(manifests[tier], "Deployment")
    assert {d["metadata"]["name"] for d in deployments} == {"product", "order"}
    for deployment in deployments:
        assert restricted_violations(deployment["spec"]["template"]["spec"]) == [], deployment["metadata"]["name"]


def test_the_restricted_check_can_fail(manifests):
    pod = copy.deepcopy(by_kind(manifests[Tier.BASIC], "Deployment")[0]["spec"]["template"]["spec"])
    pod["containers"][0]["securityContext"]["runAsUser"] = 0
    pod["containers"][0]["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}
    pod["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    assert len(restricted_violations(pod)) == 4


@pytest.mark.parametrize("tier", TIERS)
def test_services_are_cluster_internal(synths, manifests, tier):
    for exposed in ("LoadBalancer", "NodePort"):
        assert cdktf.Testing.to_have_resource_with_properties(
            synths[tier], ServiceV1.TF_RESOURCE_TYPE, {"spec": {"type": exposed}}) is False
    services = by_kind(manifests[tier], "Service")
    assert {s["metadata"]["name"] for s in services} == {"product", "order"}
    for service in services:
        assert service["spec"]["type"] == "ClusterIP"
        assert service["spec"]["selector"]["app.kubernetes.io/name"] == service["metadata"]["name"]


@pytest.mark.parametrize("tier", TIERS)
def test_ingress_routes_only_the_tenants_own_paths_to_its_own_services(synths, manifests, tier):
    tid = TENANT_IDS[tier]
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], IngressV1.TF_RESOURCE_TYPE, {
        "spec": {"ingress_class_name": "nginx", "rule": [{"http": {"path": [
            {"path": f"/silo/{tid}/products", "path_type": "Prefix"},
            {"path": f"/silo/{tid}/orders", "path_type": "Prefix"},
        ]}}]},
    })
    own_services = {s["metadata"]["name"] for s in by_kind(manifests[tier], "Service")}
    paths = [(path["path"], path["backend"]["service"]["name"])
             for ingress in by_kind(manifests[tier], "Ingress")
             for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    # the gateway forwards /<deployment>/<tenant>/...: a silo tenant's paths start with /silo/
    assert sorted(paths) == [(f"/silo/{tid}/orders", "order"), (f"/silo/{tid}/products", "product")]
    for path, backend in paths:
        assert path.split("/")[1:3] == ["silo", tid] and backend in own_services
        assert not any(other in path for other in TENANT_IDS.values() if other != tid)
    for ingress in by_kind(manifests[tier], "Ingress"):
        assert "defaultBackend" not in ingress["spec"]  # would catch every other tenant's paths too
        assert all("host" not in rule for rule in ingress["spec"]["rules"])


@pytest.mark.parametrize("tier", TIERS)
def test_outputs_are_the_tenants_paths(tier_stacks, tier):
    tid = TENANT_IDS[tier]
    outputs = tier_stacks[tier].apps.outputs()
    assert set(outputs) == set(APPS_OUTPUTS)
    assert (outputs["product_path"], outputs["order_path"]) == (f"/silo/{tid}/products", f"/silo/{tid}/orders")


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("service", ["product", "order"])
def test_hpa_scales_each_deployment_within_the_tier(synths, tier, service):
    p = TIER_PROFILES[tier]
    assert cdktf.Testing.to_have_resource_with_properties(synths[tier], HorizontalPodAutoscalerV2.TF_RESOURCE_TYPE, {
        "metadata": {"name": service},
        "spec": {
            "min_replicas": p.min_replicas,
            "max_replicas": p.max_replicas,
            "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment"},
            "metric": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "average_utilization": p.hpa_cpu_utilization}}}],
        },
    })
    hpa = [m for m in by_kind(kubernetes_manifests(json.loads(synths[tier])), "HorizontalPodAutoscaler")
           if m["metadata"]["name"] == service]
    assert hpa[0]["spec"]["scaleTargetRef"]["name"] == service


# --- strict schema validation for the pinned cluster version ------------------------------------

def test_kubernetes_validate_has_the_pinned_clusters_schemas():
    assert f"{PLATFORM.kubernetes_version}.0" in all_versions(), all_versions()


@pytest.mark.parametrize("tier", TIERS)
def test_every_object_is_valid_for_the_pinned_cluster_version(manifests, tier):
    kinds = {(m["apiVersion"], m["kind"]) for m in manifests[tier]}
    assert kinds == set(MANIFEST_KINDS.values())  # every object kind of the layer is checked
    assert len(manifests[tier]) == 16
    for manifest in manifests[tier]:
        # raises ValidationError (or SchemaNotFoundError) on any error; returns the schema version used
        assert kubernetes_validate.validate(manifest, PLATFORM.kubernetes_version, strict=True) \
            == PLATFORM.kubernetes_version, manifest["metadata"]["name"]


def test_strict_validation_rejects_what_the_api_would(manifests):
    deployment = copy.deepcopy(by_kind(manifests[Tier.BASIC], "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["runAsRoot"] = False  # not a field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, PLATFORM.kubernetes_version, strict=True)
    deployment = copy.deepcopy(by_kind(manifests[Tier.BASIC], "Deployment")[0])
    deployment["spec"]["replicas"] = "1"  # the provider's string, unconverted
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, PLATFORM.kubernetes_version, strict=True)


def test_manifests_need_literal_inputs(module_json):
    with pytest.raises(ValueError, match="literal"):
        kubernetes_manifests(module_json)


# --- the shared module ---------------------------------------------------------------------------

def test_module_declares_one_variable_per_input_and_no_provider_or_backend(module_json):
    variables = module_json["variable"]
    assert set(variables) == set(APPS_VARIABLES)
    for name, spec in APPS_VARIABLES.items():
        assert variables[name]["type"] == spec.type and variables[name]["description"] == spec.description
        assert "default" not in variables[name]
    assert "provider" not in module_json
    assert "backend" not in module_json["terraform"]
    assert module_json["terraform"]["required_providers"] == {"kubernetes": PROVIDER_REQUIREMENTS["kubernetes"]}
    assert set(module_json["output"]) == set(APPS_OUTPUTS)
    assert module_json["output"]["product_path"]["value"] == "/silo/${var.tenant_id}/products"
    assert module_json["output"]["order_path"]["value"] == "/silo/${var.tenant_id}/orders"


def test_module_derives_nothing_from_a_tenant(module_json):
    text = json.dumps(module_json["resource"])
    for literal in list(TENANT_IDS.values()) + [tier.value for tier in TIERS] + [IRSA_ROLE_ARN, "Order-"]:
        assert literal not in text
    assert cdktf.Testing.to_have_resource_with_properties(json.dumps(module_json), NamespaceV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": "${var.namespace}", "labels": {"tenant": "${var.tenant_id}", "tier": "${var.tier}"}}})
    assert cdktf.Testing.to_have_resource_with_properties(json.dumps(module_json), DeploymentV1.TF_RESOURCE_TYPE, {
        "spec": {"replicas": "${var.min_replicas}"}})
    used = set(re.findall(r"\$\{var\.([a-z_]+)\}", text))
    assert used == set(APPS_VARIABLES)  # every input is used by some object


def test_module_snapshot(module_json, snapshot):
    assert module_json == snapshot.use_extension(JSONSnapshotExtension)

