"""The `platform-k8s` workspace: what every tenant namespace relies on inside the cluster.

- the NGINX ingress controller (namespace `ingress-nginx`, IngressClass `nginx`, the cluster's
  default), exposed as a NodePort service on `ingress_node_port`, where the platform's NLB
  target group forwards;
- metrics-server, which the tenants' HorizontalPodAutoscalers read;
- the cluster autoscaler, on the IRSA role the `platform` workspace created, resizing the
  managed node group between its min and max;
- with `pooled_tiers`, the pool: namespace `pool` and the shared product and order services of the
  pooled tenants (modules/platform_pool_k8s.py).

Providers (kubernetes, helm) reach the cluster through the `platform` workspace's outputs
(`terraform_remote_state`) and `aws eks get-token`. Chart versions are pinned in
tenantform/pins.py. On this machine the kubernetes and helm providers cannot be installed, so
the workspace is synthesised and checked, and planned only where a cluster is reachable.
"""

from __future__ import annotations

import json
from typing import Any

from cdktf import DataTerraformRemoteStateLocal, Fn, TerraformStack
from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes, HelmProviderKubernetesExec
from cdktf_cdktf_provider_helm.release import Release, ReleaseSet
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1, NamespaceV1Metadata
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider, KubernetesProviderExec
from constructs import Construct

from modules.platform.constants import AUTOSCALER_NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT
from modules.platform_pool_k8s import PoolApps, pool_props
from modules.target_blocks import apply_backend
from tenantform.errors import TenantformError
from tenantform.module_schema import INGRESS_CLASS_NAME, INGRESS_CONTROLLER_NAMESPACE
from tenantform.names import PLATFORM_WORKSPACE
from tenantform.pins import CLUSTER_AUTOSCALER_IMAGE_TAGS, HELM_CHARTS
from tenantform.platform_config import PlatformConfig
from tenantform.synthesis import AppConfig

PLATFORM_STATE = "platform"
"""Construct id of the remote state, so expressions read `data.terraform_remote_state.platform`."""
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
SYSTEM_NAMESPACE = "kube-system"
PLATFORM_LABELS = {"app.kubernetes.io/managed-by": "tenantform", "tenantform.io/layer": "platform"}
HELM_TIMEOUT_SECONDS = 600
ZONE_SPREAD_KEY = "topology.kubernetes.io/zone"


def ingress_nginx_values(platform: PlatformConfig) -> dict[str, Any]:
    """Values of the ingress-nginx chart: NodePort on the NLB's port, spread over zones."""
    component_labels = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
    return {
        "controller": {
            "replicaCount": platform.ingress_controller_replicas,
            "minAvailable": 1,
            "ingressClass": INGRESS_CLASS_NAME,
            "ingressClassResource": {"name": INGRESS_CLASS_NAME, "enabled": True, "default": True,
                                     "controllerValue": "k8s.io/ingress-nginx"},
            "watchIngressWithoutClass": False,
            # Tenants write Ingress objects: no configuration snippets from them.
            "allowSnippetAnnotations": False,
            "config": {"annotations-risk-level": "High", "strict-validate-path-type": "true"},
            "service": {
                "type": "NodePort",
                "enableHttp": True,
                "enableHttps": False,  # TLS ends at API Gateway / CloudFront
                "nodePorts": {"http": platform.ingress_node_port},
                "externalTrafficPolicy": "Cluster",
            },
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": ZONE_SPREAD_KEY, "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": component_labels},
            }],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "metrics": {"enabled": True},
            "admissionWebhooks": {"enabled": True},
        },
    }


def metrics_server_values() -> dict[str, Any]:
    return {
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
    }


def cluster_autoscaler_values(platform: PlatformConfig) -> dict[str, Any]:
    """Auto-discovers the node groups EKS tagged for this cluster; its minor version matches the cluster's."""
    return {
        "cloudProvider": "aws",
        "awsRegion": platform.region,
        "autoDiscovery": {"clusterName": platform.cluster_name},
        "image": {"tag": CLUSTER_AUTOSCALER_IMAGE_TAGS[platform.kubernetes_version]},
        "rbac": {"serviceAccount": {"create": True, "name": AUTOSCALER_SERVICE_ACCOUNT}},
        "extraArgs": {
            "balance-similar-node-groups": True,
            "skip-nodes-with-system-pods": False,
            "expander": "least-waste",
        },
        "podDisruptionBudget": {"maxUnavailable": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}},
    }


def remote_state_source(platform_backend: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(backend type, config) reading the `platform` state, from the platform's own backend entries.

    S3 (and any other backend): the same settings, so the same state key. HCP Terraform (`cloud`):
    the `remote` backend on the same organization and workspace. Nothing: CDKTF's local default.
    """
    backends = platform_backend.get("backend") or {}
    if backends:
        (kind, settings), = backends.items()
        return kind, dict(settings)
    cloud = platform_backend.get("cloud")
    if cloud:
        workspace = (cloud.get("workspaces") or {}).get("name")
        if not workspace:
            raise TenantformError("the platform's cloud block names no workspace; platform-k8s cannot read its state")
        config: dict[str, Any] = {"organization": cloud["organization"], "workspaces": {"name": workspace}}
        if cloud.get("hostname"):
            config["hostname"] = cloud["hostname"]
        return "remote", config
    return None


class PlatformK8sStack(TerraformStack):
    def __init__(self, scope: Construct, stack_id: str, *, platform: PlatformConfig, config: AppConfig) -> None:
        super().__init__(scope, stack_id)
        self.remote = DataTerraformRemoteStateLocal(
            self, PLATFORM_STATE, path=f"../{PLATFORM_WORKSPACE}/terraform.{PLATFORM_WORKSPACE}.tfstate")
        source = remote_state_source(config.platform_backend)
        if source:
            kind, settings = source
            self.remote.add_override("backend", kind)
            self.remote.add_override("config.path", None)
            for key, value in settings.items():
                self.remote.add_override(f"config.{key}", value)

        endpoint = self.remote.get_string("cluster_endpoint")
        ca_certificate = Fn.base64decode(self.remote.get_string("cluster_certificate_authority_data"))
        token_args = ["eks", "get-token", "--cluster-name", self.remote.get_string("cluster_name"),
                      "--region", platform.region, "--output", "json"]
        KubernetesProvider(
            self, "kubernetes", host=endpoint, cluster_ca_certificate=ca_certificate,
            exec=[KubernetesProviderExec(api_version=EXEC_API_VERSION, command="aws", args=token_args)],
        )
        HelmProvider(
            self, "helm",
            kubernetes=HelmProviderKubernetes(
                host=endpoint, cluster_ca_certificate=ca_certificate,
                exec=HelmProviderKubernetesExec(api_version=EXEC_API_VERSION, command="aws", args=token_args)),
        )

        ingress_namespace = NamespaceV1(
            self, "ingress_namespace",
            metadata=NamespaceV1Metadata(
                name=INGRESS_CONTROLLER_NAMESPACE,
                # The controller binds port 80 with NET_BIND_SERVICE: `baseline`, not `restricted`.
                labels={**PLATFORM_LABELS, "pod-security.kubernetes.io/enforce": "baseline",
                        "pod-security.kubernetes.io/warn": "restricted"},
            ),
        )
        self.ingress_controller = self._release(
            "ingress_nginx", "ingress-nginx", namespace=ingress_namespace.metadata.name,
            values=ingress_nginx_values(platform), depends_on=[ingress_namespace])
        self.metrics_server = self._release("metrics_server", "metrics-server", namespace=SYSTEM_NAMESPACE,
                                            values=metrics_server_values())
        self.cluster_autoscaler = self._release(
            "cluster_autoscaler", "cluster-autoscaler", namespace=AUTOSCALER_NAMESPACE,
            values=cluster_autoscaler_values(platform),
            # IRSA: the role the `platform` workspace created for exactly this service account.
            set_values=[ReleaseSet(name="rbac.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn",
                                   value=self.remote.get_string("cluster_autoscaler_role_arn"), type="string")],
        )

        # The pool's namespace and workloads, only while a tier is pooled (they run pods: they cost).
        self.pool: PoolApps | None = None
        if platform.pooled_tiers:
            self.pool = PoolApps(self, "pool", props=pool_props(
                platform, service_role_arn=self.remote.get_string("pool_service_role_arn"),
                image_registry=self.remote.get_string("image_registry"),
                pooled_order_table_name=self.remote.get_string("pooled_order_table_name")),
                tenant_access_role_arn=self.remote.get_string("pool_tenant_access_role_arn"))
            # its Ingress is validated by the controller's admission webhook: the controller first
            self.pool.ingress.add_override("depends_on", [
                f"{Release.TF_RESOURCE_TYPE}.{self.ingress_controller.friendly_unique_id}"])

        apply_backend(self, config.platform_k8s_backend, providers=("kubernetes", "helm"))

    def _release(self, construct_id: str, chart_key: str, *, namespace: str, values: dict[str, Any],
                 set_values: list[ReleaseSet] | None = None, depends_on: list[Any] | None = None) -> Release:
        chart = HELM_CHARTS[chart_key]
        return Release(
            self, construct_id,
            name=chart_key,
            namespace=namespace,
            repository=chart["repository"],
            chart=chart["chart"],
            version=chart["version"],
            values=[json.dumps(values, sort_keys=True)],
            set=set_values,
            atomic=True,
            cleanup_on_fail=True,
            max_history=5,
            timeout=HELM_TIMEOUT_SECONDS,
            depends_on=depends_on,
        )
