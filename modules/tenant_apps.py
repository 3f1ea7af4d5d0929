"""The Kubernetes layer of one tenant: its namespace ("silo"), identity, isolation, sizing and
the `product` and `order` workloads behind the platform's ingress controller.

Inputs are either literals (TenantAppsStack, for tests) or Terraform variables (the shared
module): the construct reads `inputs[name]` and never cares which. Numbers go through
`Token.as_string`/`Token.as_number` only where the provider schema wants another type.

Isolation model (what a platform engineer can rely on for every tenant namespace):
- Pod Security Admission enforces, audits and warns at `pod_security_level` (restricted),
  pinned to `pod_security_version` so a cluster upgrade never tightens it unannounced.
- NetworkPolicy: default deny of ingress AND egress for every pod, then only these exceptions:
  1. egress to cluster DNS (kube-system pods labelled k8s-app=kube-dns, UDP and TCP 53);
  2. ingress from the ingress controller's namespace, only to the API pods' container port;
  3. ingress and egress between pods of the same namespace (product <-> order);
  4. egress TCP 443 to public addresses: DynamoDB and STS (IRSA) have public, changing IP
     ranges that a NetworkPolicy cannot name, so 443 is open to 0.0.0.0/0 *except* the private
     ranges (RFC 1918 and 100.64.0.0/10: every node, pod and service of the VPC, so other
     tenants stay unreachable even on 443) and link-local 169.254.0.0/16 (instance metadata:
     pods must use their IRSA role, never the node's). A platform that adds interface VPC
     endpoints (private IPs) must add their subnets as an extra exception.
  Traffic from the kubelet (probes) is node-local and allowed by the VPC CNI policy agent.
- No Kubernetes API token is mounted (automount off on the service account and the pods): the
  services talk to AWS only, and the EKS pod identity webhook injects its own projected token
  for IRSA regardless of automount.
- ResourceQuota caps compute per tier and forbids LoadBalancer/NodePort services (the only way
  in is the shared ingress); LimitRange gives every container a default request and limit.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from cdktf import TerraformResourceLifecycle, TerraformStack, Token
from cdktf_cdktf_provider_kubernetes.deployment_v1 import (
    DeploymentV1,
    DeploymentV1Metadata,
    DeploymentV1Spec,
    DeploymentV1SpecSelector,
    DeploymentV1SpecStrategy,
    DeploymentV1SpecStrategyRollingUpdate,
    DeploymentV1SpecTemplate,
    DeploymentV1SpecTemplateMetadata,
    DeploymentV1SpecTemplateSpec,
    DeploymentV1SpecTemplateSpecContainer,
    DeploymentV1SpecTemplateSpecContainerEnv,
    DeploymentV1SpecTemplateSpecContainerLivenessProbe,
    DeploymentV1SpecTemplateSpecContainerLivenessProbeHttpGet,
    DeploymentV1SpecTemplateSpecContainerPort,
    DeploymentV1SpecTemplateSpecContainerReadinessProbe,
    DeploymentV1SpecTemplateSpecContainerReadinessProbeHttpGet,
    DeploymentV1SpecTemplateSpecContainerResources,
    DeploymentV1SpecTemplateSpecContainerSecurityContext,
    DeploymentV1SpecTemplateSpecContainerSecurityContextCapabilities,
    DeploymentV1SpecTemplateSpecContainerSecurityContextSeccompProfile,
    DeploymentV1SpecTemplateSpecContainerVolumeMount,
    DeploymentV1SpecTemplateSpecSecurityContext,
    DeploymentV1SpecTemplateSpecSecurityContextSeccompProfile,
    DeploymentV1SpecTemplateSpecTopologySpreadConstraint,
    DeploymentV1SpecTemplateSpecTopologySpreadConstraintLabelSelector,
    DeploymentV1SpecTemplateSpecVolume,
    DeploymentV1SpecTemplateSpecVolumeEmptyDir,
)
from cdktf_cdktf_provider_kubernetes.horizontal_pod_autoscaler_v2 import (
    HorizontalPodAutoscalerV2,
    HorizontalPodAutoscalerV2Metadata,
    HorizontalPodAutoscalerV2Spec,
    HorizontalPodAutoscalerV2SpecMetric,
    HorizontalPodAutoscalerV2SpecMetricResource,
    HorizontalPodAutoscalerV2SpecMetricResourceTarget,
    HorizontalPodAutoscalerV2SpecScaleTargetRef,
)
from cdktf_cdktf_provider_kubernetes.ingress_v1 import (
    IngressV1,
    IngressV1Metadata,
    IngressV1Spec,
    IngressV1SpecRule,
    IngressV1SpecRuleHttp,
    IngressV1SpecRuleHttpPath,
    IngressV1SpecRuleHttpPathBackend,
    IngressV1SpecRuleHttpPathBackendService,
    IngressV1SpecRuleHttpPathBackendServicePort,
)
from cdktf_cdktf_provider_kubernetes.limit_range_v1 import (
    LimitRangeV1,
    LimitRangeV1Metadata,
    LimitRangeV1Spec,
    LimitRangeV1SpecLimit,
)
from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1, NamespaceV1Metadata
from cdktf_cdktf_provider_kubernetes.network_policy_v1 import (
    NetworkPolicyV1,
    NetworkPolicyV1Metadata,
    NetworkPolicyV1Spec,
    NetworkPolicyV1SpecEgress,
    NetworkPolicyV1SpecEgressPorts,
    NetworkPolicyV1SpecEgressTo,
    NetworkPolicyV1SpecEgressToIpBlock,
    NetworkPolicyV1SpecEgressToNamespaceSelector,
    NetworkPolicyV1SpecEgressToPodSelector,
    NetworkPolicyV1SpecIngress,
    NetworkPolicyV1SpecIngressFrom,
    NetworkPolicyV1SpecIngressFromNamespaceSelector,
    NetworkPolicyV1SpecIngressFromPodSelector,
    NetworkPolicyV1SpecIngressPorts,
    NetworkPolicyV1SpecPodSelector,
)
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider
from cdktf_cdktf_provider_kubernetes.resource_quota_v1 import (
    ResourceQuotaV1,
    ResourceQuotaV1Metadata,
    ResourceQuotaV1Spec,
)
from cdktf_cdktf_provider_kubernetes.service_account_v1 import ServiceAccountV1, ServiceAccountV1Metadata
from cdktf_cdktf_provider_kubernetes.service_v1 import ServiceV1, ServiceV1Metadata, ServiceV1Spec, ServiceV1SpecPort
from constructs import Construct

from tenantform.module_schema import apps_inputs
from tenantform.platform_config import PlatformConfig
from tenantform.tenant import Tenant

# The contract every service image honours: it listens on CONTAINER_PORT as RUN_AS_USER
# (non-root, numeric so that runAsNonRoot can be verified), writes only to /tmp, and answers
# the two probe paths. The routes themselves live under /<tenant>/<service>/ (the ingress path
# adds the deployment in front: /silo/<tenant>/<service>, see SILO_PATH_PREFIX).
SERVICES = ("product", "order")
SERVICE_PATHS = {"product": "products", "order": "orders"}
# The gateway forwards /<deployment>/<tenant>/<service>: a silo tenant's ingress serves
# /silo/<tenant>/..., the platform's pool namespace /pool/ (modules/platform_pool_k8s.py).
SILO_PATH_PREFIX = "silo"
SERVICE_TABLE_ENV = {"product": ("PRODUCT_TABLE_NAME", "product_table_name"),
                     "order": ("ORDER_TABLE_NAME", "order_table_name")}
# The write freeze of a move lives in the catalogue (services/common.py CATALOGUE_ENV).
CATALOGUE_ENV = "CATALOGUE_TABLE"
CONTAINER_PORT = 8080
SERVICE_PORT = 80
PORT_NAME = "http"
RUN_AS_USER = "10001"
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
TMP_SIZE_LIMIT = "64Mi"

MANAGED_BY = {"app.kubernetes.io/managed-by": "tenantform"}
API_COMPONENT = {"app.kubernetes.io/component": "api"}
NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
POD_SECURITY_MODES = ("enforce", "audit", "warn")

# Object-count caps per namespace, the same for every tier (compute is capped per tier).
# QUOTA_PODS must cover both deployments at the HPA maximum plus one surge pod each during a
# rolling update, for every tier (tests/test_tenant_apps.py checks it against tiers.py).
QUOTA_PODS = "20"
QUOTA_OBJECT_CAPS = {
    "pods": QUOTA_PODS,
    "services": "4",
    "services.loadbalancers": "0",
    "services.nodeports": "0",
}

DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
AWS_EGRESS_CIDR = "0.0.0.0/0"
AWS_EGRESS_EXCEPT = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


class TenantApps(Construct):
    """One tenant's Kubernetes objects. `inputs` has one entry per APPS_VARIABLES key."""

    def __init__(self, scope: Construct, construct_id: str, *, inputs: Mapping[str, Any]) -> None:
        super().__init__(scope, construct_id)
        self._tenant_id = inputs["tenant_id"]
        tenant_labels = {"tenant": inputs["tenant_id"], "tier": inputs["tier"], **MANAGED_BY}

        pod_security = {}
        for mode in POD_SECURITY_MODES:
            pod_security[f"pod-security.kubernetes.io/{mode}"] = inputs["pod_security_level"]
            pod_security[f"pod-security.kubernetes.io/{mode}-version"] = inputs["pod_security_version"]
        self.namespace = NamespaceV1(
            self, "namespace",
            metadata=NamespaceV1Metadata(name=inputs["namespace"], labels={**tenant_labels, **pod_security}),
        )
        # Every namespaced object names the namespace through the resource: Terraform then
        # creates the namespace first and deletes it last.
        namespace = self.namespace.metadata.name

        self.service_account = ServiceAccountV1(
            self, "service_account",
            metadata=ServiceAccountV1Metadata(
                name=inputs["service_account_name"], namespace=namespace, labels=tenant_labels,
                annotations={"eks.amazonaws.com/role-arn": inputs["irsa_role_arn"]}),
            automount_service_account_token=False,
        )

        self.quota = ResourceQuotaV1(
            self, "resource_quota",
            metadata=ResourceQuotaV1Metadata(name="tenant-quota", namespace=namespace, labels=tenant_labels),
            spec=ResourceQuotaV1Spec(hard={
                "requests.cpu": inputs["quota_requests_cpu"],
                "requests.memory": inputs["quota_requests_memory"],
                "limits.cpu": inputs["quota_limits_cpu"],
                "limits.memory": inputs["quota_limits_memory"],
                **QUOTA_OBJECT_CAPS,
            }),
        )
        self.limit_range = LimitRangeV1(
            self, "limit_range",
            metadata=LimitRangeV1Metadata(name="tenant-limits", namespace=namespace, labels=tenant_labels),
            spec=LimitRangeV1Spec(limit=[LimitRangeV1SpecLimit(
                type="Container",
                default={"cpu": inputs["container_limit_cpu"], "memory": inputs["container_limit_memory"]},
                default_request={"cpu": inputs["container_request_cpu"],
                                 "memory": inputs["container_request_memory"]},
            )]),
        )

        self._network_policies(namespace, tenant_labels, inputs)

        self.deployments: dict[str, DeploymentV1] = {}
        self.services: dict[str, ServiceV1] = {}
        self.autoscalers: dict[str, HorizontalPodAutoscalerV2] = {}
        for service in SERVICES:
            self._workload(service, namespace, tenant_labels, inputs)

        self.ingress = IngressV1(
            self, "ingress",
            metadata=IngressV1Metadata(name="api", namespace=namespace, labels=tenant_labels),
            spec=IngressV1Spec(
                ingress_class_name=inputs["ingress_class_name"],
                rule=[IngressV1SpecRule(http=IngressV1SpecRuleHttp(path=[
                    IngressV1SpecRuleHttpPath(
                        path=self._path(service),
                        path_type="Prefix",
                        backend=IngressV1SpecRuleHttpPathBackend(service=IngressV1SpecRuleHttpPathBackendService(
                            name=self.services[service].metadata.name,
                            port=IngressV1SpecRuleHttpPathBackendServicePort(name=PORT_NAME))),
                    )
                    for service in SERVICES
                ]))],
            ),
            # The address is the shared controller's NLB, not this tenant's: nothing to wait for.
            wait_for_load_balancer=False,
        )

    def _path(self, service: str) -> str:
        return f"/{SILO_PATH_PREFIX}/{self._tenant_id}/{SERVICE_PATHS[service]}"

    def _network_policies(self, namespace: str, labels: Mapping[str, str], inputs: Mapping[str, Any]) -> None:
        def policy(construct_id: str, name: str, spec: NetworkPolicyV1Spec) -> NetworkPolicyV1:
            return NetworkPolicyV1(
                self, construct_id,
                metadata=NetworkPolicyV1Metadata(name=name, namespace=namespace, labels=labels), spec=spec)

        all_pods = NetworkPolicyV1SpecPodSelector()
        self.default_deny = policy("netpol_default_deny", "default-deny", NetworkPolicyV1Spec(
            pod_selector=all_pods, policy_types=["Ingress", "Egress"]))
        self.allow_dns = policy("netpol_allow_dns", "allow-dns-egress", NetworkPolicyV1Spec(
            pod_selector=all_pods, policy_types=["Egress"],
            egress=[NetworkPolicyV1SpecEgress(
                to=[NetworkPolicyV1SpecEgressTo(
                    namespace_selector=NetworkPolicyV1SpecEgressToNamespaceSelector(
                        match_labels={NAMESPACE_NAME_LABEL: DNS_NAMESPACE}),
                    pod_selector=NetworkPolicyV1SpecEgressToPodSelector(match_labels=DNS_POD_LABELS),
                )],
                ports=[NetworkPolicyV1SpecEgressPorts(port="53", protocol=protocol) for protocol in ("UDP", "TCP")],
            )],
        ))
        self.allow_ingress_controller = policy(
            "netpol_allow_ingress_controller", "allow-from-ingress-controller", NetworkPolicyV1Spec(
                pod_selector=NetworkPolicyV1SpecPodSelector(match_labels=API_COMPONENT),
                policy_types=["Ingress"],
                ingress=[NetworkPolicyV1SpecIngress(
                    from_=[NetworkPolicyV1SpecIngressFrom(
                        namespace_selector=NetworkPolicyV1SpecIngressFromNamespaceSelector(
                            match_labels={NAMESPACE_NAME_LABEL: inputs["ingress_controller_namespace"]}))],
                    # NetworkPolicy sees the pod's port (after the service's DNAT), not the service port.
                    ports=[NetworkPolicyV1SpecIngressPorts(port=str(CONTAINER_PORT), protocol="TCP")],
                )],
            ))
        self.allow_same_namespace = policy("netpol_allow_same_namespace", "allow-same-namespace", NetworkPolicyV1Spec(
            pod_selector=all_pods, policy_types=["Ingress", "Egress"],
            ingress=[NetworkPolicyV1SpecIngress(
                from_=[NetworkPolicyV1SpecIngressFrom(pod_selector=NetworkPolicyV1SpecIngressFromPodSelector())])],
            egress=[NetworkPolicyV1SpecEgress(
                to=[NetworkPolicyV1SpecEgressTo(pod_selector=NetworkPolicyV1SpecEgressToPodSelector())])],
        ))
        self.allow_aws_https = policy("netpol_allow_aws_https", "allow-aws-https-egress", NetworkPolicyV1Spec(
            pod_selector=all_pods, policy_types=["Egress"],
            egress=[NetworkPolicyV1SpecEgress(
                to=[NetworkPolicyV1SpecEgressTo(ip_block=NetworkPolicyV1SpecEgressToIpBlock(
                    cidr=AWS_EGRESS_CIDR, except_=list(AWS_EGRESS_EXCEPT)))],
                ports=[NetworkPolicyV1SpecEgressPorts(port="443", protocol="TCP")],
            )],
        ))

    def _workload(self, service: str, namespace: str, tenant_labels: Mapping[str, str],
                  inputs: Mapping[str, Any]) -> None:
        selector = {NAME_LABEL: service, **API_COMPONENT}
        labels = {**tenant_labels, **selector}
        table_env, table_input = SERVICE_TABLE_ENV[service]
        resources = DeploymentV1SpecTemplateSpecContainerResources(
            requests={"cpu": inputs["container_request_cpu"], "memory": inputs["container_request_memory"]},
            limits={"cpu": inputs["container_limit_cpu"], "memory": inputs["container_limit_memory"]},
        )
        container = DeploymentV1SpecTemplateSpecContainer(
            name=service,
            image=inputs[f"{service}_image"],
            image_pull_policy="IfNotPresent",
            port=[DeploymentV1SpecTemplateSpecContainerPort(
                name=PORT_NAME, container_port=CONTAINER_PORT, protocol="TCP")],
            env=[
                DeploymentV1SpecTemplateSpecContainerEnv(name="TENANT_ID", value=inputs["tenant_id"]),
                DeploymentV1SpecTemplateSpecContainerEnv(name=table_env, value=inputs[table_input]),
                DeploymentV1SpecTemplateSpecContainerEnv(name=CATALOGUE_ENV, value=inputs["catalogue_table_name"]),
            ],
            resources=resources,
            liveness_probe=DeploymentV1SpecTemplateSpecContainerLivenessProbe(
                http_get=DeploymentV1SpecTemplateSpecContainerLivenessProbeHttpGet(
                    path=LIVENESS_PATH, port=PORT_NAME),
                initial_delay_seconds=10, period_seconds=10, timeout_seconds=2, failure_threshold=3),
            readiness_probe=DeploymentV1SpecTemplateSpecContainerReadinessProbe(
                http_get=DeploymentV1SpecTemplateSpecContainerReadinessProbeHttpGet(
                    path=READINESS_PATH, port=PORT_NAME),
                period_seconds=5, timeout_seconds=2, failure_threshold=3),
            security_context=DeploymentV1SpecTemplateSpecContainerSecurityContext(
                run_as_non_root=True,
                run_as_user=RUN_AS_USER,
                run_as_group=RUN_AS_USER,
                read_only_root_filesystem=True,
                allow_privilege_escalation=False,
                privileged=False,
                capabilities=DeploymentV1SpecTemplateSpecContainerSecurityContextCapabilities(drop=["ALL"]),
                seccomp_profile=DeploymentV1SpecTemplateSpecContainerSecurityContextSeccompProfile(
                    type="RuntimeDefault"),
            ),
            volume_mount=[DeploymentV1SpecTemplateSpecContainerVolumeMount(name="tmp", mount_path="/tmp")],
        )
        deployment = DeploymentV1(
            self, f"{service}_deployment",
            metadata=DeploymentV1Metadata(name=service, namespace=namespace, labels=labels),
            spec=DeploymentV1Spec(
                # The HPA owns the replica count after creation (see lifecycle below).
                replicas=Token.as_string(inputs["min_replicas"]),
                revision_history_limit=5,
                selector=DeploymentV1SpecSelector(match_labels=selector),
                strategy=DeploymentV1SpecStrategy(
                    type="RollingUpdate",
                    rolling_update=DeploymentV1SpecStrategyRollingUpdate(max_surge="1", max_unavailable="0")),
                template=DeploymentV1SpecTemplate(
                    metadata=DeploymentV1SpecTemplateMetadata(labels=labels),
                    spec=DeploymentV1SpecTemplateSpec(
                        service_account_name=self.service_account.metadata.name,
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=DeploymentV1SpecTemplateSpecSecurityContext(
                            run_as_non_root=True,
                            run_as_user=RUN_AS_USER,
                            run_as_group=RUN_AS_USER,
                            fs_group=RUN_AS_USER,
                            seccomp_profile=DeploymentV1SpecTemplateSpecSecurityContextSeccompProfile(
                                type="RuntimeDefault"),
                        ),
                        # Spread replicas over the node group's zones when they can be.
                        topology_spread_constraint=[DeploymentV1SpecTemplateSpecTopologySpreadConstraint(
                            max_skew=1, topology_key="topology.kubernetes.io/zone",
                            when_unsatisfiable="ScheduleAnyway",
                            label_selector=[DeploymentV1SpecTemplateSpecTopologySpreadConstraintLabelSelector(
                                match_labels=selector)],
                        )],
                        container=[container],
                        volume=[DeploymentV1SpecTemplateSpecVolume(
                            name="tmp",
                            empty_dir=DeploymentV1SpecTemplateSpecVolumeEmptyDir(size_limit=TMP_SIZE_LIMIT))],
                    ),
                ),
            ),
            lifecycle=TerraformResourceLifecycle(ignore_changes=["spec[0].replicas"]),
            # The quota and limit range must exist before the first pod is admitted.
            depends_on=[self.quota, self.limit_range],
        )
        self.deployments[service] = deployment

        self.services[service] = ServiceV1(
            self, f"{service}_service",
            metadata=ServiceV1Metadata(name=service, namespace=namespace, labels=labels),
            spec=ServiceV1Spec(
                type="ClusterIP",
                selector=selector,
                port=[ServiceV1SpecPort(name=PORT_NAME, port=SERVICE_PORT, target_port=PORT_NAME, protocol="TCP")],
            ),
        )

        self.autoscalers[service] = HorizontalPodAutoscalerV2(
            self, f"{service}_hpa",
            metadata=HorizontalPodAutoscalerV2Metadata(name=service, namespace=namespace, labels=labels),
            spec=HorizontalPodAutoscalerV2Spec(
                scale_target_ref=HorizontalPodAutoscalerV2SpecScaleTargetRef(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name),
                min_replicas=inputs["min_replicas"],
                max_replicas=inputs["max_replicas"],
                metric=[HorizontalPodAutoscalerV2SpecMetric(
                    type="Resource",
                    resource=HorizontalPodAutoscalerV2SpecMetricResource(
                        name="cpu",
                        target=HorizontalPodAutoscalerV2SpecMetricResourceTarget(
                            type="Utilization", average_utilization=inputs["hpa_cpu_utilization"])),
                )],
            ),
        )

    def outputs(self) -> dict[str, Any]:
        """Values of APPS_OUTPUTS, by name."""
        return {
            "namespace": self.namespace.metadata.name,
            "product_path": self._path("product"),
            "order_path": self._path("order"),
        }


class TenantAppsStack(TerraformStack):
    """A stand-alone stack for one tenant's Kubernetes layer, with its provider and literal inputs.

    Not what tenants run (they run thin roots over the shared module): tests assert on it per
    tier, and its synthesised objects are what the schema check turns into manifests.
    """

    def __init__(self, scope: Construct, stack_id: str, *, tenant: Tenant, platform: PlatformConfig,
                 irsa_role_arn: str, image_registry: str) -> None:
        super().__init__(scope, stack_id)
        KubernetesProvider(self, "kubernetes")
        self.apps = TenantApps(self, "tenant", inputs=apps_inputs(
            tenant, platform, irsa_role_arn=irsa_role_arn, image_registry=image_registry))


# --- Kubernetes manifests from the synthesised resources (for schema validation) ---------------

# kubernetes_* resource type -> (apiVersion, kind)
MANIFEST_KINDS: dict[str, tuple[str, str]] = {
    NamespaceV1.TF_RESOURCE_TYPE: ("v1", "Namespace"),
    ServiceAccountV1.TF_RESOURCE_TYPE: ("v1", "ServiceAccount"),
    ResourceQuotaV1.TF_RESOURCE_TYPE: ("v1", "ResourceQuota"),
    LimitRangeV1.TF_RESOURCE_TYPE: ("v1", "LimitRange"),
    NetworkPolicyV1.TF_RESOURCE_TYPE: ("networking.k8s.io/v1", "NetworkPolicy"),
    DeploymentV1.TF_RESOURCE_TYPE: ("apps/v1", "Deployment"),
    ServiceV1.TF_RESOURCE_TYPE: ("v1", "Service"),
    IngressV1.TF_RESOURCE_TYPE: ("networking.k8s.io/v1", "Ingress"),
    HorizontalPodAutoscalerV2.TF_RESOURCE_TYPE: ("autoscaling/v2", "HorizontalPodAutoscaler"),
}
# Top-level resource arguments that are Terraform's or the provider's, not the object's.
_TERRAFORM_ARGUMENTS = {"depends_on", "lifecycle", "provider", "count", "for_each", "timeouts",
                        "wait_for_rollout", "wait_for_load_balancer", "wait_for_default_service_account", "//"}
# Attributes whose value is a map of user keys (labels, quantities): keys are kept verbatim.
_MAP_ATTRIBUTES = {"labels", "annotations", "hard", "match_labels", "limits", "requests", "default",
                   "default_request", "max", "min", "selector", "node_selector"}
# Repeated blocks the provider names in the singular (only when the value is a list).
_PLURALS = {"container": "containers", "volume": "volumes", "port": "ports", "volume_mount": "volumeMounts",
            "limit": "limits", "rule": "rules", "path": "paths", "metric": "metrics", "toleration": "tolerations",
            "topology_spread_constraint": "topologySpreadConstraints", "image_pull_secret": "imagePullSecrets",
            "env_from": "envFrom"}
# Blocks the provider models as a one-element list where Kubernetes has an object.
_SINGLE_LISTS = {"label_selector", "tcp_socket", "grpc"}
# Int-or-string and integer fields the provider carries as strings.
_INTEGER_STRINGS = {"replicas", "port", "target_port", "max_surge", "max_unavailable", "run_as_user",
                    "run_as_group", "fs_group"}
_REFERENCE = re.compile(r"\$\{(kubernetes_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.metadata\[0\]\.name\}")


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")  # `from_`/`except_` are jsii's escapes
    return head + "".join(part.capitalize() for part in rest)


def _convert(key: str | None, value: Any) -> Any:
    if isinstance(value, dict):
        if key in _MAP_ATTRIBUTES and not any(isinstance(v, (dict, list)) for v in value.values()):
            return dict(value)
        return {_convert_key(k, v): _convert(k, v) for k, v in value.items()}
    if isinstance(value, list):
        if key in _SINGLE_LISTS and len(value) == 1:
            return _convert(None, value[0])
        return [_convert(key, item) for item in value]
    if key in _INTEGER_STRINGS and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _convert_key(key: str, value: Any) -> str:
    if isinstance(value, list) and key in _PLURALS:
        return _PLURALS[key]
    return _camel(key)


def _resolve_references(value: Any, names: Mapping[tuple[str, str], str]) -> Any:
    """Replace `${kubernetes_x.y.metadata[0].name}` by the referenced object's literal name."""
    if isinstance(value, dict):
        return {k: _resolve_references(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_references(v, names) for v in value]
    if isinstance(value, str) and "${" in value:
        resolved = _REFERENCE.sub(lambda m: names[(m.group(1), m.group(2))], value)
        if "${" in resolved:
            raise ValueError(f"cannot render {value!r} as a literal: synthesise with literal inputs")
        return resolved
    return value


def kubernetes_manifests(synthesised: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a synthesised stack (parsed cdk.tf.json) with literal inputs.

    A pure function over the JSON: it maps the kubernetes provider's schema (snake_case,
    singular repeated blocks, integers as strings) onto the Kubernetes API's, so the objects
    can be validated against the OpenAPI schemas of the cluster version. Unknown kubernetes_*
    resource types raise, so a new object kind cannot slip past the check.
    """
    resources: Mapping[str, Mapping[str, Any]] = synthesised.get("resource", {})
    names = {(rtype, logical): body["metadata"]["name"]
             for rtype, items in resources.items() if rtype.startswith("kubernetes_")
             for logical, body in items.items()}
    manifests = []
    for rtype, items in sorted(resources.items()):
        if not rtype.startswith("kubernetes_"):
            continue
        if rtype not in MANIFEST_KINDS:
            raise ValueError(f"no manifest mapping for {rtype}")
        api_version, kind = MANIFEST_KINDS[rtype]
        for logical in sorted(items):
            body = _resolve_references(items[logical], names)
            manifest: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
            for key, value in body.items():
                if key not in _TERRAFORM_ARGUMENTS:
                    manifest[_convert_key(key, value)] = _convert(key, value)
            manifests.append(manifest)
    return manifests
