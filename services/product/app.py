"""The product service: a tenant's products in the pooled Product table, always in the tenant's
own partition (partition key `tenant_id`, sort key `product_id`), in both deployment models.
Every call carries the partition key, so the role's `dynamodb:LeadingKeys` condition applies
(silo: the tenant's IRSA role; pool: the tenant-access role assumed for the tenant); no Scan.

Run: `uvicorn --factory services.product.app:create_app` (environment: see services/common.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Mapping

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from services import common

TABLE_ENV = "PRODUCT_TABLE_NAME"
COLLECTION = "products"
PARTITION_KEY = "tenant_id"
SORT_KEY = "product_id"
ID_FIELD = SORT_KEY


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=common.TEXT_PATTERN)]
    price_cents: Annotated[int, Field(ge=0, le=1_000_000_000)]
    description: Annotated[str, Field(max_length=1024, pattern=common.TEXT_PATTERN)] = ""


class ProductStore:
    id_field = ID_FIELD

    def key(self, tenant_id: str, item_id: str) -> dict[str, str]:
        return {PARTITION_KEY: tenant_id, SORT_KEY: item_id}

    def page(self, table: common.Table, tenant_id: str, limit: int, cursor: str | None) -> common.Page:
        start = self.key(tenant_id, cursor) if cursor else None
        return table.query(partition=(PARTITION_KEY, tenant_id), limit=limit, start=start)


def create_app(environ: Mapping[str, str] | None = None, session: Any = None) -> FastAPI:
    return common.create_app(title="product", table_env=TABLE_ENV, collection=COLLECTION, body=ProductIn,
                             silo_store=ProductStore(), pool_store=ProductStore(), environ=environ, session=session)
