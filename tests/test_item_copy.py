"""tenantform.item_copy against a real moto server on 127.0.0.1: one tenant's items between the
pooled `Order` table (tenant_id + order_id) and a silo `Order-<id>` table (order_id), both
ways, paginated, idempotent, verified, deleted only when verified, and resumed after a crash
at every batch of the copy and of the delete.

The tables are made by hand here with the key schemas the modules synthesise (read from their
source by tests/services/support.py). The move that drives this engine: tests/test_tenant_move.py.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tenantform.errors import TenantformError
from tenantform.item_copy import Side, VerificationFailed, copy_items, delete_source, digest, verify
from tenantform.tenant_data import write_batches
from tests.services.support import ORDER_SCHEMA, free_port
from tests.test_tenant_data import Throttled

POOLED_SCHEMA = {"KeySchema": [{"AttributeName": "tenant_id", "KeyType": "HASH"},
                               {"AttributeName": "order_id", "KeyType": "RANGE"}],
                 "AttributeDefinitions": [{"AttributeName": "tenant_id", "AttributeType": "S"},
                                          {"AttributeName": "order_id", "AttributeType": "S"}]}


@pytest.fixture(scope="module")
def ddb() -> Iterator[Any]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client("dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{port}",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    finally:
        server.stop()


@pytest.fixture
def tables(ddb) -> tuple[str, str]:  # noqa: ANN001
    """(pooled table, acme's silo table), new for each test."""
    suffix = uuid.uuid4().hex[:8]
    pooled, silo = f"Order{suffix}", f"Order-acme{suffix}"
    ddb.create_table(TableName=pooled, BillingMode="PAY_PER_REQUEST", **POOLED_SCHEMA)
    ddb.create_table(TableName=silo, BillingMode="PAY_PER_REQUEST", **ORDER_SCHEMA)
    return pooled, silo


def order(n: int, *, blob: int = 0) -> dict[str, Any]:
    """An order in silo form, with every kind of attribute value the engine must carry intact."""
    item = {"order_id": {"S": f"o-{n:05d}"}, "name": {"S": f"order {n} é"},
            "lines": {"L": [{"M": {"product_id": {"S": f"p-{n}"}, "quantity": {"N": str(n % 7 + 1)}}}]},
            "total": {"N": f"{n}.5"}, "tags": {"SS": ["b", "a", f"t{n}"]}, "raw": {"B": bytes([n % 256, 0, 255])},
            "paid": {"BOOL": n % 2 == 0}, "note": {"NULL": True}}
    if blob:
        item["blob"] = {"S": "x" * blob}
    return item


def put(ddb: Any, table: str, items: list[dict[str, Any]], *, tenant: str | None = None) -> None:
    partition = {"tenant_id": {"S": tenant}} if tenant else {}
    write_batches(ddb, table, [{"PutRequest": {"Item": {**partition, **item}}} for item in items])


def scan_all(ddb: Any, table: str) -> list[dict[str, Any]]:
    return boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=ddb.meta.endpoint_url,
                          aws_access_key_id="testing",
                          aws_secret_access_key="testing").Table(table).scan(ConsistentRead=True)["Items"]


def sides(ddb: Any, tables: tuple[str, str]) -> tuple[Side, Side]:
    pooled, silo = tables
    return Side(ddb, pooled, "acme", pooled=True), Side(ddb, silo, "acme", pooled=False)


class Crash(BaseException):
    """A process killed mid-call: nothing catches it."""


class CrashAfter:
    """The real client until `calls` BatchWriteItem calls have been made; the next one dies half
    done (its first half of the batch written), as a killed process would leave it."""

    def __init__(self, ddb: Any, calls: int) -> None:
        self.ddb, self.calls = ddb, calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ddb, name)

    def batch_write_item(self, RequestItems: dict) -> dict:  # noqa: N803 - boto3's name
        if self.calls == 0:
            (table, requests), = RequestItems.items()
            self.ddb.batch_write_item(RequestItems={table: requests[:len(requests) // 2]})
            raise Crash
        self.calls -= 1
        return self.ddb.batch_write_item(RequestItems=RequestItems)


def test_pool_to_silo_copies_verifies_and_deletes_one_partition_only(ddb, tables) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    put(ddb, pool.table, [order(n) for n in range(60)], tenant="acme")
    put(ddb, pool.table, [order(n) for n in range(7)], tenant="globex")  # a neighbour: untouched
    before = digest(pool)
    assert before.count == 60

    assert copy_items(pool, silo) == 60
    assert verify(pool, silo) == before == digest(silo)
    stored = scan_all(ddb, silo.table)
    assert len(stored) == 60 and all("tenant_id" not in item for item in stored)
    first = next(item for item in stored if item["order_id"] == "o-00003")
    assert first["tags"] == {"a", "b", "t3"} and first["total"] == Decimal("3.5") and first["raw"].value == bytes([3, 0, 255])
    assert first["lines"] == [{"product_id": "p-3", "quantity": Decimal(4)}] and first["note"] is None

    assert delete_source(pool, silo) == 60
    assert pool.count() == 0 and silo.count() == 60
    assert Side(ddb, pool.table, "globex", pooled=True).count() == 7


def test_silo_to_pool_and_back_keeps_every_item_and_value(ddb, tables) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    put(ddb, silo.table, [order(n) for n in range(40)])
    original = digest(silo)
    copy_items(silo, pool)
    assert verify(silo, pool) == original
    assert {i["tenant_id"] for i in scan_all(ddb, pool.table)} == {"acme"}
    delete_source(silo, pool)
    assert silo.count() == 0
    copy_items(pool, silo)
    delete_source(pool, silo)
    assert digest(silo) == original and pool.count() == 0


def test_copy_is_idempotent_and_paginated(ddb, tables) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    put(ddb, pool.table, [order(n, blob=4000) for n in range(300)], tenant="acme")  # > 1 MB: several pages
    assert len(list(pool.pages())) > 1
    pages: list[int] = []
    assert copy_items(pool, silo, progress=pages.append) == 300
    assert len(pages) > 1 and pages[-1] == 300
    assert copy_items(pool, silo) == 300  # again: the same items, no duplicate
    assert silo.count() == 300 and verify(pool, silo).count == 300


def test_unprocessed_items_are_retried(ddb, tables) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    put(ddb, pool.table, [order(n) for n in range(30)], tenant="acme")
    throttled = Throttled(ddb, throttled=3)
    sleeps: list[float] = []
    copy_items(pool, Side(throttled, silo.table, "acme", pooled=False), sleep=sleeps.append)
    assert throttled.calls == [25, 13, 7, 4, 5] and sleeps == [0.05, 0.1, 0.2]
    assert verify(pool, silo).count == 30
    stuck = Side(Throttled(ddb, throttled=100), silo.table, "acme", pooled=False)
    with pytest.raises(TenantformError, match="still unprocessed after 2 retries; re-run to resume"):
        copy_items(pool, stuck, sleep=lambda _: None, retries=2)


@pytest.mark.parametrize("change", ["missing", "extra", "different"])
def test_a_failed_verification_names_the_difference_and_nothing_unverified_is_deleted(ddb, tables, change) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    put(ddb, pool.table, [order(n) for n in range(12)], tenant="acme")
    copy_items(pool, silo)
    if change == "missing":
        ddb.delete_item(TableName=silo.table, Key={"order_id": {"S": "o-00004"}})
    elif change == "extra":
        put(ddb, silo.table, [order(99)])
    else:
        put(ddb, silo.table, [{**order(4), "name": {"S": "tampered"}}])
    expected = {"missing": "1 missing from the target", "extra": "1 only in the target", "different": "1 different"}
    with pytest.raises(VerificationFailed, match=expected[change] + r' \({"order_id": \{"S": "o-000(04|99)"\}\}\)'):
        verify(pool, silo)
    if change == "extra":
        return  # every source item is in the target: deleting the source is safe
    with pytest.raises(VerificationFailed, match='item {"order_id": {"S": "o-00004"}}.* was not deleted'):
        delete_source(pool, silo)
    assert pool.count() == 12  # o-00004 is in the first (only) page: the whole page stays


def test_a_silo_item_of_another_tenant_is_refused(ddb, tables) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    put(ddb, silo.table, [order(1), {**order(2), "tenant_id": {"S": "globex"}}])
    with pytest.raises(TenantformError, match='has tenant_id = {"S": "globex"}, not acme'):
        copy_items(silo, pool)


def test_a_missing_target_copies_nothing(ddb, tables) -> None:  # noqa: ANN001
    pool, _ = sides(ddb, tables)
    put(ddb, pool.table, [order(1)], tenant="acme")
    with pytest.raises(TenantformError, match="target table Order-missing does not exist: nothing was copied"):
        copy_items(pool, Side(ddb, "Order-missing", "acme", pooled=False))


@pytest.mark.parametrize("crash_at", [0, 1, 4])  # 110 items: batches 0-4
@pytest.mark.parametrize("direction", ["pool-to-silo", "silo-to-pool"])
def test_a_crash_at_any_batch_of_the_copy_or_the_delete_resumes_without_loss_or_duplicate(
        ddb, tables, crash_at, direction) -> None:  # noqa: ANN001
    pool, silo = sides(ddb, tables)
    source, target = (pool, silo) if direction == "pool-to-silo" else (silo, pool)
    put(ddb, source.table, [order(n) for n in range(110)], tenant="acme" if source.pooled else None)
    original = digest(source)

    crashing = Side(CrashAfter(ddb, crash_at), target.table, "acme", pooled=target.pooled)
    with pytest.raises(Crash):
        copy_items(source, crashing)
    assert 0 <= target.count() < 110
    assert copy_items(source, target) == 110  # the re-run
    assert verify(source, target) == original

    crashing = Side(CrashAfter(ddb, crash_at), source.table, "acme", pooled=source.pooled)
    with pytest.raises(Crash):
        delete_source(crashing, target)
    assert 0 < source.count() < 110
    assert digest(target) == original  # the delete touched the source only
    delete_source(source, target)  # the re-run
    assert source.count() == 0 and digest(target) == original
    assert delete_source(source, target) == 0  # and once more: nothing left to do
