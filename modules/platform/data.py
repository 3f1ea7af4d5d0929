"""Shared tables: the pooled Product table and the tenant catalogue.

Both hold every tenant's data, so both have deletion protection: `invoke platform.destroy` turns
it off (DynamoDB UpdateTable) just before its destroy, and lists that in its confirmation.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from constructs import Construct

from tenantform.platform_config import PlatformConfig


class SharedData(Construct):
    """`Product` (partition key tenant_id, sort key product_id) and the tenant catalogue."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig) -> None:
        super().__init__(scope, construct_id)
        self.product_table = DynamodbTable(
            self, "product_table",
            name=platform.product_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="tenant_id",
            range_key="product_id",
            attribute=[DynamodbTableAttribute(name="tenant_id", type="S"),
                       DynamodbTableAttribute(name="product_id", type="S")],
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            deletion_protection_enabled=True,
        )
        self.catalogue_table = DynamodbTable(
            self, "catalogue_table",
            name=platform.catalogue_table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="tenant_id",
            attribute=[DynamodbTableAttribute(name="tenant_id", type="S")],
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True),
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            deletion_protection_enabled=True,
        )
