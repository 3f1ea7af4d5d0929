"""Every per-tenant name, derived in one place.

Each name is a fixed prefix + the tenant id + a fixed suffix, so two different valid ids never
give the same name (tests/test_names.py checks it over generated ids), and each fits its
service's limit for the longest valid id and platform name.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantform.tenant import validate_tenant_id
from tenantform.tiers import Deployment

EXAMPLE_ACCOUNT_ID = "123456789012"
"""The account of rendered example ARNs (stand-alone stacks, `invoke check`); moto's default account."""

INFRA = "infra"
APPS = "apps"
LAYERS = (INFRA, APPS)
"""Every layer a tenant can have, in apply order; a given tenant has `layers_of(its deployment)`."""


def layers_of(deployment: Deployment) -> tuple[str, ...]:
    """The layers (workspaces) a tenant of this deployment has: a pooled tenant has no apps layer
    (its workloads are the platform's `pool` namespace)."""
    return (INFRA,) if Deployment(deployment) is Deployment.POOL else LAYERS


@dataclass(frozen=True, kw_only=True)
class TenantNames:
    tenant_id: str
    namespace: str
    service_account: str
    order_table: str
    irsa_role: str
    user_pool: str
    user_pool_domain: str
    app_client: str
    admin_username: str
    api_key: str

    def workspace(self, layer: str) -> str:
        """Workspace name of one layer: `tenant-<id>-infra` or `tenant-<id>-apps`."""
        return workspace_name(self.tenant_id, layer)

    def state_key(self, layer: str) -> str:
        """S3 state key of one layer: `tenants/<id>/infra.tfstate` or `.../apps.tfstate`."""
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
        return f"tenants/{self.tenant_id}/{layer}.tfstate"

    def host(self, domain: str) -> str:
        return f"{self.tenant_id}.app.{domain}"


def tenant_names(tenant_id: str, *, platform_name: str) -> TenantNames:
    tenant_id = validate_tenant_id(tenant_id)
    return TenantNames(
        tenant_id=tenant_id,
        namespace=tenant_id,
        service_account=f"{tenant_id}-service-account",
        order_table=f"Order-{tenant_id}",
        irsa_role=f"{platform_name}-{tenant_id}-tenant",
        user_pool=f"{platform_name}-{tenant_id}",
        user_pool_domain=f"{platform_name}-{tenant_id}",
        app_client=f"{tenant_id}-app",
        admin_username=f"admin-{tenant_id}",
        api_key=f"{platform_name}-{tenant_id}",
    )


def workspace_name(tenant_id: str, layer: str) -> str:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; known: {', '.join(LAYERS)}")
    return f"tenant-{tenant_id}-{layer}"


PLATFORM_WORKSPACE = "platform"
PLATFORM_K8S_WORKSPACE = "platform-k8s"
PLATFORM_STATE_KEY = "platform/aws.tfstate"
PLATFORM_K8S_STATE_KEY = "platform/k8s.tfstate"
