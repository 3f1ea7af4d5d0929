"""The tenant module's interface: its variables (per layer) and the values a tenant gives them.

The CDKTF module stacks (modules/tenant_module.py) declare exactly these variables; the thin
roots (roots.py) pass exactly these inputs. Tier numbers come from tiers.py, names from
names.py: the module itself derives nothing, so one synthesised module serves every tenant.
This file is part of the module version (module_version.py hashes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantform.contract import Ref, remote_state_ref, usage_plan_ref
from tenantform.names import APPS, EXAMPLE_ACCOUNT_ID, INFRA, tenant_names
from tenantform.platform_config import PlatformConfig
from tenantform.tenant import Tenant
from tenantform.tiers import Deployment, profile


@dataclass(frozen=True)
class Variable:
    type: str
    description: str
    validation: tuple[tuple[str, str], ...] = ()
    """(condition, error message) pairs terraform checks on every value; `{var}` in a condition
    stands for the variable's reference."""


def pinned_image(description: str) -> Variable:
    """An image variable that refuses `:latest` and a missing tag: `<repository>:<tag>` or `@sha256:<digest>`."""
    return Variable("string", description, validation=((
        '${can(regex("^[^@]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$", {var})) '
        '&& !endswith({var}, ":latest")}',
        "The image must name a release tag (not latest) or a sha256 digest."),))


def deployment_variable(description: str) -> Variable:
    """A `pool` or `silo` variable (tenantform.tiers.Deployment)."""
    allowed = ", ".join(f'"{d.value}"' for d in Deployment)
    return Variable("string", description, validation=((
        f"${{contains([{allowed}], {{var}})}}", f"The value must be one of {allowed}."),))


INFRA_VARIABLES: dict[str, Variable] = {
    "tenant_id": Variable("string", "Tenant id (a DNS-1123 label)."),
    "tier": Variable("string", "Tenant tier: basic, standard, premium or platinum."),
    "deployment": deployment_variable(
        "pool or silo: whether the tenant's own order table, IRSA role and its policy exist (silo) or "
        "not (pool: the platform's pool services and pooled tables serve it)."),
    "routing": deployment_variable(
        "pool or silo: the catalogue entry's `deployment` attribute, which the authorizer turns into the "
        "first path segment of the request it forwards (/pool/... or /silo/...)."),
    "company_name": Variable("string", "Company name, stored in the tenant catalogue."),
    "admin_email": Variable("string", "E-mail of the tenant's first admin user (invited by Cognito)."),
    "admin_username": Variable("string", "User name of the tenant's first admin user."),
    "namespace": Variable("string", "Kubernetes namespace of the tenant (IRSA subject)."),
    "service_account_name": Variable("string", "Kubernetes service account bound to the IRSA role."),
    "irsa_role_name": Variable("string", "Name of the tenant's IRSA role."),
    "order_table_name": Variable("string", "The tenant's own (silo) order table."),
    "user_pool_name": Variable("string", "Name of the tenant's Cognito user pool."),
    "user_pool_domain": Variable("string", "Cognito hosted-UI domain prefix."),
    "app_client_name": Variable("string", "Name of the Cognito app client."),
    "callback_urls": Variable("list(string)", "OAuth callback and logout URLs of the app client."),
    "enable_point_in_time_recovery": Variable("bool", "Point-in-time recovery on the order table."),
    "enable_deletion_protection": Variable("bool", "Deletion protection on the order table and user pool."),
    "oidc_provider_arn": Variable("string", "Platform contract: the cluster's IAM OIDC provider ARN."),
    "oidc_provider_url": Variable("string", "Platform contract: the OIDC issuer without https://."),
    "product_table_arn": Variable("string", "Platform contract: the pooled Product table ARN."),
    "catalogue_table_name": Variable("string", "Platform contract: the tenant catalogue table."),
    "catalogue_table_arn": Variable("string", "Platform contract: the tenant catalogue table's ARN (write-freeze key)."),
    "api_key_name": Variable("string", "Name of the tenant's API Gateway API key."),
    "usage_plan_id": Variable("string", "Platform contract: the usage plan of the tenant's tier."),
    "enable_custom_domain": Variable("bool", "Whether the platform has a custom domain (adds the alias record)."),
    "tenant_host": Variable("string", "The tenant's host, <id>.app.<domain> (empty without a domain)."),
    "hosted_zone_id": Variable("string", "Platform contract: the domain's hosted zone (empty without one)."),
    "app_distribution_domain_name": Variable("string", "Platform contract: the app distribution's domain."),
    "app_distribution_hosted_zone_id": Variable("string", "Platform contract: the app distribution's zone."),
    "tags": Variable("map(string)", "Tags for every resource of the tenant."),
}

INFRA_OUTPUTS: dict[str, str] = {
    "irsa_role_arn": "ARN of the tenant's IRSA role (annotated on its service account); empty in the pool.",
    "order_table_name": "Name of the tenant's order table; empty in the pool.",
    "order_table_arn": "ARN of the tenant's order table; empty in the pool.",
    "user_pool_id": "Id of the tenant's Cognito user pool.",
    "user_pool_client_id": "Id of the tenant's Cognito app client.",
    "user_pool_domain": "Cognito hosted-UI domain prefix.",
    "api_key_id": "Id of the tenant's API key (its value stays in API Gateway).",
    "tenant_url": "The tenant's app URL (custom domain) or empty.",
}

APPS_VARIABLES: dict[str, Variable] = {
    "tenant_id": Variable("string", "Tenant id (a DNS-1123 label)."),
    "tier": Variable("string", "Tenant tier: basic, standard, premium or platinum."),
    "namespace": Variable("string", "Kubernetes namespace of the tenant."),
    "service_account_name": Variable("string", "Service account the workloads run as."),
    "irsa_role_arn": Variable("string", "IAM role the service account assumes (from the infra layer)."),
    "pod_security_level": Variable("string", "Pod Security Standard enforced on the namespace."),
    "pod_security_version": Variable("string", "Pod Security Standard version the namespace pins (v<cluster minor>)."),
    "quota_requests_cpu": Variable("string", "ResourceQuota requests.cpu."),
    "quota_requests_memory": Variable("string", "ResourceQuota requests.memory."),
    "quota_limits_cpu": Variable("string", "ResourceQuota limits.cpu."),
    "quota_limits_memory": Variable("string", "ResourceQuota limits.memory."),
    "container_request_cpu": Variable("string", "Per-container cpu request (and LimitRange default request)."),
    "container_request_memory": Variable("string", "Per-container memory request."),
    "container_limit_cpu": Variable("string", "Per-container cpu limit (and LimitRange default)."),
    "container_limit_memory": Variable("string", "Per-container memory limit."),
    "min_replicas": Variable("number", "Replicas of each service, and the HPA minimum."),
    "max_replicas": Variable("number", "HPA maximum."),
    "hpa_cpu_utilization": Variable("number", "HPA target average CPU utilisation, percent."),
    "product_image": pinned_image("Image of the product service: a release tag (not latest) or a digest."),
    "order_image": pinned_image("Image of the order service: a release tag (not latest) or a digest."),
    "order_table_name": Variable("string", "The tenant's order table (environment of the order service)."),
    "product_table_name": Variable("string", "The pooled product table (environment of the product service)."),
    "catalogue_table_name": Variable("string", "The tenant catalogue (environment of both services: the write freeze)."),
    "ingress_class_name": Variable("string", "IngressClass of the platform's ingress controller."),
    "ingress_controller_namespace": Variable("string", "Namespace of the ingress controller (NetworkPolicy exception)."),
}

APPS_OUTPUTS: dict[str, str] = {
    "namespace": "The tenant's namespace.",
    "product_path": "Ingress path of the product service.",
    "order_path": "Ingress path of the order service.",
}

MODULE_VARIABLES = {INFRA: INFRA_VARIABLES, APPS: APPS_VARIABLES}
MODULE_OUTPUTS = {INFRA: INFRA_OUTPUTS, APPS: APPS_OUTPUTS}

INGRESS_CLASS_NAME = "nginx"
INGRESS_CONTROLLER_NAMESPACE = "ingress-nginx"
POD_SECURITY_LEVEL = "restricted"
DEFAULT_IMAGE_TAG = "1.0.0"


def infra_inputs(tenant: Tenant, platform: PlatformConfig, *, platform_refs: bool = True,
                 deletion_protection: bool | None = None, deployment: Deployment | str | None = None,
                 routing: Deployment | str | None = None) -> dict[str, Any]:
    """Inputs of the infra module for one tenant.

    With `platform_refs`, platform values are remote-state expressions (for a root);
    without, they are the deterministic names/placeholders a stand-alone stack uses in tests.
    `deletion_protection=False` overrides the tier (offboarding turns protection off first).
    `deployment` and `routing` default to the tenant's derived deployment (tier + pooled_tiers);
    a move between pool and silo passes them explicitly (target footprint first, routing later).
    """
    names = tenant_names(tenant.id, platform_name=platform.name)
    tier = profile(tenant.tier)
    derived = platform.deployment_of(tenant.tier)
    values: dict[str, Any] = {
        "tenant_id": tenant.id,
        "tier": tenant.tier.value,
        "deployment": Deployment(deployment or derived).value,
        "routing": Deployment(routing or derived).value,
        "company_name": tenant.company_name,
        "admin_email": tenant.admin_email,
        "admin_username": names.admin_username,
        "namespace": names.namespace,
        "service_account_name": names.service_account,
        "irsa_role_name": names.irsa_role,
        "order_table_name": names.order_table,
        "user_pool_name": names.user_pool,
        "user_pool_domain": names.user_pool_domain,
        "app_client_name": names.app_client,
        "callback_urls": [],  # below: the tenant's own host, or the app distribution's
        "enable_point_in_time_recovery": tier.enable_point_in_time_recovery,
        "enable_deletion_protection": (tier.enable_deletion_protection if deletion_protection is None
                                       else deletion_protection),
        "tags": {**platform.tags, "tenant": tenant.id, "tier": tenant.tier.value},
        "api_key_name": names.api_key,
        "enable_custom_domain": bool(platform.domain),
        "tenant_host": names.host(platform.domain) if platform.domain else "",
    }
    platform_keys = ("oidc_provider_arn", "oidc_provider_url", "product_table_arn", "catalogue_table_name",
                     "catalogue_table_arn", "hosted_zone_id", "app_distribution_domain_name", "app_distribution_hosted_zone_id")
    if platform_refs:
        values.update({key: remote_state_ref(key) for key in platform_keys})
        values["usage_plan_id"] = usage_plan_ref(tenant.tier.value)
    else:
        values.update({
            "usage_plan_id": f"plan-{tenant.tier.value}",
            "hosted_zone_id": "Z0EXAMPLE" if platform.domain else "",
            "app_distribution_domain_name": "d111111abcdef8.cloudfront.net",
            "app_distribution_hosted_zone_id": "Z2FDTNDATAQYW2",
            "oidc_provider_arn": f"arn:aws:iam::{EXAMPLE_ACCOUNT_ID}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
            "oidc_provider_url": "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE",
            "product_table_arn": f"arn:aws:dynamodb:{platform.region}:{EXAMPLE_ACCOUNT_ID}:table/{platform.product_table_name}",
            "catalogue_table_name": platform.catalogue_table_name,
            "catalogue_table_arn": f"arn:aws:dynamodb:{platform.region}:{EXAMPLE_ACCOUNT_ID}:table/"
                                   f"{platform.catalogue_table_name}",
        })
    # The OAuth callback is where the tenant's SPA is served: `<tenant>.app.<domain>`, or without a
    # domain the app distribution's own *.cloudfront.net name. Never a localhost URL: a client
    # that redirects to localhost hands codes to whatever listens on the user's machine.
    app_host = names.host(platform.domain) if platform.domain else values["app_distribution_domain_name"]
    url = f"https://{app_host}/"
    values["callback_urls"] = [Ref(url) if isinstance(app_host, Ref) else url]
    assert set(values) == set(INFRA_VARIABLES), set(values) ^ set(INFRA_VARIABLES)
    return values


def apps_inputs(tenant: Tenant, platform: PlatformConfig, *, irsa_role_arn: str,
                image_registry: str) -> dict[str, Any]:
    """Inputs of the apps module for one tenant. `irsa_role_arn` is an expression or a literal."""
    names = tenant_names(tenant.id, platform_name=platform.name)
    tier = profile(tenant.tier)
    values: dict[str, Any] = {
        "tenant_id": tenant.id,
        "tier": tenant.tier.value,
        "namespace": names.namespace,
        "service_account_name": names.service_account,
        "irsa_role_arn": irsa_role_arn,
        "pod_security_level": POD_SECURITY_LEVEL,
        # Pinned to the cluster's version: an upgrade never tightens admission unannounced.
        "pod_security_version": f"v{platform.kubernetes_version}",
        "quota_requests_cpu": tier.quota_requests_cpu,
        "quota_requests_memory": tier.quota_requests_memory,
        "quota_limits_cpu": tier.quota_limits_cpu,
        "quota_limits_memory": tier.quota_limits_memory,
        "container_request_cpu": tier.container_request_cpu,
        "container_request_memory": tier.container_request_memory,
        "container_limit_cpu": tier.container_limit_cpu,
        "container_limit_memory": tier.container_limit_memory,
        "min_replicas": tier.min_replicas,
        "max_replicas": tier.max_replicas,
        "hpa_cpu_utilization": tier.hpa_cpu_utilization,
        # type(...) keeps a tenantform-written expression (contract.Ref) an expression
        "product_image": type(image_registry)(f"{image_registry}/product:{DEFAULT_IMAGE_TAG}"),
        "order_image": type(image_registry)(f"{image_registry}/order:{DEFAULT_IMAGE_TAG}"),
        "order_table_name": names.order_table,
        "product_table_name": platform.product_table_name,
        "catalogue_table_name": platform.catalogue_table_name,
        "ingress_class_name": INGRESS_CLASS_NAME,
        "ingress_controller_namespace": INGRESS_CONTROLLER_NAMESPACE,
    }
    assert set(values) == set(APPS_VARIABLES), set(values) ^ set(APPS_VARIABLES)
    return values
