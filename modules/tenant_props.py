"""The typed inputs of the tenant constructs: one frozen dataclass per layer.

A field per variable of the layer's module interface (tenantform/module_schema.py INFRA_VARIABLES,
APPS_VARIABLES; tests/test_tenant_props.py keeps them equal). A value is a literal (a stand-alone
stack: TenantStack, TenantAppsStack) or a Terraform variable token (the shared module:
TenantModuleStack); the constructs read attributes and never care which. Built in one place per
path: `from_values` on the module's variable tokens (modules/tenant_module.py) or on a tenant's
literal inputs (module_schema.infra_inputs / apps_inputs). A missing or unknown name is a
TypeError there, before any resource is made.

Not props: TenantInfra's `ignore_emulator_drift` is how the module is built (emulator or cloud,
part of the module version), not a value a tenant gives it, so it stays a construct argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Union

from cdktf import IResolvable

# What a variable token or a literal of each Terraform type looks like in Python.
Flag = Union[bool, IResolvable]          # bool: `var.x.boolean_value` is an IResolvable
Number = Union[int, float]               # number: `var.x.number_value` is a float token
Strings = list[str]                      # list(string): `var.x.list_value`
StringMap = Mapping[str, str]            # map(string): `Token.as_string_map(var.x.value)`


@dataclass(frozen=True)
class _Props:
    @classmethod
    def from_values(cls, values: Mapping[str, Any]):  # noqa: ANN206 - returns cls
        """The props of one tenant (or the module's variables) from a name -> value mapping."""
        return cls(**values)


@dataclass(frozen=True)
class InfraProps(_Props):
    """Inputs of TenantInfra: one field per INFRA_VARIABLES key."""

    tenant_id: str
    tier: str
    deployment: str
    routing: str
    company_name: str
    admin_email: str
    admin_username: str
    namespace: str
    service_account_name: str
    irsa_role_name: str
    order_table_name: str
    user_pool_name: str
    user_pool_domain: str
    app_client_name: str
    callback_urls: Strings
    enable_point_in_time_recovery: Flag
    enable_deletion_protection: Flag
    oidc_provider_arn: str
    oidc_provider_url: str
    product_table_arn: str
    catalogue_table_name: str
    catalogue_table_arn: str
    api_key_name: str
    usage_plan_id: str
    enable_custom_domain: Flag
    tenant_host: str
    hosted_zone_id: str
    app_distribution_domain_name: str
    app_distribution_hosted_zone_id: str
    tags: StringMap


@dataclass(frozen=True)
class AppsProps(_Props):
    """Inputs of TenantApps: one field per APPS_VARIABLES key."""

    tenant_id: str
    tier: str
    namespace: str
    service_account_name: str
    irsa_role_arn: str
    pod_security_level: str
    pod_security_version: str
    quota_requests_cpu: str
    quota_requests_memory: str
    quota_limits_cpu: str
    quota_limits_memory: str
    container_request_cpu: str
    container_request_memory: str
    container_limit_cpu: str
    container_limit_memory: str
    min_replicas: Number
    max_replicas: Number
    hpa_cpu_utilization: Number
    product_image: str
    order_image: str
    order_table_name: str
    product_table_name: str
    catalogue_table_name: str
    ingress_class_name: str
    ingress_controller_namespace: str

    def image(self, service: str) -> str:
        """The image of `service` (product or order)."""
        return {"product": self.product_image, "order": self.order_image}[service]

    def table_name(self, service: str) -> str:
        """The table `service` (product or order) is given in its environment."""
        return {"product": self.product_table_name, "order": self.order_table_name}[service]
