"""What the product and order services share: settings from the deployment's environment, the
gateway's tenant headers, the write freeze, the CRUD routes and the app factory.

Who the caller is comes from two headers that only the API gateway sets (its authorizer
verified the tenant's token; the ingress is reachable only through the gateway):
`X-Tenant-Id` and `X-Tenant-Tier`. A request is refused with 401 when a header is missing,
repeated or not a known value, and with 403 when the path's tenant is not the header's.

Two deployment models (services/tenancy.py has the AWS side of each):
- silo (`POOL` unset or `false`): a deployment serves one tenant (`TENANT_ID`, set by the apps
  layer); a header tenant that is not the deployment's gets 403. Routes under `/silo/<tenant>/`
  (the gateway's path since the pool exists) and, unchanged, `/<tenant>/`.
- pool (`POOL=true`): a deployment serves every pooled tenant; routes under `/pool/<tenant>/`
  only; each request's AWS calls use credentials assumed for the header's tenant.
Nothing a caller sends (path, query, body) chooses a table or a partition: the table comes
from the environment and the partition from the checked tenant.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at definition time,
# and the body model of the CRUD routes is a closure variable that a string annotation cannot name.
import logging
import os
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Mapping, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.table import Page, Table
from services.tenancy import (ROLE_ARN, WRITE_SETTLE_SECONDS, CredentialError, Endpoint, PoolTenancy, SiloTenancy,
                              Tenancy, TenantData)

__all__ = ["Page", "Table", "TenantData"]  # the service modules' names for them

TENANT_HEADER = "X-Tenant-Id"
TIER_HEADER = "X-Tenant-Tier"
TIERS = ("basic", "standard", "premium", "platinum")  # tenantform.tiers.Tier (a test checks it)
TENANT_ENV = "TENANT_ID"
POOL_ENV = "POOL"  # "true": this deployment serves every pooled tenant
ROLE_ENV = "TENANT_ACCESS_ROLE_ARN"  # pool only: the role assumed per request, tagged with the tenant
CATALOGUE_ENV = "CATALOGUE_TABLE"  # the platform's tenant catalogue: the write freeze lives there
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")  # injected by EKS's IRSA webhook
ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # a local emulator; unset in the cluster
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
POOL_PREFIX, SILO_PREFIX = "/pool", "/silo"  # the gateway's first path segment: the catalogue's `deployment`
# A tenant id as tenantform validates it (a DNS label): the pool's header must be one, since it
# becomes an STS session tag and a session name.
TENANT_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
# Item ids are generated here (uuid4); a path or cursor id must look like one.
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
MAX_PAGE = 100
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # printable: no control characters, no newline
# A key no generated id can take (ids are uuid4): the readiness probe's GetItem finds nothing.
PROBE_ID = "readiness-probe"
# The pool's readiness probe assumes the tenant-access role for this tag: no tenant id can take it
# (an underscore is not in a DNS label), so the probe reads nobody's partition.
PROBE_TENANT = "_readiness"
RETRY_AFTER_SECONDS = WRITE_SETTLE_SECONDS

log = logging.getLogger("services")


class ConfigurationError(RuntimeError):
    """The environment the deployment sets is incomplete: the process must not start."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    pool: bool
    tenant_id: str | None  # silo only
    role_arn: str | None  # pool only
    table_name: str
    catalogue_table: str
    region: str
    endpoint_url: str | None

    @classmethod
    def from_environ(cls, table_env: str, environ: Mapping[str, str]) -> "Settings":
        def value_of(name: str) -> str:
            value = environ.get(name, "")
            if value != value.strip():
                raise ConfigurationError(f"environment variable {name} has surrounding whitespace")
            return value

        def required(*names: str) -> str:
            for name in names:
                if value := value_of(name):
                    return value
            raise ConfigurationError(f"environment variable {' or '.join(names)} is not set")

        pool_flag = value_of(POOL_ENV)
        if pool_flag not in ("", "true", "false"):
            raise ConfigurationError(f"environment variable {POOL_ENV} must be true or false, not {pool_flag!r}")
        pool = pool_flag == "true"
        if pool:
            if value_of(TENANT_ENV):
                raise ConfigurationError(f"{TENANT_ENV} is set, but a pool deployment ({POOL_ENV}=true) serves "
                                         "every pooled tenant")
            role_arn, tenant_id = required(ROLE_ENV), None
            if not ROLE_ARN.fullmatch(role_arn):
                raise ConfigurationError(f"environment variable {ROLE_ENV} must be an IAM role ARN "
                                         "(arn:aws:iam::<account>:role/<name>)")
        else:
            role_arn, tenant_id = None, required(TENANT_ENV)
        return cls(pool=pool, tenant_id=tenant_id, role_arn=role_arn, table_name=required(table_env),
                   catalogue_table=required(CATALOGUE_ENV), region=required(*REGION_ENVS),
                   endpoint_url=environ.get(ENDPOINT_ENV) or None)

    def tenancy(self, session: Any) -> Tenancy:
        endpoint = Endpoint(self.region, self.endpoint_url)
        if self.pool:
            assert self.role_arn is not None
            return PoolTenancy(session=session, endpoint=endpoint, role_arn=self.role_arn,
                               table_name=self.table_name, catalogue_name=self.catalogue_table)
        return SiloTenancy(session=session, endpoint=endpoint, table_name=self.table_name,
                           catalogue_name=self.catalogue_table)


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    tier: str


class Store(Protocol):
    """How one service keys its table. `tenant_id` is always the checked caller's."""

    id_field: str

    def key(self, tenant_id: str, item_id: str) -> dict[str, str]: ...

    def page(self, table: Table, tenant_id: str, limit: int, cursor: str | None) -> Page: ...


def _one_header(request: Request, name: str) -> str:
    values = request.headers.getlist(name)
    if len(values) != 1 or not values[0]:
        raise HTTPException(401, f"exactly one {name} header is required (set by the API gateway)")
    return values[0]


def caller(request: Request, tenant: str) -> Caller:
    """The checked caller of a `/{tenant}/...` route: 401 without the gateway's headers, 403 for
    another tenant than the path's or (silo) this deployment's."""
    tenant_id = _one_header(request, TENANT_HEADER)
    tier = _one_header(request, TIER_HEADER)
    if tier not in TIERS:
        raise HTTPException(401, f"{TIER_HEADER} must be one of {', '.join(TIERS)}")
    settings: Settings = request.app.state.settings
    if settings.pool and not TENANT_PATTERN.fullmatch(tenant_id):
        raise HTTPException(401, f"{TENANT_HEADER} must be a tenant id (lower-case letters, digits, '-')")
    if not settings.pool and tenant_id != settings.tenant_id:
        raise HTTPException(403, "this service does not serve the caller's tenant")
    if tenant != tenant_id:
        raise HTTPException(403, "the path's tenant is not the caller's tenant")
    return Caller(tenant_id, tier)


CallerDep = Annotated[Caller, Depends(caller)]


def tenant_data(request: Request, who: CallerDep) -> TenantData:
    """The checked caller's tables (in pool mode: through credentials assumed for that tenant)."""
    return request.app.state.tenancy.data(who.tenant_id)


def writable(data: Annotated[TenantData, Depends(tenant_data)]) -> TenantData:
    """The caller's tables for a write: 503 while the tenant is being moved (docs/services.md)."""
    if data.frozen():
        raise HTTPException(503, f"tenant {data.tenant_id} is being moved between deployments: writes are paused, "
                                 "reads go on; retry later", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return data


DataDep = Annotated[TenantData, Depends(tenant_data)]
WritableDep = Annotated[TenantData, Depends(writable)]
ItemId = Annotated[str, Path(pattern=ID_PATTERN, description="an id this service generated")]


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; every number these services store is an integer."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def crud_router(*, collection: str, body: type[BaseModel], store: Store) -> APIRouter:
    """list, get, create, replace and delete under `/{tenant}/<collection>`."""
    router = APIRouter(prefix=f"/{{tenant}}/{collection}")
    id_field = store.id_field
    fields = tuple(body.model_fields)

    def out(item: Mapping[str, Any]) -> dict[str, Any]:
        return _plain({id_field: item[id_field], **{f: item[f] for f in fields if f in item}})

    @router.get("")
    def list_items(data: DataDep, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
                   cursor: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> dict[str, Any]:
        items, last = store.page(data.table, data.tenant_id, limit, cursor)
        return {"items": [out(item) for item in items], "next": last[id_field] if last else None}

    @router.get("/{item_id}")
    def get_item(data: DataDep, item_id: ItemId) -> dict[str, Any]:
        found = data.table.get(store.key(data.tenant_id, item_id))
        if found is None:
            raise HTTPException(404, f"{id_field} not found")
        return out(found)

    def write(data: TenantData, item_id: str, values: BaseModel, *, new: bool) -> dict[str, Any]:
        """Create (the id must be free) or replace (the item must exist in the caller's partition)."""
        item = {**values.model_dump(), **store.key(data.tenant_id, item_id)}
        try:
            data.table.put(item, id_field=id_field, exists=not new)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise HTTPException(409 if new else 404, f"{id_field} {'exists' if new else 'not found'}") from None
            raise
        return out(item)

    @router.post("", status_code=201)
    def create_item(data: WritableDep, values: body) -> dict[str, Any]:  # type: ignore[valid-type]
        return write(data, str(uuid.uuid4()), values, new=True)

    @router.put("/{item_id}")
    def replace_item(data: WritableDep, item_id: ItemId, values: body) -> dict[str, Any]:  # type: ignore[valid-type]
        return write(data, item_id, values, new=False)

    @router.delete("/{item_id}", status_code=204)
    def delete_item(data: WritableDep, item_id: ItemId) -> None:
        try:
            data.table.delete(store.key(data.tenant_id, item_id), id_field=id_field)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise HTTPException(404, f"{id_field} not found") from None
            raise

    return router


def _validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
    """One line per problem: where (`body.price_cents`) and what is allowed."""
    problems = ["{}: {}".format(".".join(str(part) for part in e["loc"]), e["msg"]) for e in error.errors()]
    return JSONResponse({"detail": "; ".join(problems)}, status_code=422)


def _aws_error(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s: %s", request.method, request.url.path, error)
    return JSONResponse({"detail": "the data store is unavailable"}, status_code=503)


def create_app(*, title: str, table_env: str, collection: str, body: type[BaseModel], silo_store: Store,
               pool_store: Store, environ: Mapping[str, str] | None = None,
               session: boto3.session.Session | None = None) -> FastAPI:
    """A service over one table, keyed by `silo_store` or (POOL=true) `pool_store`. `session`
    defaults to boto3's credential chain (IRSA)."""
    settings = Settings.from_environ(table_env, os.environ if environ is None else environ)
    store = pool_store if settings.pool else silo_store
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.tenancy = settings.tenancy(session or boto3.session.Session())
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in (ClientError, BotoCoreError, CredentialError):
        app.add_exception_handler(error, _aws_error)

    @app.get(LIVENESS_PATH)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(READINESS_PATH)
    def readyz() -> JSONResponse:
        """Ready when the calls a request makes work: (pool) assuming the tenant-access role, a
        GetItem on the table and on the catalogue's freeze key, for a key no item has."""
        tenant_id = PROBE_TENANT if settings.pool else settings.tenant_id
        assert tenant_id is not None
        try:
            data = app.state.tenancy.data(tenant_id)
            data.table.get(store.key(tenant_id, PROBE_ID))
            data.frozen()
        except (ClientError, BotoCoreError, CredentialError) as error:
            log.warning("not ready: %s", error)
            return JSONResponse({"status": "unavailable", "table": settings.table_name}, status_code=503)
        return JSONResponse({"status": "ok", "table": settings.table_name})

    router = crud_router(collection=collection, body=body, store=store)
    for prefix in (POOL_PREFIX,) if settings.pool else (SILO_PREFIX, ""):
        app.include_router(router, prefix=prefix)
    return app
