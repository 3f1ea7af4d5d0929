"""The API's tenant authorizer: a REQUEST Lambda authorizer (code in services/authorizer).

The zip comes from tenantform.lambda_package (deterministic bytes); the stack references it by its
file name, relative to the platform workspace directory where the orchestration writes it, and by
its base64 SHA-256 (`source_code_hash`), so a change to the authorizer's code or pins changes the
synthesised JSON. The function's role may write its own logs, read the catalogue table (GetItem)
and read API keys (GET /apikeys/*, for the key value), nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path

from cdktf_cdktf_provider_aws.api_gateway_authorizer import ApiGatewayAuthorizer
from cdktf_cdktf_provider_aws.api_gateway_rest_api import ApiGatewayRestApi
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionTracingConfig,
)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from constructs import Construct

from tenantform import lambda_package
from tenantform.platform_config import PlatformConfig

PROJECT_DIR = Path(__file__).resolve().parents[2]
IDENTITY_SOURCE = "method.request.header.Authorization,context.httpMethod,context.path"
"""The decision is cached per token, method AND path: a cached Allow for /acme/... never answers
/globex/..., and the Allow for one methodArn (GET) is not reused for another (POST), which its policy
would not cover."""
RESULT_TTL_SECONDS = 300


class TenantAuthorizer(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig, api: ApiGatewayRestApi,
                 catalogue_table_name: str, catalogue_table_arn: str) -> None:
        super().__init__(scope, construct_id)
        name = f"{platform.name}-authorizer"
        package = lambda_package.build(PROJECT_DIR)
        self.log_group = CloudwatchLogGroup(self, "logs", name=f"/aws/lambda/{name}",
                                            retention_in_days=platform.log_retention_days)
        trust = DataAwsIamPolicyDocument(self, "trust", statement=[DataAwsIamPolicyDocumentStatement(
            effect="Allow", actions=["sts:AssumeRole"],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="Service",
                                                                    identifiers=["lambda.amazonaws.com"])])])
        self.role = IamRole(self, "role", name=name, assume_role_policy=trust.json)
        IamRolePolicy(self, "policy", name="authorizer", role=self.role.id, policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "OwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Resource": f"{self.log_group.arn}:*"},
                {"Sid": "ReadCatalogueEntry", "Effect": "Allow", "Action": "dynamodb:GetItem",
                 "Resource": catalogue_table_arn},
                {"Sid": "ReadApiKeyValues", "Effect": "Allow", "Action": "apigateway:GET",
                 "Resource": f"arn:aws:apigateway:{platform.region}::/apikeys/*"},
                {"Sid": "Tracing", "Effect": "Allow",
                 "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"},
            ]}))
        self.function = LambdaFunction(
            self, "function",
            function_name=name,
            description="API Gateway REQUEST authorizer: Cognito access token -> tenant (services/authorizer)",
            role=self.role.arn,
            runtime=lambda_package.RUNTIME,
            handler=lambda_package.HANDLER,
            filename=lambda_package.ZIP_NAME,
            source_code_hash=package.sha256_base64,
            timeout=5,
            memory_size=256,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            environment=LambdaFunctionEnvironment(variables={"CATALOGUE_TABLE": catalogue_table_name}),
            depends_on=[self.log_group],
        )
        self.authorizer = ApiGatewayAuthorizer(
            self, "authorizer",
            name="tenant",
            rest_api_id=api.id,
            type="REQUEST",
            authorizer_uri=self.function.invoke_arn,
            identity_source=IDENTITY_SOURCE,
            authorizer_result_ttl_in_seconds=RESULT_TTL_SECONDS,
        )
        LambdaPermission(
            self, "invoke",
            statement_id="ApiGatewayInvokesAuthorizer",
            action="lambda:InvokeFunction",
            function_name=self.function.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{api.execution_arn}/authorizers/{self.authorizer.id}",
        )
