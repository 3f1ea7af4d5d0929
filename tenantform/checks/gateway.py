"""Gateway checker for `invoke check`: no method of the platform's REST API is reachable without
the tenant authorizer.

A pure function over the synthesised platform JSON (`cdk.tf.json`): every `aws_api_gateway_method`
must have `authorization = "CUSTOM"`, an `authorizer_id` that refers to an `aws_api_gateway_authorizer`
of type REQUEST, and `api_key_required = true`; every authorizer must be a REQUEST authorizer whose
cache key (identity source) includes the Authorization header and the request path. Nothing here
imports CDKTF.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

METHOD = "aws_api_gateway_method"
AUTHORIZER = "aws_api_gateway_authorizer"
REQUIRED_IDENTITY = ("method.request.header.Authorization", "context.path", "context.httpMethod")
_REFERENCE = re.compile(r"\$\{aws_api_gateway_authorizer\.([A-Za-z0-9_-]+)\.id\}")


def gateway_violations(doc: Mapping[str, Any]) -> list[str]:
    resources = doc.get("resource", {}) or {}
    methods = resources.get(METHOD, {}) or {}
    authorizers = resources.get(AUTHORIZER, {}) or {}
    problems: list[str] = []
    if not methods:
        problems.append(f"no {METHOD} found: nothing to check (is this the platform workspace?)")
    for name, authorizer in sorted(authorizers.items()):
        if authorizer.get("type") != "REQUEST":
            problems.append(f"{AUTHORIZER}.{name}: type {authorizer.get('type')!r}, expected REQUEST")
        sources = [s.strip() for s in str(authorizer.get("identity_source", "")).split(",")]
        missing = [s for s in REQUIRED_IDENTITY if s not in sources]
        if missing:
            problems.append(f"{AUTHORIZER}.{name}: identity_source lacks {', '.join(missing)} (a cached "
                            "decision would be reused for another token, path or method)")
    for name, method in sorted(methods.items()):
        where = f"{METHOD}.{name} ({method.get('http_method', '?')})"
        if method.get("authorization") != "CUSTOM":
            problems.append(f"{where}: authorization {method.get('authorization')!r}, expected CUSTOM "
                            "(reachable without the tenant authorizer)")
            continue
        reference = _REFERENCE.fullmatch(str(method.get("authorizer_id", "")))
        if reference is None or reference.group(1) not in authorizers:
            problems.append(f"{where}: authorizer_id {method.get('authorizer_id')!r} is not one of this "
                            "workspace's authorizers")
        if method.get("api_key_required") is not True:
            problems.append(f"{where}: api_key_required is not true (no usage plan throttles it)")
    return problems
