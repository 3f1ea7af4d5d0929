"""The ingress layer's AWS side: API Gateway (REST) -> VPC link -> internal NLB -> NodePort.

The NGINX ingress controller (workspace `platform-k8s`) listens on `ingress_node_port` on every
node; the NLB's target group forwards there. API Gateway is the only public entry: `ANY
/{proxy+}` behind the tenant authorizer (modules/platform/authorizer.py), which turns a Cognito
access token into a tenant, returns that tenant's API key as the usage identifier
(`api_key_source = AUTHORIZER`, so the tier's usage plan still throttles) and the tenant id and
tier, forwarded to the ingress as the X-Tenant-Id and X-Tenant-Tier headers, and the tenant's
deployment (pool or silo), forwarded as the first path segment: `/<deployment>/<tenant>/...`.
"""

from __future__ import annotations

import json

from cdktf import Fn, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.api_gateway_account import ApiGatewayAccount
from cdktf_cdktf_provider_aws.api_gateway_deployment import ApiGatewayDeployment
from cdktf_cdktf_provider_aws.api_gateway_integration import ApiGatewayIntegration
from cdktf_cdktf_provider_aws.api_gateway_method import ApiGatewayMethod
from cdktf_cdktf_provider_aws.api_gateway_resource import ApiGatewayResource
from cdktf_cdktf_provider_aws.api_gateway_rest_api import (
    ApiGatewayRestApi,
    ApiGatewayRestApiEndpointConfiguration,
)
from cdktf_cdktf_provider_aws.api_gateway_stage import ApiGatewayStage, ApiGatewayStageAccessLogSettings
from cdktf_cdktf_provider_aws.api_gateway_usage_plan import (
    ApiGatewayUsagePlan,
    ApiGatewayUsagePlanApiStages,
    ApiGatewayUsagePlanThrottleSettings,
)
from cdktf_cdktf_provider_aws.api_gateway_vpc_link import ApiGatewayVpcLink
from cdktf_cdktf_provider_aws.autoscaling_attachment import AutoscalingAttachment
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.lb import Lb
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from constructs import Construct

from modules.platform.authorizer import TenantAuthorizer
from modules.platform.cluster import Cluster
from modules.platform.data import SharedData
from modules.platform.network import Network
from tenantform.platform_config import PlatformConfig
from tenantform.tiers import TIER_PROFILES, Tier

LISTENER_PORT = 80
# The services trust these headers only (contract with services/product and services/order).
TENANT_HEADERS = {"X-Tenant-Id": "context.authorizer.tenant_id", "X-Tenant-Tier": "context.authorizer.tier"}
# The first segment of the forwarded path: pool or silo, from the authorizer (contract of issue 14).
DEPLOYMENT_PATH_PARAMETER = "deployment"
DEPLOYMENT_SOURCE = "context.authorizer.deployment"
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "apiKeyId": "$context.identity.apiKeyId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
}


def usage_plan_name(platform: PlatformConfig, tier: Tier) -> str:
    return f"{platform.name}-{tier.value}"


class Ingress(Construct):
    """NLB + target group on the NodePort, REST API over a VPC link, one usage plan per tier."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig, network: Network,
                 cluster: Cluster, data: SharedData, ignore_emulator_drift: bool) -> None:
        super().__init__(scope, construct_id)
        name = platform.name

        # --- NLB -> nodes ---------------------------------------------------------------------
        self.load_balancer = Lb(
            self, "nlb",
            name=f"{name}-ingress",
            load_balancer_type="network",
            internal=True,
            subnets=[subnet.id for subnet in network.private_subnets],
            enable_cross_zone_load_balancing=True,
        )
        self.target_group = LbTargetGroup(
            self, "nodeport",
            name=f"{name}-nodeport",
            port=platform.ingress_node_port,
            protocol="TCP",
            target_type="instance",
            vpc_id=network.vpc.id,
            deregistration_delay="30",
            health_check=LbTargetGroupHealthCheck(protocol="TCP", port="traffic-port", interval=10,
                                                  healthy_threshold=2, unhealthy_threshold=2),
        )
        LbListener(
            self, "http",
            load_balancer_arn=self.load_balancer.arn,
            port=LISTENER_PORT,
            protocol="TCP",
            default_action=[LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)],
        )
        if platform.enable_node_target_registration:
            AutoscalingAttachment(
                self, "nodes",
                autoscaling_group_name=cluster.autoscaling_group_name,
                lb_target_group_arn=self.target_group.arn,
            )

        # --- API Gateway ------------------------------------------------------------------------
        self.vpc_link = ApiGatewayVpcLink(self, "vpc_link", name=f"{name}-ingress",
                                          target_arns=[self.load_balancer.arn])
        self.api = ApiGatewayRestApi(
            self, "api",
            name=f"{name}-api",
            description="Tenant APIs: /<tenant>/products, /<tenant>/orders",
            endpoint_configuration=ApiGatewayRestApiEndpointConfiguration(types=["REGIONAL"]),
            # The authorizer returns the tenant's key: clients never send (or know) one.
            api_key_source="AUTHORIZER",
            # With a custom domain, api.<domain> is the only way in; without one, the default
            # execute-api endpoint is the only endpoint, so it stays on.
            disable_execute_api_endpoint=bool(platform.domain),
        )
        self.authorizer = TenantAuthorizer(self, "authorizer", platform=platform, api=self.api,
                                           catalogue_table_name=data.catalogue_table.name,
                                           catalogue_table_arn=data.catalogue_table.arn)
        proxy = ApiGatewayResource(self, "proxy", rest_api_id=self.api.id, parent_id=self.api.root_resource_id,
                                   path_part="{proxy+}")
        method = ApiGatewayMethod(
            self, "proxy_any",
            rest_api_id=self.api.id,
            resource_id=proxy.id,
            http_method="ANY",
            authorization="CUSTOM",
            authorizer_id=self.authorizer.authorizer.id,
            api_key_required=True,
            request_parameters={"method.request.path.proxy": True},
        )
        integration = ApiGatewayIntegration(
            self, "proxy_nlb",
            rest_api_id=self.api.id,
            resource_id=proxy.id,
            http_method=method.http_method,
            type="HTTP_PROXY",
            integration_http_method="ANY",
            # /pool/<tenant>/... to the shared pool services, /silo/<tenant>/... to the tenant's own
            # namespace: the first segment is the authorizer's verified `deployment` (the catalogue's).
            uri=f"http://{self.load_balancer.dns_name}:{LISTENER_PORT}/{{{DEPLOYMENT_PATH_PARAMETER}}}/{{proxy}}",
            connection_type="VPC_LINK",
            connection_id=self.vpc_link.id,
            request_parameters={"integration.request.path.proxy": "method.request.path.proxy",
                                f"integration.request.path.{DEPLOYMENT_PATH_PARAMETER}": DEPLOYMENT_SOURCE,
                                **{f"integration.request.header.{header}": source
                                   for header, source in TENANT_HEADERS.items()}},
            timeout_milliseconds=29000,
            # moto does not return `connection_id`: every re-plan against it would show a change.
            lifecycle=(TerraformResourceLifecycle(ignore_changes=["connection_id"])
                       if ignore_emulator_drift else None),
        )
        deployment = ApiGatewayDeployment(
            self, "deployment",
            rest_api_id=self.api.id,
            triggers={"redeployment": Fn.sha1(Fn.jsonencode([
                proxy.id, method.id, method.authorizer_id, integration.id, integration.uri,
                self.authorizer.authorizer.id, self.authorizer.function.source_code_hash]))},
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
            depends_on=[integration],
        )
        access_logs = CloudwatchLogGroup(self, "access_logs", name=f"/aws/apigateway/{name}-api/access",
                                         retention_in_days=platform.log_retention_days)
        account = self._account_logging_role(platform, cluster, ignore_emulator_drift)
        self.stage = ApiGatewayStage(
            self, "stage",
            rest_api_id=self.api.id,
            deployment_id=deployment.id,
            stage_name=platform.api_stage_name,
            access_log_settings=ApiGatewayStageAccessLogSettings(
                destination_arn=access_logs.arn, format=json.dumps(ACCESS_LOG_FORMAT)),
            depends_on=[account] if account else None,
        )

        # --- one usage plan per tier ----------------------------------------------------------------
        self.usage_plans: dict[Tier, ApiGatewayUsagePlan] = {}
        for tier, tier_profile in TIER_PROFILES.items():
            self.usage_plans[tier] = ApiGatewayUsagePlan(
                self, f"usage_plan_{tier.value}",
                name=usage_plan_name(platform, tier),
                description=f"API throttling of {tier.value}-tier tenants",
                api_stages=[ApiGatewayUsagePlanApiStages(api_id=self.api.id, stage=self.stage.stage_name)],
                throttle_settings=ApiGatewayUsagePlanThrottleSettings(
                    rate_limit=tier_profile.throttle_rate_limit,
                    burst_limit=tier_profile.throttle_burst_limit),
            )
        self.invoke_url = self.stage.invoke_url

    def _account_logging_role(self, platform: PlatformConfig, cluster: Cluster,
                              emulator: bool) -> ApiGatewayAccount | None:
        """API Gateway writes access logs only once the account's CloudWatch role is set."""
        if not platform.enable_api_gateway_logging_role:
            return None
        trust = DataAwsIamPolicyDocument(
            self, "logging_trust",
            statement=[DataAwsIamPolicyDocumentStatement(
                effect="Allow", actions=["sts:AssumeRole"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="Service", identifiers=["apigateway.amazonaws.com"])],
            )],
        )
        role = IamRole(self, "logging_role", name=f"{platform.name}-apigateway-logs",
                       assume_role_policy=trust.json)
        attachment = IamRolePolicyAttachment(
            self, "logging_policy", role=role.name,
            policy_arn=cluster.managed_policy_arn("service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
        )
        # On destroy, clear the account setting rather than leave it naming a deleted role. moto
        # 5.2.5 answers that reset (a `remove` patch) with HTTP 500, so the local target leaves
        # the setting (provider 5.x's default: the resource only leaves the state).
        return ApiGatewayAccount(self, "account", cloudwatch_role_arn=role.arn,
                                 reset_on_delete=None if emulator else True, depends_on=[attachment])
