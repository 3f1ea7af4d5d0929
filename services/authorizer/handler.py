"""Lambda entry point (`authorizer.handler.handler`) for API Gateway REST REQUEST authorizer events.

Allow: a policy for exactly the requested `methodArn`, the tenant's API key value as
`usageIdentifierKey` (the API's `api_key_source` is AUTHORIZER, so the tier's usage plan throttles),
and the context `{tenant_id, tier, deployment}`: the gateway forwards the first two as X-Tenant-Id /
X-Tenant-Tier and routes by the third (`http://<nlb>/{deployment}/{proxy}`: "pool" to the pool
services, "silo" to the tenant's own; the catalogue entry's `deployment`, "silo" when absent).
Everything else: an explicit Deny for the `methodArn` (API Gateway answers 403), never an error
that would reveal why.

Configuration (environment): CATALOGUE_TABLE (required), AWS_REGION (set by Lambda),
COGNITO_JWKS_ENDPOINT (default `https://cognito-idp.<region>.amazonaws.com`; the local target
points it at moto), CLOCK_SKEW_SECONDS (default 60, at most 300), JWKS_TTL_SECONDS (default 3600).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping

from .catalogue import Catalogue
from .decide import DEFAULT_SKEW_SECONDS, Allowed, Authorizer, Refused
from .jwks import JwksCache

LOG = logging.getLogger("authorizer")
LOG.setLevel(logging.INFO)
_AUTHORIZER: Authorizer | None = None


def from_environment(env: Mapping[str, str] = os.environ, *, session: Any = None) -> Authorizer:
    import boto3  # the Lambda runtime's

    region = env.get("AWS_REGION") or env["AWS_DEFAULT_REGION"]
    session = session or boto3.session.Session(region_name=region)
    endpoint_url = env.get("AWS_ENDPOINT_URL") or None  # the local target only
    catalogue = Catalogue(dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
                          apigateway=session.client("apigateway", endpoint_url=endpoint_url),
                          table_name=env["CATALOGUE_TABLE"])
    jwks = JwksCache(endpoint=env.get("COGNITO_JWKS_ENDPOINT") or f"https://cognito-idp.{region}.amazonaws.com",
                     ttl=float(env.get("JWKS_TTL_SECONDS", "3600")))
    return Authorizer(region=region, catalogue=catalogue, jwks=jwks,
                      skew_seconds=int(env.get("CLOCK_SKEW_SECONDS", str(DEFAULT_SKEW_SECONDS))))


def policy(effect: str, method_arn: str, principal: str) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}]},
    }


def respond(authorizer: Authorizer, event: Mapping[str, Any]) -> dict[str, Any]:
    method_arn = str(event.get("methodArn", ""))
    try:
        allowed: Allowed = authorizer.decide(event)
    except Refused as reason:
        LOG.info(json.dumps({"decision": "deny", "reason": str(reason), "path": event.get("path")}))
        return policy("Deny", method_arn, "anonymous")
    except Exception as exc:  # noqa: BLE001 - a failure to decide is a Deny, logged
        LOG.error(json.dumps({"decision": "deny", "error": type(exc).__name__, "path": event.get("path")}))
        return policy("Deny", method_arn, "anonymous")
    LOG.info(json.dumps({"decision": "allow", "tenant_id": allowed.entry.tenant_id, "path": event.get("path")}))
    response = policy("Allow", method_arn, allowed.subject)
    response["usageIdentifierKey"] = allowed.api_key
    response["context"] = {"tenant_id": allowed.entry.tenant_id, "tier": allowed.entry.tier,
                           "deployment": allowed.entry.deployment}
    return response


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    global _AUTHORIZER
    if _AUTHORIZER is None:
        _AUTHORIZER = from_environment()
    return respond(_AUTHORIZER, event)
