"""Routes of the stand-in: account, organizations, projects, workspaces, variable sets,
configuration versions, uploads and logs."""

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
from tests.tfc_standin.base import _data, _id, _now
from tests.tfc_standin.core import StandIn


@route("GET", "/api/v2/account/details")
def _account(api: StandIn, who: TokenInfo, q: Any, b: Any) -> tuple[int, Any, str]:
    return ok({"data": {"id": who.user_id, "type": "users", "attributes": {
        "username": who.username, "email": f"{who.username}@example.test",
        "is-service-account": who.service_account, "avatar-url": None, "v2-only": False,
        "two-factor": {"enabled": False, "verified": False}, "is-site-admin": False,
        "permissions": {"can-create-organizations": True, "can-change-email": True,
                        "can-change-username": True, "can-manage-user-tokens": True}},
        "relationships": {"authenticated-resource": {"data": {"id": who.user_id,
                                                               "type": "users"}}}}})


@route("GET", "/api/v2/organizations")
def _orgs(api: StandIn, who: TokenInfo, q: Any, b: Any) -> tuple[int, Any, str]:
    docs = [api.org_doc(o, who) for o in api.orgs.values()]
    return ok(api.paginate(docs, q, "/api/v2/organizations"))


@route("GET", "/api/v2/organizations/{}")
def _org(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str) -> tuple[int, Any, str]:
    return ok({"data": api.org_doc(api.org_for(org), who)})


@route("GET", "/api/v2/organizations/{}/projects")
def _projects(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str) -> tuple[int, Any, str]:
    api.org_for(org)
    items = [p for p in api.projects.values() if p["org"] == org]
    if "filter[names]" in q:
        names = set(q["filter[names]"][0].split(","))
        items = [p for p in items if p["name"] in names]
    if "q" in q:
        items = [p for p in items if q["q"][0].lower() in p["name"].lower()]
    docs = [api.project_doc(p, who) for p in sorted(items, key=lambda p: p["name"])]
    return ok(api.paginate(docs, q, f"/api/v2/organizations/{org}/projects"))


@route("GET", "/api/v2/projects/{}")
def _project(api: StandIn, who: TokenInfo, q: Any, b: Any, pid: str) -> tuple[int, Any, str]:
    p = api.projects.get(pid)
    if p is None:
        raise ApiError(404, "not found", f"project {pid} not found")
    return ok({"data": api.project_doc(p, who)})


@route("GET", "/api/v2/organizations/{}/workspaces")
def _ws_list(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str) -> tuple[int, Any, str]:
    api.org_for(org)
    items = [w for w in api.workspaces.values() if w["org"] == org]
    if "search[name]" in q:
        items = [w for w in items if q["search[name]"][0] in w["name"]]
    if "filter[project][id]" in q:
        items = [w for w in items if w["project"] == q["filter[project][id]"][0]]
    i = 0
    while f"filter[tagged][{i}][key]" in q:
        key = q[f"filter[tagged][{i}][key]"][0]
        value = q.get(f"filter[tagged][{i}][value]", [None])[0]
        items = [w for w in items if key in w["tags"]
                 and (value is None or w["tags"][key] == value)]
        i += 1
    docs = [api.workspace_doc(w) for w in sorted(items, key=lambda w: w["name"])]
    return ok(api.paginate(docs, q, f"/api/v2/organizations/{org}/workspaces"))


@route("POST", "/api/v2/organizations/{}/workspaces")
def _ws_create(api: StandIn, who: TokenInfo, q: Any, body: Any, org: str
               ) -> tuple[int, Any, str]:
    api.org_for(org)
    data = _data(body, "workspaces")
    attrs = dict(data.get("attributes") or {})
    name = attrs.get("name")
    if not name:
        raise ApiError(422, "invalid attribute", "Name can't be blank", "/data/attributes/name")
    if any(w["org"] == org and w["name"] == name for w in api.workspaces.values()):
        raise ApiError(422, "invalid attribute", "Name has already been taken",
                       "/data/attributes/name")
    project = api._relationship_project(body, org) or \
        api.project_by_name(org, "Default Project")["id"]
    if not api._can_create(who, project):
        raise ApiError(404, "not found", "organization not found or user unauthorized")
    merged = api._apply_ws_attrs(None, attrs, org)
    w = api._new_workspace(org, merged, project, {})
    tb = ((data.get("relationships") or {}).get("tag-bindings") or {}).get("data") or []
    api._apply_tag_bindings(w, tb)
    return ok({"data": api.workspace_doc(w)}, 201)


@route("GET", "/api/v2/organizations/{}/workspaces/{}")
def _ws_read(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str, name: str
             ) -> tuple[int, Any, str]:
    return ok({"data": api.workspace_doc(api.ws_by_name(org, name))})


@route("GET", "/api/v2/workspaces/{}")
def _ws_read_id(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    return ok({"data": api.workspace_doc(api.ws_by_id(wid))})


def _ws_update(api: StandIn, who: TokenInfo, w: dict[str, Any], body: Any
               ) -> tuple[int, Any, str]:
    if who.role == "readonly":
        raise ApiError(404, "not found", "workspace not found or user unauthorized")
    data = _data(body, "workspaces")
    attrs = dict(data.get("attributes") or {})
    new_name = attrs.get("name")
    if new_name and new_name != w["name"] and any(
            o["org"] == w["org"] and o["name"] == new_name for o in api.workspaces.values()):
        raise ApiError(422, "invalid attribute", "Name has already been taken")
    w["attrs"] = api._apply_ws_attrs(w, attrs, w["org"])
    if new_name:
        w["name"] = new_name
    project = api._relationship_project(body, w["org"])
    if project:
        w["project"] = project
    tb = ((data.get("relationships") or {}).get("tag-bindings") or {}).get("data")
    if tb:
        api._apply_tag_bindings(w, tb)
    w["updated-at"] = _now()
    return ok({"data": api.workspace_doc(w)})


@route("PATCH", "/api/v2/organizations/{}/workspaces/{}")
def _ws_patch(api: StandIn, who: TokenInfo, q: Any, body: Any, org: str, name: str
              ) -> tuple[int, Any, str]:
    return _ws_update(api, who, api.ws_by_name(org, name), body)


@route("PATCH", "/api/v2/workspaces/{}")
def _ws_patch_id(api: StandIn, who: TokenInfo, q: Any, body: Any, wid: str
                 ) -> tuple[int, Any, str]:
    return _ws_update(api, who, api.ws_by_id(wid), body)


def _ws_delete(api: StandIn, who: TokenInfo, w: dict[str, Any], *, safe: bool
               ) -> tuple[int, Any, str]:
    if who.role == "readonly":
        raise ApiError(404, "not found", "workspace not found or user unauthorized")
    if safe and w["resource_count"] > 0:
        raise ApiError(409, "conflict", f"Workspace {w['name']} is currently managing "
                       f"{w['resource_count']} resources and cannot be safe-deleted")
    del api.workspaces[w["id"]]
    for v in api.varsets.values():
        if w["id"] in v["workspaces"]:
            v["workspaces"].remove(w["id"])
    return no_content()


@route("DELETE", "/api/v2/organizations/{}/workspaces/{}")
def _ws_del(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str, name: str
            ) -> tuple[int, Any, str]:
    return _ws_delete(api, who, api.ws_by_name(org, name), safe=False)


@route("DELETE", "/api/v2/workspaces/{}")
def _ws_del_id(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    return _ws_delete(api, who, api.ws_by_id(wid), safe=False)


@route("POST", "/api/v2/organizations/{}/workspaces/{}/actions/safe-delete")
def _ws_safe_del(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str, name: str
                 ) -> tuple[int, Any, str]:
    return _ws_delete(api, who, api.ws_by_name(org, name), safe=True)


@route("POST", "/api/v2/workspaces/{}/actions/safe-delete")
def _ws_safe_del_id(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str
                    ) -> tuple[int, Any, str]:
    return _ws_delete(api, who, api.ws_by_id(wid), safe=True)


@route("GET", "/api/v2/workspaces/{}/resources")
def _ws_resources(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    docs = []
    for address in w["resources"]:
        *prefix, rtype, name = address.split(".")
        docs.append({"id": "wsr-" + hashlib.sha256((wid + address).encode()).hexdigest()[:16],
                     "type": "resources",
                     "attributes": {"address": address, "name": name,
                                    "created-at": w["updated-at"], "updated-at": w["updated-at"],
                                    "module": ".".join(prefix) or "root",
                                    "provider": "hashicorp/" + rtype.split("_")[0],
                                    "provider-type": rtype,
                                    "modified-by-state-version-id": w["state_version"],
                                    "name-index": None}})
    return ok(api.paginate(docs, q, f"/api/v2/workspaces/{wid}/resources"))


@route("GET", "/api/v2/workspaces/{}/current-state-version-outputs")
def _ws_outputs(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    """The current state version's outputs; a sensitive output's value is null (read it by id)."""
    w = api.ws_by_id(wid)
    if w["state_version"] is None:
        raise ApiError(404, "not found", f"workspace {wid} has no current state version")
    docs = []
    for name, out in sorted(w["outputs"].items()):
        value = out["value"]
        docs.append({"id": "wsout-" + hashlib.sha256((w["state_version"] + name).encode()).hexdigest()[:16],
                     "type": "state-version-outputs",
                     "attributes": {"name": name, "sensitive": out["sensitive"],
                                    "type": _output_type(value), "detailed-type": None,
                                    "value": None if out["sensitive"] else value}})
    return ok(api.paginate(docs, q, f"/api/v2/workspaces/{wid}/current-state-version-outputs"))


def _output_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "tuple"
    return "string"


@route("GET", "/api/v2/workspaces/{}/tag-bindings")
def _tb_list(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    return ok({"data": api._tag_docs(api.ws_by_id(wid))})


@route("PATCH", "/api/v2/workspaces/{}/tag-bindings")
def _tb_add(api: StandIn, who: TokenInfo, q: Any, body: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ApiError(400, "bad request", "data must be a list of tag-bindings")
    api._apply_tag_bindings(w, data)
    return ok({"data": api._tag_docs(w)})


_FLAT_TAG = re.compile(r"[A-Za-z0-9]([A-Za-z0-9:_-]{0,253}[A-Za-z0-9])?")


def _flat_tag_names(body: Any) -> list[str]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise ApiError(400, "bad request", "data must be a non-empty list of tags")
    names = [str(((d or {}).get("attributes") or {}).get("name") or "") for d in data]
    for name in names:
        if not _FLAT_TAG.fullmatch(name):  # HCP: letters, digits, ':', '-', '_'; <= 255
            raise ApiError(422, "invalid attribute", f"tag name {name!r} is invalid")
    return [n.lower() for n in names]


@route("POST", "/api/v2/workspaces/{}/relationships/tags")
def _tags_add(api: StandIn, who: TokenInfo, q: Any, body: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    w.setdefault("flat_tags", set()).update(_flat_tag_names(body))
    return no_content()


@route("DELETE", "/api/v2/workspaces/{}/relationships/tags")
def _tags_remove(api: StandIn, who: TokenInfo, q: Any, body: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    w.setdefault("flat_tags", set()).difference_update(_flat_tag_names(body))
    return no_content()


@route("GET", "/api/v2/workspaces/{}/relationships/remote-state-consumers")
def _rsc_list(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    docs = [api.workspace_doc(api.workspaces[c]) for c in w["consumers"] if c in api.workspaces]
    return ok(api.paginate(docs, q, f"/api/v2/workspaces/{wid}/relationships/"
                                    "remote-state-consumers"))


@route("POST", "/api/v2/workspaces/{}/relationships/remote-state-consumers")
def _rsc_add(api: StandIn, who: TokenInfo, q: Any, body: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    for ref in (body or {}).get("data") or []:
        api.ws_by_id(ref.get("id", ""))
        if ref["id"] not in w["consumers"]:
            w["consumers"].append(ref["id"])
    return no_content()


@route("GET", "/api/v2/organizations/{}/varsets")
def _varsets(api: StandIn, who: TokenInfo, q: Any, b: Any, org: str) -> tuple[int, Any, str]:
    api.org_for(org)
    items = [v for v in api.varsets.values() if v["org"] == org]
    if "q" in q:
        items = [v for v in items if q["q"][0].lower() in v["name"].lower()]
    docs = [api.varset_doc(v) for v in sorted(items, key=lambda v: v["name"])]
    return ok(api.paginate(docs, q, f"/api/v2/organizations/{org}/varsets"))


@route("GET", "/api/v2/workspaces/{}/varsets")
def _ws_varsets(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    items = [v for v in api.varsets.values() if v["org"] == w["org"] and (
        v["global"] or wid in v["workspaces"] or w["project"] in v["projects"])]
    docs = [api.varset_doc(v) for v in sorted(items, key=lambda v: v["name"])]
    return ok(api.paginate(docs, q, f"/api/v2/workspaces/{wid}/varsets"))


@route("GET", "/api/v2/varsets/{}")
def _varset(api: StandIn, who: TokenInfo, q: Any, b: Any, vid: str) -> tuple[int, Any, str]:
    v = api.varsets.get(vid)
    if v is None:
        raise ApiError(404, "not found", f"variable set {vid} not found")
    return ok({"data": api.varset_doc(v)})


@route("POST", "/api/v2/varsets/{}/relationships/workspaces")
def _varset_apply(api: StandIn, who: TokenInfo, q: Any, body: Any, vid: str
                  ) -> tuple[int, Any, str]:
    v = api.varsets.get(vid)
    if v is None:
        raise ApiError(404, "not found", f"variable set {vid} not found")
    if v["global"]:
        raise ApiError(422, "invalid", "a global variable set cannot be applied to workspaces")
    if who.role == "readonly":
        raise ApiError(403, "forbidden", "needs permission to manage variable sets")
    for ref in (body or {}).get("data") or []:
        api.ws_by_id(ref.get("id", ""))
        if ref["id"] not in v["workspaces"]:
            v["workspaces"].append(ref["id"])
    return no_content()


@route("POST", "/api/v2/workspaces/{}/configuration-versions")
def _cv_create(api: StandIn, who: TokenInfo, q: Any, body: Any, wid: str
               ) -> tuple[int, Any, str]:
    w = api.ws_by_id(wid)
    attrs = _data(body, "configuration-versions").get("attributes") or {}
    cid, slot = _id("cv"), uuid.uuid4().hex
    cv = {"id": cid, "workspace": wid, "slot": slot, "status": "pending", "error": None,
          "error-message": None, "auto-queue-runs": attrs.get("auto-queue-runs", True),
          "speculative": bool(attrs.get("speculative", False)), "sha": None, "resources": 0,
          "uploaded": False, "reads_after_upload": 0}
    api.cvs[cid] = cv
    api._upload_slots[slot] = cid
    w["latest_cv"] = cid
    return ok({"data": api.cv_doc(cv, with_upload_url=True)}, 201)


@route("GET", "/api/v2/workspaces/{}/configuration-versions")
def _cv_list(api: StandIn, who: TokenInfo, q: Any, b: Any, wid: str) -> tuple[int, Any, str]:
    api.ws_by_id(wid)
    docs = [api.cv_doc(cv) for cv in reversed(list(api.cvs.values())) if cv["workspace"] == wid]
    return ok(api.paginate(docs, q, f"/api/v2/workspaces/{wid}/configuration-versions"))


@route("GET", "/api/v2/configuration-versions/{}")
def _cv_read(api: StandIn, who: TokenInfo, q: Any, b: Any, cid: str) -> tuple[int, Any, str]:
    cv = api.cvs.get(cid)
    if cv is None:
        raise ApiError(404, "not found", f"configuration version {cid} not found")
    if cv["uploaded"] and cv["status"] == "pending":
        if cv["reads_after_upload"] >= api.cv_reads_to_process:
            cv["status"] = "uploaded"
        cv["reads_after_upload"] += 1
    return ok({"data": api.cv_doc(cv)})


@route("PUT", "/_archivist/v1/object/{}", auth=False)
def _upload(api: StandIn, who: Any, q: Any, body: Any, slot: str) -> tuple[int, Any, str]:
    cid = api._upload_slots.pop(slot, None)
    if cid is None or not isinstance(body, bytes):
        raise ApiError(404, "not found", "upload URL not found or already used")
    cv = api.cvs[cid]
    api.uploads[cid] = body
    cv["uploaded"] = True
    try:
        cv["resources"] = api._config_resources(body)
        cv["sha"] = hashlib.sha256(body).hexdigest()
    except (tarfile.TarError, OSError, json.JSONDecodeError, EOFError) as exc:
        cv.update(status="errored", error="extraction-failed",
                  **{"error-message": f"Configuration could not be extracted: {exc}"})
    if cv["status"] == "pending" and cv["auto-queue-runs"]:
        cv["status"] = "uploaded"
        w = api.workspaces[cv["workspace"]]
        api._start_run(w, cv, {"message": "Triggered via API"},
                       TokenInfo(username="auto-queue"))
    return 200, b"", "application/octet-stream"


@route("GET", "/_archivist/v1/object/log-{}", auth=False)
def _log_read(api: StandIn, who: Any, q: Any, b: Any, log_id: str) -> tuple[int, Any, str]:
    if log_id not in api.logs:
        raise ApiError(404, "not found", "log not found")
    return 200, api.logs[log_id].encode(), "text/plain"
