"""What the authorizer reads about a tenant: its catalogue entry (DynamoDB GetItem) and its API
key's value (API Gateway GetApiKey), each cached for a short while."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable


DEPLOYMENTS = ("pool", "silo")  # tenantform.tiers.Deployment; the gateway's first path segment
DEFAULT_DEPLOYMENT = "silo"  # entries written before the pool existed have no `deployment`


@dataclass(frozen=True)
class TenantEntry:
    tenant_id: str
    tier: str
    user_pool_id: str
    app_client_id: str
    api_key_id: str
    deployment: str
    """As stored: one of DEPLOYMENTS for a valid entry (the authorizer denies any other value)."""


def entry_from_item(item: dict[str, Any]) -> TenantEntry | None:
    """A catalogue item (DynamoDB JSON) as an entry; None when a field is missing or not a string.
    `deployment` is "silo" when absent; present, it is kept as written ("" when not a string)."""
    values = {}
    for name in ("tenant_id", "tier", "user_pool_id", "app_client_id", "api_key_id"):
        value = item.get(name, {}).get("S")
        if not isinstance(value, str) or not value:
            return None
        values[name] = value
    deployment = item["deployment"].get("S") if "deployment" in item else DEFAULT_DEPLOYMENT
    return TenantEntry(**values, deployment=deployment if isinstance(deployment, str) else "")


@dataclass
class _Cached:
    value: Any
    at: float


@dataclass
class Catalogue:
    """`dynamodb` and `apigateway` are boto3 clients (the Lambda role may GetItem on the catalogue
    table and GET /apikeys/*, nothing else)."""

    dynamodb: Any
    apigateway: Any
    table_name: str
    ttl: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Cached] = field(default_factory=dict)
    _keys: dict[str, _Cached] = field(default_factory=dict)

    def entry(self, tenant_id: str) -> TenantEntry | None:
        cached = self._entries.get(tenant_id)
        if cached is None or self.clock() - cached.at >= self.ttl:
            item = self.dynamodb.get_item(TableName=self.table_name, Key={"tenant_id": {"S": tenant_id}},
                                          ConsistentRead=True).get("Item")
            cached = _Cached(entry_from_item(item) if item else None, self.clock())
            self._entries[tenant_id] = cached
        return cached.value

    def api_key_value(self, api_key_id: str) -> str | None:
        cached = self._keys.get(api_key_id)
        if cached is None or self.clock() - cached.at >= self.ttl:
            key = self.apigateway.get_api_key(apiKey=api_key_id, includeValue=True)
            value = key.get("value") if key.get("enabled", True) else None
            cached = _Cached(value, self.clock())
            self._keys[api_key_id] = cached
        return cached.value
