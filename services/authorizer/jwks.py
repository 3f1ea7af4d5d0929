"""The issuers' signing keys: fetched from `<endpoint>/<pool id>/.well-known/jwks.json`, cached
per pool for `ttl` seconds. A `kid` the cache does not know triggers one refetch (key rotation),
at most once per `refetch_interval` seconds per pool, so a flood of tokens with invented kids
cannot turn into a flood of JWKS requests."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

import rsa

from .rs256 import RS256

Fetch = Callable[[str], bytes]
MAX_JWKS_BYTES = 64 * 1024


def http_get(url: str, timeout: float = 3.0) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"refusing to fetch {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - scheme checked above
        return response.read(MAX_JWKS_BYTES + 1)[:MAX_JWKS_BYTES]


def parse_jwks(body: bytes) -> dict[str, rsa.PublicKey]:
    keys: dict[str, rsa.PublicKey] = {}
    for jwk in json.loads(body).get("keys", []):
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            keys[kid] = RS256.from_jwk(jwk)
        except (KeyError, ValueError, TypeError):
            continue  # not an RS256 signing key: never usable
    return keys


@dataclass
class _Entry:
    keys: dict[str, rsa.PublicKey]
    fetched: float


@dataclass
class JwksCache:
    endpoint: str
    """`https://cognito-idp.<region>.amazonaws.com` in AWS; moto's URL on the local target."""
    ttl: float = 3600.0
    refetch_interval: float = 60.0
    fetch: Fetch = http_get
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)
    fetches: int = 0

    def url(self, pool_id: str) -> str:
        return f"{self.endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"

    def _refresh(self, pool_id: str) -> _Entry:
        self.fetches += 1
        entry = _Entry(parse_jwks(self.fetch(self.url(pool_id))), self.clock())
        self._entries[pool_id] = entry
        return entry

    def key(self, pool_id: str, kid: str) -> rsa.PublicKey | None:
        """The pool's key `kid`, or None when the pool (still) has no such key."""
        now = self.clock()
        entry = self._entries.get(pool_id)
        if entry is None or now - entry.fetched >= self.ttl:
            entry = self._refresh(pool_id)
        elif kid not in entry.keys and now - entry.fetched >= self.refetch_interval:
            entry = self._refresh(pool_id)  # rotation: the pool may have a new key
        return entry.keys.get(kid)
