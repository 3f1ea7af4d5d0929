"""Which tables a request may touch, and with which AWS credentials.

Silo (a deployment per tenant): the pod's own IRSA role, one client for every request; the
deployment's tenant is the only one it serves (checked in services/common.py).

Pool (one deployment for every pooled tenant): the pod's role may only `sts:AssumeRole` into the
tenant-access role, whose policy binds `dynamodb:LeadingKeys` to `${aws:PrincipalTag/tenant_id}`.
Each request's DynamoDB calls go through a client holding credentials assumed with the session tag
`tenant_id=<the gateway's verified tenant>`, so even a bug in this code that named another
tenant's key would be refused by IAM. Credentials are cached per tenant (the cache key IS the tag
value they were requested with) until REFRESH_MARGIN seconds before they expire.

Either way, `TenantData.frozen()` reads the catalogue item `<tenant>#move` that a tier change
(tenantform/tenant_move.py) writes while it copies the tenant's items: writes are refused then.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from botocore.config import Config

from services.table import Table

TAG_KEY = "tenant_id"
SESSION_SECONDS = 900  # STS's minimum: a leaked credential is useful for 15 minutes at most
REFRESH_MARGIN = 60  # a cached credential is replaced a minute before it expires
CACHE_SIZE = 256  # tenants whose clients are kept (least recently used first out)
MOVE_SUFFIX = "#move"  # the catalogue key of a tenant's write freeze: "<tenant>#move"
# Bounded AWS calls: a write that passed the freeze check completes (or fails) within
# WRITE_SETTLE_SECONDS, the time a move waits after freezing before it copies (docs/services.md).
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
WRITE_SETTLE_SECONDS = 30
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}")


def move_key(tenant_id: str) -> dict[str, str]:
    """The catalogue key of the tenant's write freeze."""
    return {"tenant_id": f"{tenant_id}{MOVE_SUFFIX}"}


@dataclass(frozen=True)
class TenantData:
    """One tenant's view of the data: its service table and its freeze flag in the catalogue,
    both through the same client (the tenant's credentials in pool mode)."""

    tenant_id: str
    table: Table
    catalogue: Table

    def frozen(self) -> bool:
        return self.catalogue.get(move_key(self.tenant_id)) is not None


class Tenancy(Protocol):
    def data(self, tenant_id: str) -> TenantData: ...


@dataclass(frozen=True)
class Endpoint:
    region: str
    url: str | None  # an emulator; None in AWS


class SiloTenancy:
    """The deployment's one tenant, through the pod's own credentials."""

    def __init__(self, *, session: Any, endpoint: Endpoint, table_name: str, catalogue_name: str) -> None:
        client = session.client("dynamodb", region_name=endpoint.region, endpoint_url=endpoint.url,
                                config=CLIENT_CONFIG)
        self._table, self._catalogue = Table(client, table_name), Table(client, catalogue_name)

    def data(self, tenant_id: str) -> TenantData:
        return TenantData(tenant_id, self._table, self._catalogue)


@dataclass(frozen=True)
class _Cached:
    data: TenantData
    expires: float  # epoch seconds


class CredentialError(RuntimeError):
    """STS answered with credentials that are not the ones this request asked for."""


def session_name(tenant_id: str) -> str:
    """`pool-<tenant>`: CloudTrail shows which tenant a pooled call was made for (at most 37 chars)."""
    return f"pool-{tenant_id}"


class PoolTenancy:
    """Per-tenant clients with credentials assumed for exactly that tenant."""

    def __init__(self, *, session: Any, endpoint: Endpoint, role_arn: str, table_name: str, catalogue_name: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._session, self._endpoint, self._role_arn = session, endpoint, role_arn
        self._table_name, self._catalogue_name, self._clock = table_name, catalogue_name, clock
        self._sts = self._client()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()  # guards the cache and client creation (sessions are not thread-safe)

    def _client(self, service: str = "sts", **credentials: str) -> Any:
        return self._session.client(service, region_name=self._endpoint.region, endpoint_url=self._endpoint.url,
                                    config=CLIENT_CONFIG, **credentials)

    def data(self, tenant_id: str) -> TenantData:
        with self._lock:
            cached = self._cache.get(tenant_id)
            if cached is not None and cached.expires - REFRESH_MARGIN > self._clock():
                self._cache.move_to_end(tenant_id)
                return cached.data
        fresh = self._assume(tenant_id)
        with self._lock:
            self._cache[tenant_id] = fresh
            self._cache.move_to_end(tenant_id)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return fresh.data

    def _assume(self, tenant_id: str) -> _Cached:
        name = session_name(tenant_id)
        response = self._sts.assume_role(RoleArn=self._role_arn, RoleSessionName=name, DurationSeconds=SESSION_SECONDS,
                                         Tags=[{"Key": TAG_KEY, "Value": tenant_id}], TransitiveTagKeys=[TAG_KEY])
        if not response["AssumedRoleUser"]["Arn"].endswith(f"/{name}"):
            raise CredentialError(f"STS returned a session that is not {name}")
        credentials = response["Credentials"]
        with self._lock:
            client = self._client("dynamodb", aws_access_key_id=credentials["AccessKeyId"],
                                  aws_secret_access_key=credentials["SecretAccessKey"],
                                  aws_session_token=credentials["SessionToken"])
        data = TenantData(tenant_id, Table(client, self._table_name), Table(client, self._catalogue_name))
        return _Cached(data, credentials["Expiration"].timestamp())
