"""The pool deployment's Kubernetes side (contract of issue 14), part of the `platform-k8s` workspace.

Once per platform, while `pooled_tiers` names a tier: namespace `pool` (Pod Security `restricted`,
pinned to the cluster's version), service account `pool` bound (IRSA) to `<platform>-pool-service`,
the product and order Deployments with `POOL=true`, `TENANT_ACCESS_ROLE_ARN` and the pooled
tables, their Services, HPAs, a ResourceQuota and a LimitRange, and the NetworkPolicies of a
tenant namespace (default deny; ingress only from the ingress controller's namespace and the
namespace itself; egress DNS and TCP 443 to public addresses). The objects are built by the same
construct as a silo tenant's apps layer (modules/tenant_apps.py `TenantApps`), which this variant
changes only in labels, environment and Ingress paths.

Ingress: the gateway forwards a pooled tenant's request to `/pool/<tenant>/<service>/...`, and the
service segment comes after the tenant, which a Prefix path cannot match without one path per
tenant. The pool's Ingress therefore uses two regular-expression paths under `/pool/`
(`/pool/<tenant id pattern>/products(/|$)`, `.../orders(/|$)`) with ingress-nginx's `use-regex`.
ingress-nginx applies `use-regex` to every path of the same host, so the silo tenants' Prefix
paths (hostless, like the pool's) are then matched as case-insensitive regular expressions
anchored at the start (`^/silo/<tenant>/products`): a path still reaches only the services of the
tenant it names, since every path ends in its service segment, and the authorizer, which builds
the tenant segment from the verified token, refuses any other spelling of a tenant (upper case
included) before the request reaches the ingress.

Sizing: the pool serves every pooled tenant, so it gets the largest tier's quota and container
sizes and at least two replicas of each service (POOL_PROFILE).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cdktf_cdktf_provider_kubernetes.deployment_v1 import DeploymentV1SpecTemplateSpecContainerEnv
from constructs import Construct

from modules.platform.constants import POOL_NAMESPACE, POOL_SERVICE_ACCOUNT
from modules.tenant_apps import CATALOGUE_ENV, MANAGED_BY, SERVICE_PATHS, SERVICE_TABLE_ENV, TenantApps
from modules.tenant_props import AppsProps
from tenantform.module_schema import (
    DEFAULT_IMAGE_TAG,
    INGRESS_CLASS_NAME,
    INGRESS_CONTROLLER_NAMESPACE,
    POD_SECURITY_LEVEL,
)
from tenantform.platform_config import PlatformConfig
from tenantform.tiers import TIER_PROFILES, Deployment, Tier

POOL_PROFILE = replace(TIER_PROFILES[Tier.PLATINUM], min_replicas=2)
POOL_PATH_PREFIX = Deployment.POOL.value
# A tenant id as tenantform validates it (tenantform/tenant.py TENANT_ID_PATTERN), unanchored.
TENANT_SEGMENT = "[a-z]([-a-z0-9]*[a-z0-9])?"
POOL_ENV = "POOL"
ROLE_ENV = "TENANT_ACCESS_ROLE_ARN"
POOL_LABELS = {"tenantform.io/deployment": POOL_PATH_PREFIX, **MANAGED_BY}


def pool_props(platform: PlatformConfig, *, service_role_arn: str, image_registry: str,
               pooled_order_table_name: str) -> AppsProps:
    """The TenantApps props of the pool (PoolApps takes `tenant_access_role_arn` beside them). Role ARNs, the registry and
    the pooled order table come from the `platform` workspace's outputs (expressions)."""
    return AppsProps.from_values({
        "tenant_id": POOL_PATH_PREFIX,  # not a tenant: only used where the variant does not override
        "tier": ",".join(tier.value for tier in platform.pooled_tiers),
        "namespace": POOL_NAMESPACE,
        "service_account_name": POOL_SERVICE_ACCOUNT,
        "irsa_role_arn": service_role_arn,
        "pod_security_level": POD_SECURITY_LEVEL,
        "pod_security_version": f"v{platform.kubernetes_version}",
        "quota_requests_cpu": POOL_PROFILE.quota_requests_cpu,
        "quota_requests_memory": POOL_PROFILE.quota_requests_memory,
        "quota_limits_cpu": POOL_PROFILE.quota_limits_cpu,
        "quota_limits_memory": POOL_PROFILE.quota_limits_memory,
        "container_request_cpu": POOL_PROFILE.container_request_cpu,
        "container_request_memory": POOL_PROFILE.container_request_memory,
        "container_limit_cpu": POOL_PROFILE.container_limit_cpu,
        "container_limit_memory": POOL_PROFILE.container_limit_memory,
        "min_replicas": POOL_PROFILE.min_replicas,
        "max_replicas": POOL_PROFILE.max_replicas,
        "hpa_cpu_utilization": POOL_PROFILE.hpa_cpu_utilization,
        "product_image": f"{image_registry}/product:{DEFAULT_IMAGE_TAG}",
        "order_image": f"{image_registry}/order:{DEFAULT_IMAGE_TAG}",
        "order_table_name": pooled_order_table_name,
        "product_table_name": platform.product_table_name,
        "catalogue_table_name": platform.catalogue_table_name,
        "ingress_class_name": INGRESS_CLASS_NAME,
        "ingress_controller_namespace": INGRESS_CONTROLLER_NAMESPACE,
    })


class PoolApps(TenantApps):
    """The `pool` namespace: TenantApps with the pool's labels, environment and Ingress paths."""

    PATH_TYPE = "ImplementationSpecific"

    def __init__(self, scope: Construct, construct_id: str, *, props: AppsProps, tenant_access_role_arn: str) -> None:
        self._tenant_access_role_arn = tenant_access_role_arn
        super().__init__(scope, construct_id, props=props)

    def _labels(self, props: AppsProps) -> dict[str, Any]:
        return dict(POOL_LABELS)

    def _path(self, service: str) -> str:
        return f"/{POOL_PATH_PREFIX}/{TENANT_SEGMENT}/{SERVICE_PATHS[service]}(/|$)"

    def _ingress_annotations(self) -> dict[str, str] | None:
        return {"nginx.ingress.kubernetes.io/use-regex": "true"}

    def _env(self, service: str, props: AppsProps) -> list[DeploymentV1SpecTemplateSpecContainerEnv]:
        """Every pooled tenant: no TENANT_ID; per request the service assumes TENANT_ACCESS_ROLE_ARN
        with the session tag tenant_id (services/common.py)."""
        table_env = SERVICE_TABLE_ENV[service][0]
        return [
            DeploymentV1SpecTemplateSpecContainerEnv(name=POOL_ENV, value="true"),
            DeploymentV1SpecTemplateSpecContainerEnv(name=ROLE_ENV, value=self._tenant_access_role_arn),
            DeploymentV1SpecTemplateSpecContainerEnv(name=table_env, value=props.table_name(service)),
            DeploymentV1SpecTemplateSpecContainerEnv(name=CATALOGUE_ENV, value=props.catalogue_table_name),
        ]
