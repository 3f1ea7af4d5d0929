"""The order service. Silo: a tenant's orders in its own `Order-<tenant>` table (partition key
`order_id`). Pool: every pooled tenant's orders in the pooled order table, keyed `(tenant_id,
order_id)`, always in the caller's partition (Query, never Scan, so `dynamodb:LeadingKeys`
applies). ORDER_TABLE_NAME names the table; nothing in a request does.

Run: `uvicorn --factory services.order.app:create_app` (environment: see services/common.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services import common

TABLE_ENV = "ORDER_TABLE_NAME"
COLLECTION = "orders"
PARTITION_KEY = "order_id"
ID_FIELD = PARTITION_KEY
POOLED_PARTITION_KEY, POOLED_SORT_KEY = "tenant_id", "order_id"  # the pooled order table's key


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: Annotated[str, Field(pattern=common.ID_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=common.TEXT_PATTERN)]
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=50)]


class OrderStore:
    """The silo table: the tenant's own."""

    id_field = ID_FIELD

    def key(self, tenant_id: str, item_id: str) -> dict[str, str]:
        return {PARTITION_KEY: item_id}  # the table is the tenant's own

    def page(self, table: common.Table, tenant_id: str, limit: int, cursor: str | None) -> common.Page:
        # Scan is allowed on the silo table only (tenant_infra SILO_TABLE_ACTIONS): it is the tenant's.
        return table.scan(limit=limit, start=self.key(tenant_id, cursor) if cursor else None)


class PooledOrderStore:
    """The pooled table: the caller's partition only."""

    id_field = ID_FIELD

    def key(self, tenant_id: str, item_id: str) -> dict[str, str]:
        return {POOLED_PARTITION_KEY: tenant_id, POOLED_SORT_KEY: item_id}

    def page(self, table: common.Table, tenant_id: str, limit: int, cursor: str | None) -> common.Page:
        start = self.key(tenant_id, cursor) if cursor else None
        return table.query(partition=(POOLED_PARTITION_KEY, tenant_id), limit=limit, start=start)


def create_app(environ: Mapping[str, str] | None = None, session: Any = None) -> FastAPI:
    return common.create_app(title="order", table_env=TABLE_ENV, collection=COLLECTION, body=OrderIn,
                             silo_store=OrderStore(), pool_store=PooledOrderStore(), environ=environ,
                             session=session)
