"""Per-tenant names: each fits its service's limit, and two tenants never share one."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings

from tenantform.names import APPS, INFRA, TenantNames, tenant_names, workspace_name
from tenantform.platform_config import MAX_PLATFORM_NAME_LENGTH
from tenantform.tenant import MAX_TENANT_ID_LENGTH

# Service limits of the names derived from a tenant id.
LIMITS = {
    "namespace": 63,            # Kubernetes namespace (DNS-1123 label)
    "service_account": 253,     # Kubernetes object name (DNS-1123 subdomain)
    "order_table": 255,         # DynamoDB table name
    "irsa_role": 64,            # IAM role name
    "user_pool": 128,           # Cognito user pool name
    "user_pool_domain": 63,     # Cognito domain prefix
    "app_client": 128,          # Cognito app client name
    "admin_username": 128,      # Cognito user name
    "api_key": 1024,            # API Gateway API key name
}


def test_every_name_fits_for_the_longest_ids() -> None:
    names = tenant_names("a" * MAX_TENANT_ID_LENGTH, platform_name="p" * MAX_PLATFORM_NAME_LENGTH)
    for field in fields(TenantNames):
        if field.name == "tenant_id":
            continue
        value = getattr(names, field.name)
        assert len(value) <= LIMITS[field.name], (field.name, value)


def test_known_names() -> None:
    names = tenant_names("acme", platform_name="tenantform")
    assert names.order_table == "Order-acme"
    assert names.service_account == "acme-service-account"
    assert names.namespace == "acme"
    assert names.state_key(INFRA) == "tenants/acme/infra.tfstate"
    assert names.state_key(APPS) == "tenants/acme/apps.tfstate"
    assert names.workspace(INFRA) == "tenant-acme-infra" == workspace_name("acme", INFRA)

from tests.strategies import tenant_ids


@settings(max_examples=300, deadline=None)
@given(first=tenant_ids, second=tenant_ids)
def test_two_different_tenants_never_share_a_name(first: str, second: str) -> None:
    if first == second:
        return
    a = tenant_names(first, platform_name="tenantform")
    b = tenant_names(second, platform_name="tenantform")
    for field in fields(TenantNames):  # same kind of name, same service: must differ
        assert getattr(a, field.name) != getattr(b, field.name), field.name
    for layer in (INFRA, APPS):
        assert workspace_name(first, layer) != workspace_name(second, layer)
        assert tenant_names(first, platform_name="x").state_key(layer) != \
            tenant_names(second, platform_name="x").state_key(layer)
