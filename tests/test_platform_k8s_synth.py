"""The `platform-k8s` workspace (kubernetes + helm), synthesised by CDKTF and checked.

The kubernetes and helm providers cannot be installed on the build machines, so this layer is
checked here: pinned charts, the NodePort the NLB forwards to, the autoscaler's IRSA role from
the platform's outputs, the state keys, the providers' connection to the cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cdktf import Testing as CdktfTesting  # aliased: pytest would try to collect `Testing*`
from cdktf_cdktf_provider_helm.release import Release
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1

from modules.platform.constants import AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT
from modules.platform_k8s import PLATFORM_STATE, PlatformK8sStack, remote_state_source
from tenantform.contract import platform_output_names
from tenantform.errors import TenantformError
from tenantform.module_schema import INGRESS_CLASS_NAME, INGRESS_CONTROLLER_NAMESPACE
from tenantform.names import PLATFORM_K8S_STATE_KEY, PLATFORM_STATE_KEY
from tenantform.pins import CLUSTER_AUTOSCALER_IMAGE_TAGS, HELM_CHARTS, PROVIDER_REQUIREMENTS
from tenantform.platform_config import PlatformConfig
from tenantform.project import Project
from tenantform.synthesis import AppConfig
from tenantform.targets import Settings, TargetKind


def synth(tmp: Path, platform: PlatformConfig, *, target: TargetKind | None = TargetKind.AWS) -> dict[str, Any]:
    if target is None:  # `cdktf synth` without a target: CDKTF's local backends
        config = AppConfig(platform_config_path="platform.toml")
    else:
        config = Project(Settings(project_dir=tmp, target=target, state_bucket="tenantform-state"),
                         platform=platform).app_config()
    app = CdktfTesting.app()
    stack = PlatformK8sStack(app, "platform-k8s", platform=platform, config=config)
    return json.loads(CdktfTesting.synth(stack))


def releases(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in doc["resource"][Release.TF_RESOURCE_TYPE].values()}


def values(release: dict[str, Any]) -> dict[str, Any]:
    (document,) = release["values"]
    return json.loads(document)


def remote_output(name: str) -> str:
    assert name in platform_output_names()
    return f"${{data.terraform_remote_state.{PLATFORM_STATE}.outputs.{name}}}"


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synth(tmp_path_factory.mktemp("aws"), PlatformConfig())


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synth(tmp_path_factory.mktemp("custom"), PlatformConfig(
        ingress_node_port=31234, ingress_controller_replicas=3, kubernetes_version="1.31", region="eu-west-1",
        domain="example.com"))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synth(tmp_path_factory.mktemp("local"), PlatformConfig(), target=TargetKind.LOCAL)


def test_charts_are_pinned_in_one_place(production: dict[str, Any]) -> None:
    found = releases(production)
    assert set(found) == set(HELM_CHARTS)
    for name, release in found.items():
        pin = HELM_CHARTS[name]
        assert (release["repository"], release["chart"], release["version"]) == (
            pin["repository"], pin["chart"], pin["version"])
        assert release["version"][0].isdigit() and "*" not in release["version"] and "^" not in release["version"]
        assert release["atomic"] is True


def test_ingress_controller_node_port_matches_the_nlb(production: dict[str, Any], custom: dict[str, Any]) -> None:
    for doc, port, replicas in ((production, 30080, 2), (custom, 31234, 3)):
        controller = values(releases(doc)["ingress-nginx"])["controller"]
        assert controller["service"]["type"] == "NodePort"
        assert controller["service"]["nodePorts"] == {"http": port}
        assert controller["service"]["enableHttps"] is False
        assert controller["replicaCount"] == replicas
    assert values(releases(custom)["ingress-nginx"])["controller"]["service"]["nodePorts"]["http"] != 30080


def test_ingress_class_and_namespace_are_what_tenants_use(production: dict[str, Any]) -> None:
    release = releases(production)["ingress-nginx"]
    controller = values(release)["controller"]
    assert controller["ingressClassResource"]["name"] == INGRESS_CLASS_NAME
    assert controller["ingressClassResource"]["default"] is True
    assert controller["allowSnippetAnnotations"] is False
    assert "kubernetes_namespace_v1." in release["namespace"]
    assert CdktfTesting.to_have_resource_with_properties(json.dumps(production), NamespaceV1.TF_RESOURCE_TYPE, {
        "metadata": {"name": INGRESS_CONTROLLER_NAMESPACE,
                     "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}})


def test_metrics_server_for_the_tenants_hpas(production: dict[str, Any]) -> None:
    release = releases(production)["metrics-server"]
    assert release["namespace"] == "kube-system"
    assert values(release)["podDisruptionBudget"]["enabled"] is True


def test_cluster_autoscaler_uses_the_platform_irsa_role(production: dict[str, Any], custom: dict[str, Any]) -> None:
    release = releases(production)["cluster-autoscaler"]
    assert release["namespace"] == AUTOSCALER_NAMESPACE
    settings = values(release)
    assert settings["rbac"]["serviceAccount"]["name"] == AUTOSCALER_SERVICE_ACCOUNT
    assert settings["autoDiscovery"]["clusterName"] == PlatformConfig().cluster_name
    assert settings["image"]["tag"] == CLUSTER_AUTOSCALER_IMAGE_TAGS["1.33"]
    assert release["set"] == [{
        "name": "rbac.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn",
        "value": remote_output("cluster_autoscaler_role_arn"),
        "type": "string",
    }]
    # the autoscaler's minor version follows the cluster's
    assert values(releases(custom)["cluster-autoscaler"])["image"]["tag"] == "v1.31.0"
    assert values(releases(custom)["cluster-autoscaler"])["awsRegion"] == "eu-west-1"


def test_providers_reach_the_cluster_from_the_platform_outputs(production: dict[str, Any]) -> None:
    (kubernetes,) = production["provider"]["kubernetes"]
    (helm,) = production["provider"]["helm"]
    for connection, exec_block in ((kubernetes, kubernetes["exec"][0]), (helm["kubernetes"], helm["kubernetes"]["exec"])):
        assert connection["host"] == remote_output("cluster_endpoint")
        assert connection["cluster_ca_certificate"] == (
            "${base64decode(" + remote_output("cluster_certificate_authority_data")[2:-1] + ")}")
        assert exec_block["command"] == "aws"
        assert exec_block["args"][:4] == ["eks", "get-token", "--cluster-name", remote_output("cluster_name")]
    assert "aws" not in production["provider"]


def test_state_keys_and_required_providers(production: dict[str, Any], local: dict[str, Any]) -> None:
    for doc in (production, local):
        terraform = doc["terraform"]
        assert terraform["backend"]["s3"]["key"] == PLATFORM_K8S_STATE_KEY
        assert terraform["required_providers"] == {"kubernetes": PROVIDER_REQUIREMENTS["kubernetes"],
                                                   "helm": PROVIDER_REQUIREMENTS["helm"]}
        remote = doc["data"]["terraform_remote_state"][PLATFORM_STATE]
        assert remote["backend"] == "s3"
        assert remote["config"]["key"] == PLATFORM_STATE_KEY
        assert remote["config"]["bucket"] == terraform["backend"]["s3"]["bucket"]
        assert "path" not in remote["config"]
    assert local["data"]["terraform_remote_state"][PLATFORM_STATE]["config"]["use_path_style"] is True


def test_without_a_target_both_states_are_local_files(tmp_path: Path) -> None:
    doc = synth(tmp_path, PlatformConfig(), target=None)
    remote = doc["data"]["terraform_remote_state"][PLATFORM_STATE]
    assert remote["backend"] == "local"
    assert remote["config"] == {"path": "../platform/terraform.platform.tfstate"}


def test_remote_state_follows_the_platform_backend() -> None:
    assert remote_state_source({}) is None
    assert remote_state_source({"backend": {"s3": {"bucket": "b", "key": PLATFORM_STATE_KEY}}}) == (
        "s3", {"bucket": "b", "key": PLATFORM_STATE_KEY})
    cloud = {"cloud": {"organization": "acme", "hostname": "tfe.example.com", "workspaces": {"name": "platform"}}}
    assert remote_state_source(cloud) == ("remote", {"organization": "acme", "hostname": "tfe.example.com",
                                                     "workspaces": {"name": "platform"}})
    with pytest.raises(TenantformError):
        remote_state_source({"cloud": {"organization": "acme", "workspaces": {"tags": ["platform"]}}})


def test_custom_domain_changes_nothing_in_the_cluster(tmp_path: Path, production: dict[str, Any]) -> None:
    with_domain = synth(tmp_path, PlatformConfig(domain="example.com"))
    assert with_domain == production


def test_snapshot(production: dict[str, Any], snapshot) -> None:  # noqa: ANN001
    assert production == snapshot
