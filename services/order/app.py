"""The order service: a tenant's orders in its own (silo) `Order-<tenant>` table, whose name the
apps layer sets in ORDER_TABLE_NAME (partition key `order_id`). Nothing in a request names a
table: the deployment's table is the only one this process touches.

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
PROBE_ID = "readiness-probe"  # no generated id (uuid4) takes it


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    product_id: Annotated[str, Field(pattern=common.ID_PATTERN)]
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=common.TEXT_PATTERN)]
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=50)]


class OrderStore:
    id_field = ID_FIELD

    def key(self, tenant_id: str, item_id: str) -> dict[str, str]:
        return {PARTITION_KEY: item_id}  # the table is the tenant's own

    def page(self, table: common.Table, tenant_id: str, limit: int, cursor: str | None) -> common.Page:
        # Scan is allowed on the silo table only (tenant_infra SILO_TABLE_ACTIONS): it is the tenant's.
        return table.scan(limit=limit, start=self.key(tenant_id, cursor) if cursor else None)


def probe(table: common.Table, tenant_id: str) -> None:
    table.get(OrderStore().key(tenant_id, PROBE_ID))


def create_app(environ: Mapping[str, str] | None = None, session: Any = None) -> FastAPI:
    return common.create_app(title="order", table_env=TABLE_ENV, collection=COLLECTION, body=OrderIn,
                             store=OrderStore(), probe=probe, environ=environ, session=session)
