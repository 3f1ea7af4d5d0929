"""Copying one tenant's items between a pooled table and a silo table, verified, then deleting
the source: the data half of a move between pool and silo (tenantform/tenant_move.py).

A `Side` is one tenant's items in one table: the tenant's partition of a pooled table (hash key
`tenant_id`, read by Query) or a table of its own (read by Scan). An item's *canonical form* is
the item without the pooled table's tenant key, sets sorted: the same order has the same
canonical form on both sides.

- `copy_items`: every source item, in its target form, written with BatchWriteItem (25 per call;
  unprocessed items retried with backoff, boundedly). A put overwrites the item of the same key,
  so a re-run writes the same items again and never duplicates one.
- `digest`: the item count and an order-independent checksum (the sum, modulo 2**256, of the
  SHA-256 of each canonical item's JSON). `verify` compares source and target and, when they
  differ, says how (missing, extra, different items, with a few keys).
- `delete_source`: deletes only source items that the target holds identically; anything else
  stops it before that batch. A re-run after a crash resumes (what is gone is gone from the
  source only).

All reads are strongly consistent. Items are kept in DynamoDB's attribute-value form throughout,
so no value is converted (numbers stay strings, binaries bytes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from tenantform.errors import TenantformError
from tenantform.tenant_data import RETRIES, table_exists, write_batches

Item = dict[str, Any]
TENANT_KEY = "tenant_id"
MODULUS = 2 ** 256
SAMPLE = 5  # keys named in a failed verification


class VerificationFailed(TenantformError):
    """The target does not hold exactly the source's items: nothing may be deleted."""


@dataclass(frozen=True)
class Digest:
    count: int
    checksum: str
    """64 hex digits: the sum of the items' SHA-256, so the order of reading does not matter."""

    def __str__(self) -> str:
        return f"{self.count} items, checksum {self.checksum[:16]}"

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "checksum": self.checksum}


def _canonical_value(value: dict[str, Any]) -> Any:
    (kind, inner), = value.items()
    if kind in ("SS", "NS"):
        return {kind: sorted(inner)}
    if kind == "BS":
        return {kind: sorted(base64.b64encode(bytes(b)).decode() for b in inner)}
    if kind == "B":
        return {kind: base64.b64encode(bytes(inner)).decode()}
    if kind == "M":
        return {kind: {k: _canonical_value(v) for k, v in inner.items()}}
    if kind == "L":
        return {kind: [_canonical_value(v) for v in inner]}
    return {kind: inner}


def item_hash(canonical: Item) -> int:
    text = json.dumps({k: _canonical_value(v) for k, v in canonical.items()}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")


@dataclass
class Side:
    """One tenant's items in one table: a pooled table's partition (`pooled`) or a silo table."""

    ddb: Any
    table: str
    tenant_id: str
    pooled: bool
    tenant_key: str = TENANT_KEY
    _keys: list[str] = field(default_factory=list, repr=False)

    def describe(self) -> str:
        return (f"table {self.table} (partition {self.tenant_key} = {self.tenant_id})" if self.pooled
                else f"table {self.table}")

    def exists(self) -> bool:
        return table_exists(self.ddb, self.table)

    def key_names(self) -> list[str]:
        """The table's key attributes (hash first)."""
        if not self._keys:
            schema = self.ddb.describe_table(TableName=self.table)["Table"]["KeySchema"]
            self._keys = [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH")]
            if self.pooled and self._keys[0] != self.tenant_key:
                raise TenantformError(f"pooled table {self.table} has hash key {self._keys[0]}, "
                                      f"not {self.tenant_key}")
        return self._keys

    def item_key_names(self) -> list[str]:
        """The key attributes an item has on both sides (the pooled table's without the tenant key)."""
        return [k for k in self.key_names() if not (self.pooled and k == self.tenant_key)]

    def pages(self, *, page_size: int | None = None) -> Iterator[list[Item]]:
        """The side's items, a page (at most 1 MB, or `page_size` items) at a time. A missing
        table has none."""
        if not self.exists():
            return
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        if page_size:
            kwargs["Limit"] = page_size
        if self.pooled:
            kwargs.update(KeyConditionExpression="#p = :t", ExpressionAttributeNames={"#p": self.tenant_key},
                          ExpressionAttributeValues={":t": {"S": self.tenant_id}})
        call = self.ddb.query if self.pooled else self.ddb.scan
        while True:
            page = call(**kwargs)
            yield page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count(self) -> int:
        return sum(len(page) for page in self.pages())

    def canonical(self, item: Item) -> Item:
        """The item as both sides compare it: without the tenant key. A silo item that carries a
        `tenant_id` attribute of another tenant is refused: moving it would change whose it is."""
        if self.tenant_key not in item:
            return item
        if item[self.tenant_key] != {"S": self.tenant_id}:
            raise TenantformError(
                f"an item of {self.describe()} has {self.tenant_key} = {json.dumps(item[self.tenant_key])}, "
                f"not {self.tenant_id} (key {self._key_text(item)}): remove or fix it, then re-run")
        return {k: v for k, v in item.items() if k != self.tenant_key}

    def stored(self, canonical: Item) -> Item:
        """A canonical item in this side's form."""
        return {self.tenant_key: {"S": self.tenant_id}, **canonical} if self.pooled else dict(canonical)

    def key(self, item: Item) -> Item:
        return {name: item[name] for name in self.key_names()}

    def _key_text(self, item: Item) -> str:
        return json.dumps({k: item.get(k) for k in self.item_key_names()}, sort_keys=True)

    def hashes(self) -> dict[str, int]:
        """Canonical key -> item hash, for every item (held in memory: a diff only)."""
        return {self._key_text(item): item_hash(self.canonical(item))
                for page in self.pages() for item in page}


def digest(side: Side) -> Digest:
    count, total = 0, 0
    for page in side.pages():
        for item in page:
            count += 1
            total = (total + item_hash(side.canonical(item))) % MODULUS
    return Digest(count, f"{total:064x}")


def _compatible(source: Side, target: Side) -> None:
    if source.exists() and target.exists() and sorted(source.item_key_names()) != sorted(target.item_key_names()):
        raise TenantformError(f"{source.describe()} is keyed by {', '.join(source.key_names())} and "
                              f"{target.describe()} by {', '.join(target.key_names())}: their items do not map")


def copy_items(source: Side, target: Side, *, sleep: Callable[[float], None] = time.sleep,
               retries: int = RETRIES, progress: Callable[[int], None] | None = None) -> int:
    """Put every source item into the target (in the target's form); returns how many. Safe to
    repeat: an item already copied is overwritten with itself."""
    if not target.exists():
        raise TenantformError(f"the target {target.describe()} does not exist: nothing was copied")
    _compatible(source, target)
    copied = 0
    for page in source.pages():
        requests = [{"PutRequest": {"Item": target.stored(source.canonical(item))}} for item in page]
        write_batches(target.ddb, target.table, requests, sleep=sleep, retries=retries,
                      what=f"items of tenant {source.tenant_id}")
        copied += len(requests)
        if progress is not None:
            progress(copied)
    return copied


def _difference(source: Side, target: Side) -> str:
    theirs, ours = source.hashes(), target.hashes()
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    different = sorted(k for k in set(theirs) & set(ours) if theirs[k] != ours[k])
    parts = []
    for label, keys in (("missing from the target", missing), ("only in the target", extra),
                        ("different", different)):
        if keys:
            parts.append(f"{len(keys)} {label} ({', '.join(keys[:SAMPLE])}{', ...' if len(keys) > SAMPLE else ''})")
    return "; ".join(parts) or "none by key (the tables changed while they were read?)"


def verify(source: Side, target: Side) -> Digest:
    """The digest both sides share, or VerificationFailed saying what differs."""
    _compatible(source, target)
    theirs, ours = digest(source), digest(target)
    if theirs != ours:
        raise VerificationFailed(
            f"verification failed: {source.describe()} holds {theirs}, {target.describe()} holds {ours}; "
            f"items {_difference(source, target)}. Nothing was deleted")
    return theirs


def delete_source(source: Side, target: Side, *, sleep: Callable[[float], None] = time.sleep,
                  retries: int = RETRIES, progress: Callable[[int], None] | None = None) -> int:
    """Delete the source's items, page by page, each only if the target holds it identically
    (canonical form); returns how many were deleted. An item the target lacks or holds
    differently stops the deletion before its page (VerificationFailed): nothing unverified is
    ever deleted, and a re-run resumes with what is left."""
    if not source.exists():
        return 0
    _compatible(source, target)
    kept = target.hashes()
    deleted = 0
    while True:
        page = next(source.pages(), [])  # always from the start: what was deleted is gone
        if not page:
            return deleted
        for item in page:
            key = source._key_text(item)
            if kept.get(key) != item_hash(source.canonical(item)):
                raise VerificationFailed(
                    f"item {key} of {source.describe()} is {'not in' if key not in kept else 'different in'} "
                    f"{target.describe()}: it was not deleted ({deleted} verified items were). "
                    "Copy again (re-run) or look at both tables")
        write_batches(source.ddb, source.table, [{"DeleteRequest": {"Key": source.key(item)}} for item in page],
                      sleep=sleep, retries=retries, what=f"deletes of tenant {source.tenant_id}")
        deleted += len(page)
        if progress is not None:
            progress(deleted)
