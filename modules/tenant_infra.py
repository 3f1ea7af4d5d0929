"""The AWS layer of one tenant: identity (Cognito), data (silo order table, catalogue entry) and
the IRSA role that lets the tenant's pods reach exactly the tenant's data.

Inputs are either literals (a stand-alone stack in tests) or Terraform variables (the shared
module): the construct reads `inputs[name]` and never cares which.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, TypeVar

from cdktf import Fn, Op, TerraformDataSource, TerraformElement, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.api_gateway_api_key import ApiGatewayApiKey
from cdktf_cdktf_provider_aws.api_gateway_usage_plan_key import ApiGatewayUsagePlanKey
from cdktf_cdktf_provider_aws.cognito_user import CognitoUser
from cdktf_cdktf_provider_aws.cognito_user_pool import (
    CognitoUserPool,
    CognitoUserPoolAdminCreateUserConfig,
    CognitoUserPoolAdminCreateUserConfigInviteMessageTemplate,
    CognitoUserPoolPasswordPolicy,
    CognitoUserPoolSchema,
    CognitoUserPoolSchemaStringAttributeConstraints,
)
from cdktf_cdktf_provider_aws.cognito_user_pool_client import CognitoUserPoolClient
from cdktf_cdktf_provider_aws.cognito_user_pool_domain import CognitoUserPoolDomain
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from cdktf_cdktf_provider_aws.dynamodb_table_item import DynamodbTableItem
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordAlias
from constructs import Construct

from tenantform.tiers import Deployment

# The catalogue key of a tenant's write freeze during a move (contract of issue 14).
FREEZE_KEY_SUFFIX = "#move"
# Item-level actions a tenant may run on the pooled Product table. Every one of them carries
# the partition key, so `dynamodb:LeadingKeys` constrains it. Scan (and PartiQL, and
# DescribeTable-style table calls) carry no leading key and are deliberately absent.
POOLED_TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
# The silo order table belongs to the tenant alone: Scan is fine there.
SILO_TABLE_ACTIONS = POOLED_TABLE_ACTIONS + ("dynamodb:DescribeTable", "dynamodb:Scan")
CUSTOM_ATTRIBUTES = ("tenant-id", "tier")
# Claims users cannot change: the custom attributes are immutable (set once, at AdminCreateUser),
# and the app client may write only these standard attributes (never custom:*). Changing the
# schema replaces the user pool: module release 1.1.0 (README, "Request path and tenant identity").
# The user pool's schema cannot change in place (Cognito and the aws provider refuse: "cannot
# modify or remove schema items", and the provider plans it as an update, not a replacement).
# A schema change is therefore a new pool GENERATION: a new resource address, so terraform plans
# the old pool's deletion and the new pool's creation, which `invoke fleet.rollout` shows before
# applying. Bump it with every schema change (tests/test_tenant_infra.py guards the pairing).
# Generation 1 (module <= 1.0.0) was `aws_cognito_user_pool.user_pool`, with mutable claims.
USER_POOL_GENERATION = 2
CLIENT_READ_ATTRIBUTES = ("email", "email_verified", "name", "custom:tenant-id", "custom:tier")
CLIENT_WRITE_ATTRIBUTES = ("email", "name")


class TenantInfra(Construct):
    """One tenant's AWS resources. `inputs` has one entry per INFRA_VARIABLES key."""

    def __init__(self, scope: Construct, construct_id: str, *, inputs: Mapping[str, Any],
                 ignore_emulator_drift: bool = False) -> None:
        super().__init__(scope, construct_id)
        tags = inputs["tags"]
        # A silo tenant owns an order table and an IRSA role with its policy; a pooled tenant none
        # of them (the platform's pool services and pooled tables serve it: modules/platform/pool.py).
        silo_count = when(equals(inputs["deployment"], Deployment.SILO.value), 1, 0)

        self.order_table = named(DynamodbTable(
            self, "order_table",
            count=silo_count,
            name=inputs["order_table_name"],
            billing_mode="PAY_PER_REQUEST",
            hash_key="order_id",
            attribute=[DynamodbTableAttribute(name="order_id", type="S")],
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(
                enabled=inputs["enable_point_in_time_recovery"]),
            deletion_protection_enabled=inputs["enable_deletion_protection"],
            tags=tags,
        ))

        # moto answers TagResource with 500 (Cognito) and 404 (API keys): a tier change, which
        # moves the `tier` tag, would fail there. Only the emulator build ignores tag changes.
        emulator_tags = TerraformResourceLifecycle(ignore_changes=["tags"]) if ignore_emulator_drift else None

        self.user_pool = named(CognitoUserPool(
            self, f"user_pool_g{USER_POOL_GENERATION}",
            lifecycle=emulator_tags,
            name=inputs["user_pool_name"],
            # premium and platinum (the tier's enable_deletion_protection); offboarding turns it off first
            deletion_protection=Token.as_string(when(inputs["enable_deletion_protection"], "ACTIVE", "INACTIVE")),
            auto_verified_attributes=["email"],
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration={"enabled": True},
            password_policy=CognitoUserPoolPasswordPolicy(
                minimum_length=12, require_lowercase=True, require_uppercase=True,
                require_numbers=True, require_symbols=True, temporary_password_validity_days=7),
            admin_create_user_config=CognitoUserPoolAdminCreateUserConfig(
                allow_admin_create_user_only=True,
                invite_message_template=CognitoUserPoolAdminCreateUserConfigInviteMessageTemplate(
                    email_subject="Your SaaS administrator account",
                    email_message="Your user name is {username} and your temporary password is {####}.",
                    sms_message="Your user name is {username} and your temporary password is {####}.",
                ),
            ),
            schema=[
                CognitoUserPoolSchema(
                    name=attribute, attribute_data_type="String", mutable=False,
                    developer_only_attribute=False, required=False,
                    string_attribute_constraints=CognitoUserPoolSchemaStringAttributeConstraints(
                        min_length="1", max_length="64"),
                )
                for attribute in CUSTOM_ATTRIBUTES
            ],
            tags=tags,
        ))

        self.app_client = named(CognitoUserPoolClient(
            self, "app_client",
            name=inputs["app_client_name"],
            user_pool_id=self.user_pool.id,
            generate_secret=False,
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=["code"],
            allowed_oauth_scopes=["openid", "email", "profile"],
            supported_identity_providers=["COGNITO"],
            callback_urls=inputs["callback_urls"],
            logout_urls=inputs["callback_urls"],
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            read_attributes=list(CLIENT_READ_ATTRIBUTES),
            write_attributes=list(CLIENT_WRITE_ATTRIBUTES),
        ))

        self.domain = named(CognitoUserPoolDomain(
            self, "user_pool_domain",
            domain=inputs["user_pool_domain"],
            user_pool_id=self.user_pool.id,
        ))

        self.admin_user = named(CognitoUser(
            self, "admin_user",
            user_pool_id=self.user_pool.id,
            username=inputs["admin_username"],
            desired_delivery_mediums=["EMAIL"],
            attributes={
                "email": inputs["admin_email"],
                "email_verified": "true",
                "custom:tenant-id": inputs["tenant_id"],
                "custom:tier": inputs["tier"],
            },
            # moto returns custom attributes without the `custom:` prefix, so every re-plan
            # against it would show a change that is not real. Only the local target ignores it.
            # Elsewhere `custom:tier` records the tier at creation: it is immutable, so a tier
            # change must not try to rewrite it (the catalogue entry holds the current tier, and
            # the authorizer reads it from there).
            lifecycle=TerraformResourceLifecycle(
                ignore_changes=["attributes"] if ignore_emulator_drift else ['attributes["custom:tier"]']),
        ))

        trust = named(DataAwsIamPolicyDocument(
            self, "irsa_trust",
            count=silo_count,
            statement=[DataAwsIamPolicyDocumentStatement(
                sid="ServiceAccountOnly",
                effect="Allow",
                actions=["sts:AssumeRoleWithWebIdentity"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="Federated", identifiers=[inputs["oidc_provider_arn"]])],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable=f"{inputs['oidc_provider_url']}:sub",
                        values=[f"system:serviceaccount:{inputs['namespace']}:{inputs['service_account_name']}"]),
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable=f"{inputs['oidc_provider_url']}:aud",
                        values=["sts.amazonaws.com"]),
                ],
            )],
        ))
        self.irsa_role = named(IamRole(
            self, "irsa_role",
            count=silo_count,
            name=inputs["irsa_role_name"],
            assume_role_policy=first(trust, "json"),
            max_session_duration=3600,
            tags=tags,
        ))

        data_access = named(DataAwsIamPolicyDocument(
            self, "data_access",
            count=silo_count,
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="OwnOrderTable",
                    effect="Allow",
                    actions=list(SILO_TABLE_ACTIONS),
                    resources=[first(self.order_table, "arn")],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="PooledProductsOwnPartitionOnly",
                    effect="Allow",
                    actions=list(POOLED_TABLE_ACTIONS),
                    resources=[inputs["product_table_arn"]],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="ForAllValues:StringEquals", variable="dynamodb:LeadingKeys",
                            values=[inputs["tenant_id"]]),
                        # ForAllValues is true when the request carries no key at all (a Scan):
                        # demand that the key is present, so no keyless call slips through.
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="Null", variable="dynamodb:LeadingKeys", values=["false"]),
                    ],
                ),
                # The write freeze of a move (contract of issue 14): the services read the one
                # catalogue item `<tenant>#move`, and nothing else of the catalogue.
                DataAwsIamPolicyDocumentStatement(
                    sid="OwnWriteFreezeFlagOnly",
                    effect="Allow",
                    actions=["dynamodb:GetItem"],
                    resources=[inputs["catalogue_table_arn"]],
                    condition=[
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="ForAllValues:StringEquals", variable="dynamodb:LeadingKeys",
                            values=[freeze_key(inputs["tenant_id"])]),
                        DataAwsIamPolicyDocumentStatementCondition(
                            test="Null", variable="dynamodb:LeadingKeys", values=["false"]),
                    ],
                ),
            ],
        ))
        self.data_policy = named(IamRolePolicy(
            self, "data_access_policy",
            count=silo_count,
            name="tenant-data-access",
            role=first(self.irsa_role, "id"),
            policy=first(data_access, "json"),
        ))

        # API access: the tenant's own key in its tier's usage plan (throttling per tier).
        self.api_key = named(ApiGatewayApiKey(
            self, "api_key",
            name=inputs["api_key_name"],
            description="API key of one tenant; its usage plan sets the tier's rate and burst limits",
            enabled=True,
            tags=tags,
            lifecycle=emulator_tags,
        ))
        self.usage_plan_key = named(ApiGatewayUsagePlanKey(
            self, "usage_plan_key",
            key_id=self.api_key.id,
            key_type="API_KEY",
            usage_plan_id=inputs["usage_plan_id"],
        ))

        # `<tenant>.app.<domain>`, when the platform has a custom domain.
        self.alias_record = named(Route53Record(
            self, "app_alias",
            count=when(inputs["enable_custom_domain"], 1, 0),
            zone_id=inputs["hosted_zone_id"],
            name=inputs["tenant_host"],
            type="A",
            alias=Route53RecordAlias(name=inputs["app_distribution_domain_name"],
                                     zone_id=inputs["app_distribution_hosted_zone_id"],
                                     evaluate_target_health=False),
        ))

        self.tenant_url = when(inputs["enable_custom_domain"], f"https://{inputs['tenant_host']}/", "")

        self.catalogue_entry = named(DynamodbTableItem(
            self, "catalogue_entry",
            table_name=inputs["catalogue_table_name"],
            hash_key="tenant_id",
            item=Fn.jsonencode({
                "tenant_id": {"S": in_expression(inputs["tenant_id"])},
                "company_name": {"S": in_expression(inputs["company_name"])},
                "tier": {"S": in_expression(inputs["tier"])},
                # pool or silo: the authorizer's context `deployment`, the first segment of the
                # path the gateway forwards (/pool/... or /silo/...)
                "deployment": {"S": in_expression(inputs["routing"])},
                "user_pool_id": {"S": self.user_pool.id},
                "app_client_id": {"S": self.app_client.id},
                "user_pool_domain": {"S": self.domain.domain},
                # the authorizer returns this key's value as the usage identifier
                "api_key_id": {"S": self.api_key.id},
            }),
        ))

    def outputs(self) -> dict[str, Any]:
        """Values of INFRA_OUTPUTS, by name."""
        return {  # empty for a pooled tenant, which has none of these three
            "irsa_role_arn": first(self.irsa_role, "arn", otherwise=""),
            "order_table_name": first(self.order_table, "name", otherwise=""),
            "order_table_arn": first(self.order_table, "arn", otherwise=""),
            "user_pool_id": self.user_pool.id,
            "user_pool_client_id": self.app_client.id,
            "user_pool_domain": self.domain.domain,
            "api_key_id": self.api_key.id,
            "tenant_url": self.tenant_url,
        }


E = TypeVar("E", bound=TerraformElement)


def when(condition: Any, then: Any, otherwise: Any) -> Any:
    """`then` or `otherwise`: decided now for a literal, by Terraform for a variable."""
    if isinstance(condition, bool):
        return then if condition else otherwise
    value = Fn.conditional(condition, then, otherwise)
    return Token.as_number(value) if isinstance(then, int) else value


def equals(value: Any, literal: str) -> Any:
    """`value == literal`: decided now for a literal, by Terraform for a variable."""
    if isinstance(value, str) and not Token.is_unresolved(value):
        return value == literal
    return Op.eq(value, literal)


def first(element: TerraformElement, attribute: str, *, otherwise: str | None = None) -> str:
    """An attribute of a counted element (`count` 0 or 1, addressed by `named`): `x[0].attr`, or
    `try(x[0].attr, otherwise)` where the element may not exist (outputs)."""
    kind = getattr(element, "terraform_resource_type")
    prefix = "data." if isinstance(element, TerraformDataSource) else ""
    address = f"{prefix}{kind}.{element.node.id}[0].{attribute}"
    if otherwise is None:
        return f"${{{address}}}"
    return f"${{try({address}, {json.dumps(otherwise)})}}"


def freeze_key(tenant_id: Any) -> Any:
    """The catalogue key of a tenant's write-freeze flag during a move: `<tenant>#move`."""
    return f"{tenant_id}{FREEZE_KEY_SUFFIX}"


def in_expression(value: Any) -> Any:
    """A literal input placed inside a CDKTF function call (`${jsonencode({...})}`): there it is an
    HCL string literal, not a JSON string. Literal inputs arrive escaped for JSON (`$${`, `%%{`;
    roots.escape); CDKTF itself turns `${` into `$${` inside expressions but leaves quotes,
    backslashes and `%{` alone, so undo the JSON escape and apply the HCL one. Variables
    (the shared module) pass through untouched."""
    if not isinstance(value, str) or Token.is_unresolved(value):
        return value
    plain = value.replace("$${", "${").replace("%%{", "%{")
    return plain.replace("\\", "\\\\").replace('"', '\\"').replace("%{", "%%{")


def named(element: E) -> E:
    """Address the element by its construct id (`aws_dynamodb_table.order_table`) instead of
    CDKTF's hashed path, so plans and `terraform state` commands read well. Call it right after
    construction: CDKTF fixes the address the first time an attribute is referenced. Only for
    constructs a stack holds one copy of (a tenant module, a tenant stack)."""
    element.override_logical_id(element.node.id)
    return element
