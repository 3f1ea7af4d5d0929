"""tenantform.tenant_data against moto in process: pooled-row paging, batched deletes with
retries of unprocessed items, backup reuse. (The CLI path: tests/test_offboarding.py.)

moto processes every BatchWriteItem in full; DynamoDB under throttling returns part of a batch
as UnprocessedItems. `Throttled` forwards each call to moto's real DynamoDB and hands back
the second half of the first `throttled` batches as unprocessed, the way DynamoDB does.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from tenantform.errors import TenantformError
from tenantform.tenant_data import PooledTable, export_rows, final_backup

REGION = "us-east-1"


@pytest.fixture
def ddb():  # noqa: ANN201
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(TableName="Product", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "tenant_id", "KeyType": "HASH"},
                                       {"AttributeName": "product_id", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "tenant_id", "AttributeType": "S"},
                                                  {"AttributeName": "product_id", "AttributeType": "S"}])
        yield client


def put(ddb: Any, tenant: str, count: int) -> None:
    for n in range(count):
        ddb.put_item(TableName="Product", Item={"tenant_id": {"S": tenant}, "product_id": {"S": f"{n:04d}"},
                                                "blob": {"S": "x" * 4000}})


class Throttled:
    def __init__(self, ddb: Any, throttled: int) -> None:
        self.ddb, self.throttled, self.calls = ddb, throttled, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ddb, name)

    def batch_write_item(self, RequestItems: dict) -> dict:  # noqa: N803 - boto3's name
        (table, requests), = RequestItems.items()
        self.calls.append(len(requests))
        if self.throttled and len(requests) > 1:
            self.throttled -= 1
            half = len(requests) // 2
            self.ddb.batch_write_item(RequestItems={table: requests[:half]})
            return {"UnprocessedItems": {table: requests[half:]}}
        return self.ddb.batch_write_item(RequestItems=RequestItems)


def test_paginated_query_counts_and_deletes_one_partition_only(ddb) -> None:  # noqa: ANN001
    put(ddb, "acme", 300)  # 300 x 4 kB: Query pages at 1 MB, so this takes several pages
    put(ddb, "other", 3)
    acme = PooledTable(ddb, "Product", "acme")
    assert acme.count() == 300 and len(acme.items()) == 300
    assert acme.delete(acme.items()) == 300
    assert acme.count() == 0
    assert PooledTable(ddb, "Product", "other").count() == 3


def test_unprocessed_items_are_retried_with_backoff(ddb) -> None:  # noqa: ANN001
    put(ddb, "acme", 30)
    throttled = Throttled(ddb, throttled=3)
    sleeps: list[float] = []
    table = PooledTable(throttled, "Product", "acme")
    assert table.delete(table.items(), sleep=sleeps.append) == 30
    assert throttled.calls == [25, 13, 7, 4, 5] and sleeps == [0.05, 0.1, 0.2]
    assert table.count() == 0


def test_retries_are_bounded(ddb) -> None:  # noqa: ANN001
    put(ddb, "acme", 10)
    table = PooledTable(Throttled(ddb, throttled=100), "Product", "acme")
    with pytest.raises(TenantformError, match="still unprocessed after 2 retries; re-run to resume"):
        table.delete(table.items(), sleep=lambda _: None, retries=2)


def test_export_merges_rows_and_is_private(ddb, tmp_path) -> None:  # noqa: ANN001
    put(ddb, "acme", 3)
    table = PooledTable(ddb, "Product", "acme")
    path = tmp_path / "acme" / "Product.json"
    assert export_rows(path, table="Product", tenant_id="acme", items=table.items(), key_names=table.key_names()) == 3
    put(ddb, "acme", 5)  # two new rows, three rewritten
    assert export_rows(path, table="Product", tenant_id="acme", items=table.items(), key_names=table.key_names()) == 5
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_backup_of_the_same_name_is_reused_only_for_the_same_table(ddb) -> None:  # noqa: ANN001
    first, reused = final_backup(ddb, "Product", "tenantform-final-acme-20261130", say=print)
    assert not reused
    assert final_backup(ddb, "Product", "tenantform-final-acme-20261130", say=print) == (first, True)
    assert len(ddb.list_backups(TableName="Product")["BackupSummaries"]) == 1
    with pytest.raises(TenantformError, match="final backup of table Missing failed.*nothing was destroyed"):
        final_backup(ddb, "Missing", "tenantform-final-acme-20261130", say=print)
