"""What the product and order services share: settings from the apps layer's environment, the
gateway's tenant headers, the table, the CRUD routes and the app factory.

Who the caller is comes from two headers that only the API gateway sets (its authorizer
verified the tenant's token; the ingress is reachable only through the gateway):
`X-Tenant-Id` and `X-Tenant-Tier`. A deployment serves one tenant (`TENANT_ID`, set by the apps
layer): a request is refused with 401 when a header is missing, repeated or not a known value,
and with 403 when the header's tenant is not this deployment's or the path's tenant differs.
Nothing a caller sends (path, query, body) chooses a table or a partition: the table comes
from the environment and the partition from the checked tenant.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at definition time,
# and the body model of the CRUD routes is a closure variable that a string annotation cannot name.
import logging
import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Callable, Mapping, Protocol

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

TENANT_HEADER = "X-Tenant-Id"
TIER_HEADER = "X-Tenant-Tier"
TIERS = ("basic", "standard", "premium", "platinum")  # tenantform.tiers.Tier (a test checks it)
TENANT_ENV = "TENANT_ID"
REGION_ENVS = ("AWS_REGION", "AWS_DEFAULT_REGION")  # injected by EKS's IRSA webhook
ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # a local emulator; unset in the cluster
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
# Item ids are generated here (uuid4); a path or cursor id must look like one.
ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
MAX_PAGE = 100
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"  # printable: no control characters, no newline

log = logging.getLogger("services")


class ConfigurationError(RuntimeError):
    """The environment the apps layer sets is incomplete: the process must not start."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    tenant_id: str
    table_name: str
    region: str
    endpoint_url: str | None

    @classmethod
    def from_environ(cls, table_env: str, environ: Mapping[str, str]) -> "Settings":
        def required(*names: str) -> str:
            for name in names:
                value = environ.get(name, "")
                if value != value.strip():
                    raise ConfigurationError(f"environment variable {name} has surrounding whitespace")
                if value:
                    return value
            raise ConfigurationError(f"environment variable {' or '.join(names)} is not set")

        return cls(tenant_id=required(TENANT_ENV), table_name=required(table_env),
                   region=required(*REGION_ENVS), endpoint_url=environ.get(ENDPOINT_ENV) or None)


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    tier: str


# A page of items and the key to start the next one from (None after the last page).
Page = tuple[list[dict[str, Any]], dict[str, Any] | None]


class Table:
    """The deployment's one table, over a boto3 client: clients are thread-safe (boto3 resources
    are not), and FastAPI runs the handlers in a thread pool. Items are plain Python values."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name
        self._to, self._from = TypeSerializer(), TypeDeserializer()

    def _dynamo(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._to.serialize(v) for k, v in item.items()}

    def _python(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._from.deserialize(v) for k, v in item.items()}

    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.name, Key=self._dynamo(key), ConsistentRead=True).get("Item")
        return self._python(item) if item else None

    def put(self, item: Mapping[str, Any], *, id_field: str, exists: bool) -> None:
        """Write `item` if its key is (exists=True) or is not (exists=False) already there."""
        condition = "attribute_exists(#id)" if exists else "attribute_not_exists(#id)"
        self.client.put_item(TableName=self.name, Item=self._dynamo(item), ConditionExpression=condition,
                             ExpressionAttributeNames={"#id": id_field})

    def delete(self, key: Mapping[str, str], *, id_field: str) -> None:
        self.client.delete_item(TableName=self.name, Key=self._dynamo(key),
                                ConditionExpression="attribute_exists(#id)", ExpressionAttributeNames={"#id": id_field})

    def query(self, *, partition: tuple[str, str], limit: int, start: Mapping[str, str] | None) -> Page:
        """One page of one partition (`partition` = key name, value): the pooled table's only read
        of many items, which carries the partition key that `dynamodb:LeadingKeys` checks."""
        return self._page(self.client.query, limit, start, KeyConditionExpression="#pk = :pk",
                          ExpressionAttributeNames={"#pk": partition[0]},
                          ExpressionAttributeValues={":pk": self._to.serialize(partition[1])})

    def scan(self, *, limit: int, start: Mapping[str, str] | None) -> Page:
        """One page of the whole table: for a tenant's own (silo) table only."""
        return self._page(self.client.scan, limit, start)

    def _page(self, call: Callable[..., Any], limit: int, start: Mapping[str, str] | None, **args: Any) -> Page:
        if start:
            args["ExclusiveStartKey"] = self._dynamo(start)
        response = call(TableName=self.name, Limit=limit, **args)
        last = response.get("LastEvaluatedKey")
        return [self._python(i) for i in response["Items"]], self._python(last) if last else None


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
    another tenant than this deployment's or the path's."""
    tenant_id = _one_header(request, TENANT_HEADER)
    tier = _one_header(request, TIER_HEADER)
    if tier not in TIERS:
        raise HTTPException(401, f"{TIER_HEADER} must be one of {', '.join(TIERS)}")
    if tenant_id != request.app.state.settings.tenant_id:
        raise HTTPException(403, "this service does not serve the caller's tenant")
    if tenant != tenant_id:
        raise HTTPException(403, "the path's tenant is not the caller's tenant")
    return Caller(tenant_id, tier)


CallerDep = Annotated[Caller, Depends(caller)]
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
    def list_items(request: Request, who: CallerDep,
                   limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
                   cursor: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> dict[str, Any]:
        items, last = store.page(request.app.state.table, who.tenant_id, limit, cursor)
        return {"items": [out(item) for item in items], "next": last[id_field] if last else None}

    @router.get("/{item_id}")
    def get_item(request: Request, who: CallerDep, item_id: ItemId) -> dict[str, Any]:
        found = request.app.state.table.get(store.key(who.tenant_id, item_id))
        if found is None:
            raise HTTPException(404, f"{id_field} not found")
        return out(found)

    def write(request: Request, who: Caller, item_id: str, data: BaseModel, *, new: bool) -> dict[str, Any]:
        """Create (the id must be free) or replace (the item must exist in the caller's partition)."""
        item = {**data.model_dump(), **store.key(who.tenant_id, item_id)}
        try:
            request.app.state.table.put(item, id_field=id_field, exists=not new)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise HTTPException(409 if new else 404, f"{id_field} {'exists' if new else 'not found'}") from None
            raise
        return out(item)

    @router.post("", status_code=201)
    def create_item(request: Request, who: CallerDep, data: body) -> dict[str, Any]:  # type: ignore[valid-type]
        return write(request, who, str(uuid.uuid4()), data, new=True)

    @router.put("/{item_id}")
    def replace_item(request: Request, who: CallerDep, item_id: ItemId,
                     data: body) -> dict[str, Any]:  # type: ignore[valid-type]
        return write(request, who, item_id, data, new=False)

    @router.delete("/{item_id}", status_code=204)
    def delete_item(request: Request, who: CallerDep, item_id: ItemId) -> None:
        try:
            request.app.state.table.delete(store.key(who.tenant_id, item_id), id_field=id_field)
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


def create_app(*, title: str, table_env: str, collection: str, body: type[BaseModel], store: Store,
               probe: Callable[[Table, str], None], environ: Mapping[str, str] | None = None,
               session: boto3.session.Session | None = None) -> FastAPI:
    """A service over one table. `probe(table, tenant_id)` is the readiness check: one cheap call
    the tenant's IAM policy allows. `session` defaults to boto3's credential chain (IRSA)."""
    settings = Settings.from_environ(table_env, os.environ if environ is None else environ)
    session = session or boto3.session.Session()
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.table = Table(session.client("dynamodb", region_name=settings.region,
                                           endpoint_url=settings.endpoint_url), settings.table_name)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientError, _aws_error)
    app.add_exception_handler(BotoCoreError, _aws_error)

    @app.get(LIVENESS_PATH)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(READINESS_PATH)
    def readyz() -> JSONResponse:
        try:
            probe(app.state.table, settings.tenant_id)
        except (ClientError, BotoCoreError) as error:
            log.warning("not ready: %s", error)
            return JSONResponse({"status": "unavailable", "table": settings.table_name}, status_code=503)
        return JSONResponse({"status": "ok", "table": settings.table_name})

    app.include_router(crud_router(collection=collection, body=body, store=store))
    return app
