"""Routes of the stand-in: runs, plans, applies."""

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

from tests.tfc_standin.base import *  # noqa: F403
from tests.tfc_standin.base import _data
from tests.tfc_standin.core import StandIn


@route("POST", "/api/v2/runs")
def _run_create(api: StandIn, who: TokenInfo, q: Any, body: Any) -> tuple[int, Any, str]:
    data = _data(body, "runs")
    rels = data.get("relationships") or {}
    wid = ((rels.get("workspace") or {}).get("data") or {}).get("id")
    if not wid:
        raise ApiError(422, "invalid relationship", "workspace is required",
                       "/data/relationships/workspace")
    w = api.ws_by_id(wid)
    if who.role == "readonly":
        raise ApiError(404, "not found", "workspace not found or user unauthorized")
    cid = ((rels.get("configuration-version") or {}).get("data") or {}).get("id") or w["latest_cv"]
    cv = api.cvs.get(cid or "")
    if cv is None:
        raise ApiError(422, "invalid relationship", "the workspace has no configuration version",
                       "/data/relationships/configuration-version")
    if cv["status"] != "uploaded":
        raise ApiError(422, "invalid relationship",
                       f"configuration version {cid} is {cv['status']}, not uploaded")
    attrs = data.get("attributes") or {}
    if cv["speculative"] and attrs.get("plan-only") is False:
        raise ApiError(422, "invalid attribute",
                       "a speculative configuration version can only be used for plan-only runs")
    if attrs.get("is-destroy") and attrs.get("refresh-only"):
        raise ApiError(422, "invalid attribute", "is-destroy and refresh-only are exclusive")
    r = api._start_run(w, cv, attrs, who)
    return ok({"data": api.run_doc(r)}, 201)


@route("GET", "/api/v2/runs/{}")
def _run_read(api: StandIn, who: TokenInfo, q: Any, b: Any, rid: str) -> tuple[int, Any, str]:
    r = api.runs.get(rid)
    if r is None:
        raise ApiError(404, "not found", f"run {rid} not found")
    api.advance_by_clock(r)
    return ok({"data": api.run_doc(r)})


@route("GET", "/api/v2/workspaces/{}/runs")
def _run_list(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    api.ws_by_id(wid)
    docs = [api.run_doc(r) for r in reversed(list(api.runs.values())) if r["workspace"] == wid]
    return ok(api.paginate(docs, q, f"/api/v2/workspaces/{wid}/runs"))


def _run_for_action(api: StandIn, rid: str) -> dict[str, Any]:
    r = api.runs.get(rid)
    if r is None:
        raise ApiError(404, "not found", f"run {rid} not found")
    return r


@route("POST", "/api/v2/runs/{}/actions/apply")
def _run_apply(api: StandIn, who: TokenInfo, q: Any, body: Any, rid: str
               ) -> tuple[int, Any, str]:
    r = _run_for_action(api, rid)
    if not r["confirmable"]:
        raise ApiError(409, "conflict", f"run is {r['status']}, not paused for confirmation")
    r["applied_comment"] = (body or {}).get("comment")
    api._set(r, "confirmed")
    r["stepped_at"] = api.clock()
    return 202, None, JSONAPI


@route("POST", "/api/v2/runs/{}/actions/discard")
def _run_discard(api: StandIn, who: TokenInfo, q: Any, body: Any, rid: str
                 ) -> tuple[int, Any, str]:
    r = _run_for_action(api, rid)
    if not (r["confirmable"] or r["status"] in ("pending", "policy_override")):
        raise ApiError(409, "conflict", f"run is {r['status']} and cannot be discarded")
    api._set(r, "discarded")
    return 202, None, JSONAPI


@route("POST", "/api/v2/runs/{}/actions/cancel")
def _run_cancel(api: StandIn, who: TokenInfo, q: Any, body: Any, rid: str
                ) -> tuple[int, Any, str]:
    r = _run_for_action(api, rid)
    if r["status"] not in ("pending", "plan_queued", "planning", "apply_queued", "applying"):
        raise ApiError(409, "conflict", f"run is {r['status']} and cannot be canceled")
    api._set(r, "canceled")
    return 202, None, JSONAPI


@route("GET", "/api/v2/plans/{}")
def _plan(api: StandIn, who: TokenInfo, q: Any, b: Any, pid: str) -> tuple[int, Any, str]:
    if pid not in api.plans:
        raise ApiError(404, "not found", f"plan {pid} not found")
    return ok({"data": api.phase_doc(api.plans[pid], "plans")})


@route("GET", "/api/v2/runs/{}/plan")
def _run_plan(api: StandIn, who: TokenInfo, q: Any, b: Any, rid: str) -> tuple[int, Any, str]:
    return ok({"data": api.phase_doc(api.plans[_run_for_action(api, rid)["plan"]], "plans")})


@route("GET", "/api/v2/applies/{}")
def _apply(api: StandIn, who: TokenInfo, q: Any, b: Any, aid: str) -> tuple[int, Any, str]:
    if aid not in api.applies:
        raise ApiError(404, "not found", f"apply {aid} not found")
    return ok({"data": api.phase_doc(api.applies[aid], "applies")})




def _policy_doc(check: dict[str, Any]) -> dict[str, Any]:
    soft = check["status"] == "soft_failed"
    return {"id": check["id"], "type": "policy-checks",
            "attributes": {"status": check["status"], "scope": "organization",
                           "actions": {"is-overridable": soft},
                           "permissions": {"can-override": True},
                           "result": {"result": check["status"] in ("passed", "overridden"),
                                      "soft-failed": int(soft),
                                      "hard-failed": int(check["status"] == "hard_failed")}},
            "relationships": {"run": {"data": {"id": check["run"], "type": "runs"}}}}


@route("GET", "/api/v2/runs/{}/policy-checks")
def _policy_checks(api: StandIn, who: TokenInfo, q: Any, b: Any, rid: str) -> tuple[int, Any, str]:
    r = _run_for_action(api, rid)
    checks = [api.policy_checks[r["policy_check"]]] if r["policy_check"] else []
    return ok(api.paginate([_policy_doc(c) for c in checks], q, f"/api/v2/runs/{rid}/policy-checks"))


@route("POST", "/api/v2/policy-checks/{}/actions/override")
def _policy_override(api: StandIn, who: TokenInfo, q: Any, b: Any, pid: str) -> tuple[int, Any, str]:
    check = api.policy_checks.get(pid)
    if check is None:
        raise ApiError(404, "not found", f"policy check {pid} not found")
    r = api.runs[check["run"]]
    if check["status"] != "soft_failed" or r["status"] != "policy_override":
        raise ApiError(409, "conflict", f"policy check is {check['status']}, run is {r['status']}")
    check["status"] = "overridden"
    api._set(r, "policy_checked")
    return ok({"data": _policy_doc(check)})


@route("GET", "/api/v2/plans/{}/json-output")
def _plan_json(api: StandIn, who: TokenInfo, q: Any, b: Any, pid: str) -> tuple[int, Any, str]:
    plan = api.plans.get(pid)
    if plan is None or plan["status"] != "finished":
        raise ApiError(404, "not found", f"plan {pid} has no JSON output")
    changes = [{"address": a, "type": a.split(".")[-2] if a.count(".") >= 1 else a,
                "change": {"actions": ["delete", "create"]}} for a in plan["replace"]]
    drift = [{"address": a, "change": {"actions": ["update"]}} for a in plan["drift"]]
    return 200, {"format_version": "1.2", "resource_changes": changes, "resource_drift": drift}, \
        "application/json"
