"""The `platform` workspace: everything of which there is one copy (AWS side).

Network -> cluster (+ node group, IRSA) -> registry, shared tables, pool (pooled order table and
the pool services' roles) -> ingress (NLB, API Gateway,
usage plans) -> frontends (S3 + CloudFront) -> optional custom domain (Route53, ACM). One
Terraform output per field of `tenantform.contract.PlatformOutputs`.
"""

from __future__ import annotations

from typing import Any

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from modules.platform.cluster import Cluster
from modules.platform.data import SharedData
from modules.platform.dns import CustomDomain
from modules.platform.frontends import Frontends
from modules.platform.ingress import Ingress
from modules.platform.network import Network
from modules.platform.pool import Pool
from modules.platform.registry import Registry
from modules.target_blocks import apply_backend, aws_provider
from tenantform.contract import PLATFORM_OUTPUT_DESCRIPTIONS, platform_output_names
from tenantform.platform_config import PlatformConfig
from tenantform.roots import escape
from tenantform.synthesis import AppConfig

CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
US_EAST_1_ALIAS = "us_east_1"


class PlatformStack(TerraformStack):
    def __init__(self, scope: Construct, stack_id: str, *, platform: PlatformConfig, config: AppConfig) -> None:
        super().__init__(scope, stack_id)
        if config.emulator:
            # The local target: switch off what moto cannot serve (EMULATOR_UNSUPPORTED), apply the rest.
            platform = platform.for_emulator()
        self.platform = platform
        provider_settings = config.aws_provider or {"region": platform.region,
                                                    "default_tags": [{"tags": escape(dict(platform.tags))}]}
        aws_provider(self, provider_settings, region=platform.region)

        self.network = Network(self, "network", platform=platform)
        self.cluster = Cluster(self, "cluster", platform=platform, network=self.network,
                               ignore_emulator_drift=config.emulator)
        self.registry = Registry(self, "registry", platform=platform)
        self.data = SharedData(self, "data", platform=platform)
        # Always, not only with pooled_tiers: see modules/platform/pool.py for why.
        self.pool = Pool(self, "pool", platform=platform, cluster=self.cluster, data=self.data)
        self.ingress = Ingress(self, "ingress", platform=platform, network=self.network, cluster=self.cluster,
                               data=self.data, ignore_emulator_drift=config.emulator)
        self.domain: CustomDomain | None = None
        if platform.domain:
            us_east_1 = _aliased_provider(self, provider_settings, alias=US_EAST_1_ALIAS,
                                          region=CLOUDFRONT_CERTIFICATE_REGION)
            self.domain = CustomDomain(self, "domain", platform=platform, us_east_1=us_east_1)
        self.frontends = Frontends(
            self, "frontends", platform=platform,
            certificate_arn=self.domain.frontend_certificate_arn if self.domain else None,
            ignore_emulator_drift=config.emulator,
        )
        if self.domain:
            self.domain.route(frontends=self.frontends, ingress=self.ingress)

        for name, value in self.output_values().items():
            TerraformOutput(self, name, value=value, description=PLATFORM_OUTPUT_DESCRIPTIONS[name])
        apply_target_blocks(self, config)

    def output_values(self) -> dict[str, Any]:
        """One value per PlatformOutputs field, in the contract's order."""
        cluster, registry, ingress, app, admin = (self.cluster, self.registry, self.ingress,
                                                  self.frontends.app, self.frontends.admin)
        values: dict[str, Any] = {
            "cluster_name": cluster.cluster.name,
            "oidc_provider_arn": cluster.oidc_provider.arn,
            "oidc_provider_url": cluster.oidc_provider_url,
            "product_table_name": self.data.product_table.name,
            "product_table_arn": self.data.product_table.arn,
            "catalogue_table_name": self.data.catalogue_table.name,
            "catalogue_table_arn": self.data.catalogue_table.arn,
            "pooled_order_table_name": self.pool.order_table.name,
            "pooled_order_table_arn": self.pool.order_table.arn,
            "pool_service_role_arn": self.pool.service_role.arn,
            "pool_tenant_access_role_arn": self.pool.tenant_access_role.arn,
            "cluster_endpoint": cluster.cluster.endpoint,
            "cluster_certificate_authority_data": cluster.cluster.certificate_authority.get(0).data,
            "cluster_version": cluster.cluster.version,
            "cluster_security_group_id": cluster.cluster_security_group_id,
            "node_role_arn": cluster.node_role.arn,
            "cluster_autoscaler_role_arn": cluster.autoscaler_role.arn,
            "vpc_id": self.network.vpc.id,
            "private_subnet_ids": [subnet.id for subnet in self.network.private_subnets],
            "image_registry": registry.image_registry,
            "product_repository_url": registry.repositories["product"].repository_url,
            "order_repository_url": registry.repositories["order"].repository_url,
            "ingress_node_port": self.platform.ingress_node_port,
            "ingress_target_group_arn": ingress.target_group.arn,
            "api_id": ingress.api.id,
            "api_stage_name": ingress.stage.stage_name,
            "api_endpoint": self.domain.api_endpoint if self.domain else ingress.invoke_url,
            "usage_plan_ids": {tier.value: plan.id for tier, plan in ingress.usage_plans.items()},
            "app_bucket_name": app.bucket.bucket,
            "app_distribution_id": app.distribution.id,
            "app_distribution_domain_name": app.distribution.domain_name,
            "app_distribution_hosted_zone_id": app.distribution.hosted_zone_id,
            "admin_bucket_name": admin.bucket.bucket,
            "admin_distribution_id": admin.distribution.id,
            "admin_distribution_domain_name": admin.distribution.domain_name,
            "hosted_zone_id": self.domain.zone_id if self.domain else "",
        }
        assert tuple(values) == platform_output_names(), set(values) ^ set(platform_output_names())
        return values


def _aliased_provider(scope: Construct, settings: dict[str, Any], *, alias: str, region: str) -> AwsProvider:
    """A second aws provider (same target settings) for resources that must live in `region`."""
    settings = {**settings, "region": region}
    default_tags = [AwsProviderDefaultTags(tags=block["tags"]) for block in settings.pop("default_tags", [])]
    return AwsProvider(scope, f"aws_{alias}", alias=alias, default_tags=default_tags or None, **settings)


def apply_target_blocks(stack: TerraformStack, config: AppConfig) -> None:
    """Backend (or cloud block) as the target rendered it (tenantform.targets)."""
    apply_backend(stack, config.platform_backend, providers=("aws",))
