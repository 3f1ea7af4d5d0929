"""The pool deployment's AWS side (contract of issue 14): the pooled order table and the two roles
that give the shared pool services per-request, tenant-scoped credentials.

- `<platform>-pool-service`: the IRSA role of service account `pool/pool`. Its ONLY permission is
  `sts:AssumeRole` + `sts:TagSession` on the tenant-access role: it cannot read a table itself.
- `<platform>-pool-tenant-access`: trusts only the service role, only with a `tenant_id` session
  tag (the pool services set it from the gateway's verified tenant, X-Tenant-Id). Its policy
  allows the pooled-table item actions only where `dynamodb:LeadingKeys` is
  `${aws:PrincipalTag/tenant_id}` (attribute-based access control), and GetItem of that tenant's
  write-freeze flag `${aws:PrincipalTag/tenant_id}#move` in the catalogue. So credentials assumed
  for tenant A can only ever touch A's items.

Created on every platform, whether or not `pooled_tiers` names a tier: an empty on-demand table and
two roles cost nothing, the platform outputs stay one fixed contract, and emptying `pooled_tiers`
never plans the deletion of a table that may still hold pooled tenants' orders. (The pool's
workloads in `platform-k8s`, which do cost, exist only while `pooled_tiers` is non-empty.)
"""

from __future__ import annotations

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
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.platform.cluster import Cluster
from modules.platform.constants import (
    POOL_NAMESPACE,
    POOL_SERVICE_ACCOUNT,
    TENANT_TAG,
    pool_service_role_name,
    pool_tenant_access_role_name,
)
from modules.platform.data import SharedData
from modules.tenant_infra import FREEZE_KEY_SUFFIX, POOLED_TABLE_ACTIONS
from tenantform.platform_config import PlatformConfig

# An IAM policy variable, not a Terraform interpolation: `$${` is Terraform's escape for a literal
# `${`, so the policy AWS stores reads `${aws:PrincipalTag/tenant_id}`.
PRINCIPAL_TENANT = "$${aws:PrincipalTag/" + TENANT_TAG + "}"
REQUEST_TENANT_TAG = f"aws:RequestTag/{TENANT_TAG}"
TENANT_ACCESS_POLICY_NAME = "pooled-data-access"
SERVICE_POLICY_NAME = "assume-tenant-access"
SESSION_SECONDS = 3600


class Pool(Construct):
    """Pooled order table, pool service role (IRSA), tenant-access role (ABAC)."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig, cluster: Cluster,
                 data: SharedData) -> None:
        super().__init__(scope, construct_id)
        self.order_table = DynamodbTable(
            self, "order_table",
            name=platform.pooled_order_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="tenant_id",
            range_key="order_id",
            attribute=[DynamodbTableAttribute(name="tenant_id", type="S"),
                       DynamodbTableAttribute(name="order_id", type="S")],
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            deletion_protection_enabled=True,
        )

        service_trust = DataAwsIamPolicyDocument(
            self, "service_trust",
            statement=[DataAwsIamPolicyDocumentStatement(
                sid="PoolServiceAccountOnly",
                effect="Allow",
                actions=["sts:AssumeRoleWithWebIdentity"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="Federated", identifiers=[cluster.oidc_provider.arn])],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable=f"{cluster.oidc_provider_url}:sub",
                        values=[f"system:serviceaccount:{POOL_NAMESPACE}:{POOL_SERVICE_ACCOUNT}"]),
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable=f"{cluster.oidc_provider_url}:aud",
                        values=["sts.amazonaws.com"]),
                ],
            )],
        )
        self.service_role = IamRole(
            self, "service_role",
            name=pool_service_role_name(platform.name),
            description="IRSA role of the pool services: may only assume the tenant-access role with a tenant tag",
            assume_role_policy=service_trust.json,
            max_session_duration=SESSION_SECONDS,
        )

        tenant_present = DataAwsIamPolicyDocumentStatementCondition(
            test="Null", variable=REQUEST_TENANT_TAG, values=["false"])
        access_trust = DataAwsIamPolicyDocument(
            self, "tenant_access_trust",
            statement=[DataAwsIamPolicyDocumentStatement(
                sid="PoolServiceWithTenantTagOnly",
                effect="Allow",
                actions=["sts:AssumeRole", "sts:TagSession"],
                principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                    type="AWS", identifiers=[self.service_role.arn])],
                condition=[
                    tenant_present,
                    # the tenant tag and nothing else: no other tag can widen a principal-tag condition
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="ForAllValues:StringEquals", variable="aws:TagKeys", values=[TENANT_TAG]),
                ],
            )],
        )
        self.tenant_access_role = IamRole(
            self, "tenant_access_role",
            name=pool_tenant_access_role_name(platform.name),
            description="Per-request credentials of one pooled tenant: its own partitions only (session tag tenant_id)",
            assume_role_policy=access_trust.json,
            max_session_duration=SESSION_SECONDS,
        )

        service_permissions = DataAwsIamPolicyDocument(
            self, "service_permissions",
            statement=[DataAwsIamPolicyDocumentStatement(
                sid="AssumeTenantAccessOnly",
                effect="Allow",
                actions=["sts:AssumeRole", "sts:TagSession"],
                resources=[self.tenant_access_role.arn],
            )],
        )
        IamRolePolicy(self, "service_policy", name=SERVICE_POLICY_NAME, role=self.service_role.id,
                      policy=service_permissions.json)

        def own_partition(sid: str, actions: list[str], resources: list[str],
                          key: str) -> DataAwsIamPolicyDocumentStatement:
            return DataAwsIamPolicyDocumentStatement(
                sid=sid, effect="Allow", actions=actions, resources=resources,
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="ForAllValues:StringEquals", variable="dynamodb:LeadingKeys", values=[key]),
                    # ForAllValues is true for a request without a key (a Scan): require one
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="Null", variable="dynamodb:LeadingKeys", values=["false"]),
                    # and a session without the tag matches nothing
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="Null", variable=f"aws:PrincipalTag/{TENANT_TAG}", values=["false"]),
                ],
            )

        access_permissions = DataAwsIamPolicyDocument(
            self, "tenant_access_permissions",
            statement=[
                own_partition("PooledTablesOwnPartitionOnly", list(POOLED_TABLE_ACTIONS),
                              [data.product_table.arn, self.order_table.arn], PRINCIPAL_TENANT),
                own_partition("OwnWriteFreezeFlagOnly", ["dynamodb:GetItem"], [data.catalogue_table.arn],
                              PRINCIPAL_TENANT + FREEZE_KEY_SUFFIX),
            ],
        )
        IamRolePolicy(self, "tenant_access_policy", name=TENANT_ACCESS_POLICY_NAME,
                      role=self.tenant_access_role.id, policy=access_permissions.json)
