"""Shared pieces of the stand-in: constants, errors, records, the route table."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import posixpath
import re
import ssl
import tarfile
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

JSONAPI = "application/vnd.api+json"
TERRAFORM_VERSIONS = ("1.9.8", "1.10.5", "1.11.4", "1.12.2")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,90}$")


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str = "", pointer: str | None = None):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.pointer = status, title, detail, pointer

    def document(self) -> dict[str, Any]:
        err: dict[str, Any] = {"status": str(self.status), "title": self.title}
        if self.detail:
            err["detail"] = self.detail
        if self.pointer:
            err["source"] = {"pointer": self.pointer}
        return {"errors": [err]}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@dataclass
class RunScript:
    """What the next run of a workspace does (see StandIn.script_next_run)."""

    changes: tuple[int, int, int] | None = None
    plan_error: str | None = None
    apply_error: str | None = None
    discard: bool = False
    policy: str | None = None  # "passed" | "soft_failed" | "hard_failed"
    statuses: bool = False
    """Pass through the statuses pytfe 1.5.0 cannot parse (plan_queueable, post_apply_*)."""
    unknown_status: str | None = None
    """A status no client knows, taken after plan_queueable."""
    force_cancel: bool = False
    drift: tuple[str, ...] = ()
    """Refresh-only runs: addresses changed outside terraform (the plan's resource_drift)."""
    replace: tuple[str, ...] = ()
    """Addresses the plan replaces (delete + create in its JSON output)."""


@dataclass
class Fault:
    """The next `times` requests matching `method` and `pattern` answer `status`; with
    `after_processing` the request is handled first (a 5xx after the run was created)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    times: int = 1
    after_processing: bool = False
    retry_after: float | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    raw_length: int
    authorization: str | None  # the bearer token sent, or None
    headers: dict[str, str]


@dataclass
class TokenInfo:
    username: str
    role: str = "owner"  # owner | readonly | project-admin
    service_account: bool = False
    user_id: str = field(default_factory=lambda: _id("user"))



# ------------------------------------------------------------------------------------------
# Routes: (method, path regex, handler, requires auth)
# ------------------------------------------------------------------------------------------

Handler = Callable[..., tuple[int, Any, str]]
_ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = []
_SEG = r"([^/]+)"


def route(method: str, pattern: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ROUTES.append((method, re.compile(pattern.replace("{}", _SEG)), fn, auth))
        return fn
    return register


def ok(doc: Any, status: int = 200) -> tuple[int, Any, str]:
    return status, doc, JSONAPI


def no_content() -> tuple[int, Any, str]:
    return 204, None, JSONAPI


def _data(body: Any, kind: str | None = None) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError(400, "bad request", "expected a JSON:API document with a data object")
    if kind and body["data"].get("type") != kind:
        raise ApiError(409, "conflict", f"data.type must be {kind!r}")
    return body["data"]


