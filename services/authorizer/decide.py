"""One decision per API Gateway REQUEST event: which tenant this request is, or why none.

The tenant is the catalogue entry whose Cognito user pool issued the token (`iss`), never a claim
the user could write (`custom:tenant-id` is not read). The request's path names a tenant; the
authorizer reads that tenant's catalogue entry and allows only when the token was issued by that
entry's pool, for that entry's app client, and is an unexpired, correctly signed access token.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import jwt
from jwt.exceptions import PyJWTError

from .catalogue import DEPLOYMENTS, Catalogue, TenantEntry
from .jwks import JwksCache
from .rs256 import RS256

ALGORITHM = "RS256"
TOKEN_USE = "access"
"""Access tokens: they name the app client (`client_id`) and carry no user profile attributes.
ID tokens are for the browser app itself, not for resource servers."""
DEFAULT_SKEW_SECONDS = 60
MAX_SKEW_SECONDS = 300
BEARER = re.compile(r"Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)")
TENANT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
POOL_ID = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d_[A-Za-z0-9]{1,55}")
METHOD_ARN = re.compile(r"arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:[A-Za-z0-9]+/[^/]+/[A-Z]+/(.*)")


class Refused(Exception):
    """Why a request is denied (logged; never returned to the caller)."""


@dataclass(frozen=True)
class Allowed:
    entry: TenantEntry
    api_key: str
    subject: str


def _verifier() -> jwt.PyJWS:
    jws = jwt.PyJWS(algorithms=[])  # nothing but the one algorithm registered below
    jws.register_algorithm(ALGORITHM, RS256())
    return jws


def path_tenant(path: str) -> str:
    segments = path.split("/")
    if len(segments) < 2 or segments[0] != "" or not TENANT.fullmatch(segments[1]):
        raise Refused("the path does not start with a tenant id")
    return segments[1]


def header(event: Mapping[str, Any], name: str) -> str:
    """The one value of header `name` (any case); refused when absent or given more than once."""
    values = [v for k, vs in (event.get("multiValueHeaders") or {}).items() if k.lower() == name.lower()
              for v in (vs or [])]
    if not values:
        values = [v for k, v in (event.get("headers") or {}).items() if k.lower() == name.lower()]
    if len(values) != 1 or not isinstance(values[0], str):
        raise Refused(f"expected exactly one {name} header, got {len(values)}")
    return values[0]


class Authorizer:
    def __init__(self, *, region: str, catalogue: Catalogue, jwks: JwksCache,
                 skew_seconds: int = DEFAULT_SKEW_SECONDS, clock: Callable[[], float] = time.time) -> None:
        if not 0 <= skew_seconds <= MAX_SKEW_SECONDS:
            raise ValueError(f"clock skew must be 0..{MAX_SKEW_SECONDS} seconds, got {skew_seconds}")
        self.issuer_prefix = f"https://cognito-idp.{region}.amazonaws.com/"
        self.catalogue = catalogue
        self.jwks = jwks
        self.skew = skew_seconds
        self.clock = clock
        self._jws = _verifier()

    def decide(self, event: Mapping[str, Any]) -> Allowed:
        """The tenant this request may act as; raises Refused otherwise."""
        if event.get("type") != "REQUEST":
            raise Refused("not a REQUEST authorizer event")
        tenant_id = path_tenant(str(event.get("path", "")))
        arn = METHOD_ARN.fullmatch(str(event.get("methodArn", "")))
        if arn is None or path_tenant("/" + arn.group(1)) != tenant_id:
            raise Refused("the method ARN does not name the path's tenant")
        bearer = BEARER.fullmatch(header(event, "Authorization"))
        if bearer is None:
            raise Refused("Authorization is not 'Bearer <JWT>'")
        token = bearer.group(1)

        try:
            unverified_header = self._jws.get_unverified_header(token)
            unverified = json.loads(self._jws.decode(token, options={"verify_signature": False}))
        except (PyJWTError, ValueError) as exc:
            raise Refused(f"unreadable token: {exc}") from None
        if unverified_header.get("alg") != ALGORITHM:
            raise Refused(f"algorithm {unverified_header.get('alg')!r} is not {ALGORITHM}")
        kid = unverified_header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Refused("token has no kid")
        issuer = unverified.get("iss") if isinstance(unverified, dict) else None
        if not isinstance(issuer, str) or not issuer.startswith(self.issuer_prefix):
            raise Refused("issuer is not a Cognito user pool of this region")
        pool_id = issuer[len(self.issuer_prefix):]
        if not POOL_ID.fullmatch(pool_id):
            raise Refused("issuer is not a Cognito user pool of this region")

        entry = self.catalogue.entry(tenant_id)
        if entry is None:
            raise Refused(f"tenant {tenant_id!r} is not in the catalogue")
        if entry.user_pool_id != pool_id:
            raise Refused(f"token issued by pool {pool_id}, not by tenant {tenant_id!r}'s pool")
        if entry.deployment not in DEPLOYMENTS:
            raise Refused(f"tenant {tenant_id!r} has deployment {entry.deployment!r}, not one of {DEPLOYMENTS}")

        key = self.jwks.key(pool_id, kid)
        if key is None:
            raise Refused(f"pool {pool_id} has no signing key {kid!r}")
        try:
            claims = json.loads(self._jws.decode(token, key=key, algorithms=[ALGORITHM]))
        except (PyJWTError, ValueError, TypeError) as exc:
            raise Refused(f"signature: {exc}") from None
        self._check_claims(claims, issuer=issuer, entry=entry)

        api_key = self.catalogue.api_key_value(entry.api_key_id)
        if not api_key:
            raise Refused(f"tenant {tenant_id!r} has no enabled API key")
        return Allowed(entry=entry, api_key=api_key, subject=str(claims["sub"]))

    def _check_claims(self, claims: Any, *, issuer: str, entry: TenantEntry) -> None:
        if not isinstance(claims, dict):
            raise Refused("claims are not an object")
        if claims.get("iss") != issuer:
            raise Refused("issuer changed between reads")
        if claims.get("token_use") != TOKEN_USE:
            raise Refused(f"token_use is {claims.get('token_use')!r}, not {TOKEN_USE!r}")
        if claims.get("client_id") != entry.app_client_id:
            raise Refused("token was issued to another app client")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Refused("token has no subject")
        now = self.clock()
        exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
        if not _number(exp) or exp <= now - self.skew:
            raise Refused("token expired (or has no exp)")
        if nbf is not None and (not _number(nbf) or nbf > now + self.skew):
            raise Refused("token not valid yet (nbf)")
        if iat is not None and (not _number(iat) or iat > now + self.skew):
            raise Refused("token issued in the future (iat)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
