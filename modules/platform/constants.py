"""Names shared by the `platform` (AWS) and `platform-k8s` workspaces, without CDKTF imports.

The IRSA trust in `platform` and the service account in `platform-k8s` must agree on them;
importing this module costs nothing (no provider bindings).
"""

from __future__ import annotations

AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"

# The pool deployment (contract of issue 14): one namespace and service account for the pooled
# tenants' product and order services. The IRSA trust of `<platform>-pool-service` names them.
POOL_NAMESPACE = "pool"
POOL_SERVICE_ACCOUNT = "pool"
TENANT_TAG = "tenant_id"
"""The session tag the pool services set (from the gateway's verified tenant) when they assume the
tenant-access role; its policy binds dynamodb:LeadingKeys to `${aws:PrincipalTag/tenant_id}`."""


def pool_service_role_name(platform_name: str) -> str:
    return f"{platform_name}-pool-service"


def pool_tenant_access_role_name(platform_name: str) -> str:
    return f"{platform_name}-pool-tenant-access"
