"""The shared platform's output contract, consumed by the tenant layers.

The `platform` stack declares one Terraform output per field of `PlatformOutputs` (same name);
each tenant root reads them from the platform's state with `terraform_remote_state` and passes
them to the tenant module by attribute. Nothing reads an output by a hand-typed string.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class PlatformOutputs:
    """Outputs of the `platform` workspace. Every field is documented; the name is the output name."""

    cluster_name: str
    """Name of the EKS cluster."""
    oidc_provider_arn: str
    """ARN of the cluster's IAM OIDC provider, the principal of every IRSA trust."""
    oidc_provider_url: str
    """Issuer of the cluster's OIDC provider without `https://`, the prefix of IRSA condition keys."""
    product_table_name: str
    """The pooled Product table (partition key = tenant id)."""
    product_table_arn: str
    """ARN of the pooled Product table."""
    catalogue_table_name: str
    """The tenant catalogue table (partition key = tenant id)."""
    catalogue_table_arn: str
    """ARN of the tenant catalogue table."""
    pooled_order_table_name: str
    """The pooled order table of the pool deployment (partition key tenant id, sort key order id)."""
    pooled_order_table_arn: str
    """ARN of the pooled order table."""
    pool_service_role_arn: str
    """IRSA role of the pool services (service account pool/pool); may only assume the tenant-access role."""
    pool_tenant_access_role_arn: str
    """Role the pool services assume per request with session tag tenant_id; its policy binds dynamodb:LeadingKeys to that tag."""
    cluster_endpoint: str
    """HTTPS endpoint of the cluster's API server (host of the apps layers' and platform-k8s's kubernetes/helm providers)."""
    cluster_certificate_authority_data: str
    """Base64 CA bundle of the cluster's API server."""
    cluster_version: str
    """Kubernetes version of the control plane."""
    cluster_security_group_id: str
    """Security group EKS created for the control plane and nodes (empty on the local target: moto has none)."""
    node_role_arn: str
    """IAM role of the managed node group's instances."""
    cluster_autoscaler_role_arn: str
    """IRSA role of the cluster autoscaler (service account kube-system/cluster-autoscaler)."""
    vpc_id: str
    """The platform VPC."""
    private_subnet_ids: list[str]
    """Private subnets, one per availability zone (nodes, pods, the internal NLB)."""
    image_registry: str
    """Registry prefix of the service images: `<image_registry>/<service>:<tag>`."""
    product_repository_url: str
    """ECR repository of the product service."""
    order_repository_url: str
    """ECR repository of the order service."""
    ingress_node_port: int
    """NodePort the NGINX ingress controller listens on; the NLB target group forwards to it."""
    ingress_target_group_arn: str
    """NLB target group in front of the ingress NodePort."""
    api_id: str
    """Id of the API Gateway REST API (`ANY /{proxy+}` over the VPC link)."""
    api_stage_name: str
    """Stage of the REST API that the usage plans cover."""
    api_endpoint: str
    """Base URL of the tenant APIs: `https://api.<domain>` with a custom domain, else the stage's invoke URL."""
    usage_plan_ids: dict[str, str]
    """Tier (basic, standard, premium, platinum) -> id of its API Gateway usage plan; a tenant's API key joins its tier's."""
    app_bucket_name: str
    """Bucket of the tenants' app SPA (upload the build here)."""
    app_distribution_id: str
    """CloudFront distribution of the app SPA (invalidate it after an upload)."""
    app_distribution_domain_name: str
    """`*.cloudfront.net` name of the app distribution: the target of each tenant's alias record."""
    app_distribution_hosted_zone_id: str
    """Route53 zone id of CloudFront aliases, for the tenants' alias records."""
    admin_bucket_name: str
    """Bucket of the admin SPA."""
    admin_distribution_id: str
    """CloudFront distribution of the admin SPA."""
    admin_distribution_domain_name: str
    """`*.cloudfront.net` name of the admin distribution."""
    hosted_zone_id: str
    """Route53 hosted zone of the custom domain (empty without one); tenants add `<tenant>.app.<domain>` here."""


def _field_docs() -> dict[str, str]:
    """The docstring under each field, read from this file's source (one source of truth)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(PlatformOutputs))
    docs: dict[str, str] = {}
    body = tree.body[0].body  # type: ignore[attr-defined]
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr):
            docs[node.target.id] = following.value.value  # type: ignore[union-attr]
    return docs


PLATFORM_OUTPUT_DESCRIPTIONS: dict[str, str] = _field_docs()


def platform_output_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(PlatformOutputs))


class Ref(str):
    """A Terraform expression written by tenantform itself: rendered as is, never escaped.

    Every other string that reaches a root is data and gets its `${`/`%{` escaped.
    """


def remote_state_ref(output: str) -> Ref:
    """Terraform expression a tenant root uses for one platform output."""
    if output not in platform_output_names():
        raise KeyError(f"{output!r} is not a platform output; known: {', '.join(platform_output_names())}")
    return Ref("${data.terraform_remote_state.platform.outputs." + output + "}")


def usage_plan_ref(tier: str) -> Ref:
    """Terraform expression of one tier's usage plan id (an entry of the `usage_plan_ids` output)."""
    from tenantform.tiers import Tier

    return Ref(remote_state_ref("usage_plan_ids")[:-1] + '["' + Tier(tier).value + '"]}')
