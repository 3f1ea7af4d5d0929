"""Moving a tenant's items between the pool and a silo, against the floor of any copy.

    python benchmarks/move.py [--items 10000]

Against a moto server of its own (a `python -m moto.server` process, as the local target runs
it), with the pooled `Order` table and a silo `Order-<id>` table made by hand:

  baseline (measured in the same run, same server, same items):
    write     BatchWriteItem of the items, 25 per call: the least a copy must write
    read      one strongly consistent Query of the tenant's partition: the least it must read
  the engine (tenantform/item_copy.py), pool -> silo and back:
    copy      read the source, write the target
    verify    count and checksum of both sides
    delete    the source items, each checked against the target first

Printed: seconds and items/s of each, and the move's ratio to (write + read), the floor of a
copy that reads each item once and writes it once. A verified move reads each side more than
once, by design (verify and the checked delete re-read): the ratio says what that costs.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tenantform.item_copy import Side, copy_items, delete_source, verify  # noqa: E402
from tenantform.local import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LocalAws  # noqa: E402
from tenantform.tenant_data import write_batches  # noqa: E402

TENANT = "bench"
POOLED = {"KeySchema": [{"AttributeName": "tenant_id", "KeyType": "HASH"},
                        {"AttributeName": "order_id", "KeyType": "RANGE"}],
          "AttributeDefinitions": [{"AttributeName": "tenant_id", "AttributeType": "S"},
                                   {"AttributeName": "order_id", "AttributeType": "S"}]}
SILO = {"KeySchema": [{"AttributeName": "order_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "order_id", "AttributeType": "S"}]}


def order(n: int) -> dict[str, Any]:
    """An order as the order service stores it (about 150 bytes)."""
    return {"tenant_id": {"S": TENANT}, "order_id": {"S": f"{n:08d}-4c1e-9a7b-{n:012d}"},
            "name": {"S": f"order number {n}"},
            "lines": {"L": [{"M": {"product_id": {"S": f"p-{n % 97}"}, "quantity": {"N": str(n % 9 + 1)}}}]}}


def timed(job: Callable[[], object]) -> tuple[float, object]:
    started = time.monotonic()
    result = job()
    return time.monotonic() - started, result


def row(label: str, seconds: float, items: int, floor: float | None = None) -> None:
    ratio = f"   ratio {seconds / floor:5.2f}" if floor else ""
    print(f"  {label:<28} {seconds:7.2f} s  {items / seconds:8.0f} items/s{ratio}", flush=True)


def data_move(ddb: Any, items: int) -> None:
    ddb.create_table(TableName="Order", BillingMode="PAY_PER_REQUEST", **POOLED)
    ddb.create_table(TableName=f"Order-{TENANT}", BillingMode="PAY_PER_REQUEST", **SILO)
    ddb.create_table(TableName="Floor", BillingMode="PAY_PER_REQUEST", **POOLED)
    requests = [{"PutRequest": {"Item": order(n)}} for n in range(items)]
    pool, silo = Side(ddb, "Order", TENANT, pooled=True), Side(ddb, f"Order-{TENANT}", TENANT, pooled=False)

    write, _ = timed(lambda: write_batches(ddb, "Floor", requests))
    read, _ = timed(lambda: sum(len(page) for page in Side(ddb, "Floor", TENANT, pooled=True).pages()))
    floor = write + read
    print(f"baseline ({items} items):")
    row("write (BatchWriteItem)", write, items)
    row("read (one Query pass)", read, items)
    row("write + read (the floor)", floor, items)
    write_batches(ddb, "Order", requests)

    for label, source, target in (("pool -> silo", pool, silo), ("silo -> pool", silo, pool)):
        copy, copied = timed(lambda: copy_items(source, target))
        check, digest = timed(lambda: verify(source, target))
        delete, deleted = timed(lambda: delete_source(source, target))
        assert copied == deleted == digest.count == items and source.count() == 0, (copied, deleted, digest)
        print(f"move {label} ({items} items, {digest}):")
        row("copy", copy, items, floor)
        row("verify", check, items)
        row("delete (checked)", delete, items)
        row("move (copy+verify+delete)", copy + check + delete, items, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    work = Path(tempfile.mkdtemp(prefix="tenantform-move-bench-"))
    local = LocalAws(work)
    try:
        server, _ = local.ensure()
        import boto3

        ddb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=server.endpoint,
                           aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY)
        data_move(ddb, args.items)
    finally:
        local.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
