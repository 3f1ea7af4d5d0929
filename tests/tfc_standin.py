"""A local stand-in for the subset of the HCP Terraform API v2 that tenantform's `tfc` target uses.

Built from the public API documentation (hashicorp/terraform-docs-common, cloud-docs/api-docs:
index, account, organizations, projects, workspaces, workspace-resources, variable-sets,
configuration-versions, run, plans, applies): JSON:API documents served as
`application/vnd.api+json`, `page[number]` / `page[size]` pagination with `meta.pagination`
and `links`, bearer-token auth (401 without, 404 for what the token may not see), JSON:API
error objects.

It is a test double, not an emulator: runs do not execute terraform. A run advances one state
each time it is read (pending -> plan_queued -> planning -> planned | planned_and_finished |
errored; after an apply action: apply_queued -> applying -> applied | errored), so tests are
deterministic without timers. What a run's plan contains is derived from the uploaded
configuration (resources counted in its *.tf.json files; unchanged configuration gives no
changes) or scripted per workspace with `script_next_run`.

Served on 127.0.0.1 on a free port, plain HTTP (pytfe accepts `http://` addresses) or HTTPS
with a self-signed certificate generated at start (`tls=True`; `ca_file` is its PEM).
"""

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
    policy: str | None = None  # "passed" | "soft_failed"


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


class StandIn:
    """The fake API. Use as a context manager; `address` is the base URL to give pytfe."""

    def __init__(self, *, organization: str = "acme-corp", token: str = "standin-token",
                 projects: tuple[str, ...] = ("Default Project", "production"),
                 variable_sets: tuple[str, ...] = ("aws-credentials",),
                 global_variable_sets: tuple[str, ...] = (),
                 agent_pools: tuple[str, ...] = (),
                 max_page_size: int = 100, tls: bool = False,
                 cv_reads_to_process: int = 1) -> None:
        self.lock = threading.RLock()
        self.cv_reads_to_process = cv_reads_to_process
        """Reads of an uploaded configuration version that still show it `pending`."""
        self.max_page_size = max_page_size
        self.tls = tls
        self.tokens: dict[str, TokenInfo] = {token: TokenInfo(username="standin-user")}
        self.orgs: dict[str, dict[str, Any]] = {}
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.varsets: dict[str, dict[str, Any]] = {}
        self.cvs: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, dict[str, Any]] = {}
        self.applies: dict[str, dict[str, Any]] = {}
        self.logs: dict[str, str] = {}
        self.uploads: dict[str, bytes] = {}
        """Uploaded tarballs by configuration version id, for inspection."""
        self.requests: list[RecordedRequest] = []
        self.scripts: dict[str, list[RunScript]] = {}
        self._upload_slots: dict[str, str] = {}
        self.add_organization(organization, projects=projects, variable_sets=variable_sets,
                              global_variable_sets=global_variable_sets, agent_pools=agent_pools)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None

    # ---- setup ---------------------------------------------------------------------------

    def add_organization(self, name: str, *, projects: tuple[str, ...] = ("Default Project",),
                         variable_sets: tuple[str, ...] = (),
                         global_variable_sets: tuple[str, ...] = (),
                         agent_pools: tuple[str, ...] = ()) -> None:
        with self.lock:
            self.orgs[name] = {"name": name, "email": f"owners@{name}.test",
                               "created-at": _now(), "agent_pools": set(agent_pools)}
            for p in projects:
                self.add_project(name, p)
            for v in variable_sets:
                self.add_variable_set(name, v)
            for v in global_variable_sets:
                self.add_variable_set(name, v, is_global=True)

    def add_project(self, org: str, name: str) -> str:
        pid = _id("prj")
        self.projects[pid] = {"id": pid, "org": org, "name": name, "created-at": _now()}
        return pid

    def add_variable_set(self, org: str, name: str, *, is_global: bool = False,
                         project_names: tuple[str, ...] = ()) -> str:
        vid = _id("varset")
        self.varsets[vid] = {"id": vid, "org": org, "name": name, "global": is_global,
                             "workspaces": [], "projects": [self.project_by_name(org, p)["id"]
                                                           for p in project_names]}
        return vid

    def add_token(self, token: str, *, username: str, role: str = "owner",
                  service_account: bool = False) -> None:
        self.tokens[token] = TokenInfo(username=username, role=role,
                                       service_account=service_account)

    def seed_workspaces(self, org: str, names: list[str], *, project: str | None = None,
                        tags: dict[str, str] | None = None) -> None:
        """Create workspaces directly (no API call), e.g. to exercise pagination."""
        proj = self.project_by_name(org, project or "Default Project")
        with self.lock:
            for n in names:
                self._new_workspace(org, {"name": n}, proj["id"], dict(tags or {}))

    def script_next_run(self, workspace: str, **outcome: Any) -> None:
        """Queue what the next run of `workspace` does: `changes=(add, change, destroy)`,
        `plan_error="..."`, `apply_error="..."`, `discard=True` (a person discards it after
        the plan), `policy="passed" | "soft_failed"`."""
        with self.lock:
            self.scripts.setdefault(workspace, []).append(RunScript(**outcome))

    # ---- queries for tests ---------------------------------------------------------------

    def project_by_name(self, org: str, name: str) -> dict[str, Any]:
        for p in self.projects.values():
            if p["org"] == org and p["name"] == name:
                return p
        raise KeyError(name)

    def workspace_by_name(self, org: str, name: str) -> dict[str, Any]:
        for w in self.workspaces.values():
            if w["org"] == org and w["name"] == name:
                return w
        raise KeyError(name)

    def requests_to(self, method: str, pattern: str) -> list[RecordedRequest]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path)]

    # ---- server --------------------------------------------------------------------------

    @property
    def address(self) -> str:
        assert self._server is not None, "not started"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        standin = self

        class Handler(_Handler):
            api = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="tfc-standin-")
            cert, key = _self_signed(Path(self._tmp.name))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            self.ca_file = str(cert)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- request dispatch ----------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               token: str | None) -> tuple[int, Any, str]:
        """(status, document or text, content type). Raises ApiError."""
        for route_method, rx, fn, auth in _ROUTES:
            if route_method != method:
                continue
            m = rx.fullmatch(path)
            if not m:
                continue
            who = None
            if auth:
                who = self.tokens.get(token or "")
                if who is None:
                    raise ApiError(401, "unauthorized", "invalid or missing API token")
            with self.lock:
                return fn(self, who, query, body, *m.groups())
        raise ApiError(404, "not found", f"no route for {method} {path}")

    # ---- serialisers ---------------------------------------------------------------------

    def base(self) -> str:
        return self.address

    def _org_permissions(self, who: TokenInfo) -> dict[str, bool]:
        owner = who.role == "owner"
        return {"can-update": owner, "can-destroy": owner, "can-access-via-teams": True,
                "can-create-module": owner, "can-create-team": owner,
                "can-create-workspace": owner, "can-manage-users": owner,
                "can-manage-subscription": owner, "can-manage-sso": owner,
                "can-update-oauth": owner, "can-update-sentinel": owner,
                "can-update-ssh-keys": owner, "can-update-api-token": owner,
                "can-traverse": True, "can-start-trial": False,
                "can-update-agent-pools": owner, "can-manage-tags": owner,
                "can-manage-varsets": owner, "can-read-varsets": True,
                "can-manage-public-providers": owner, "can-create-provider": owner,
                "can-manage-public-modules": owner, "can-manage-custom-providers": owner,
                "can-manage-run-tasks": owner, "can-read-run-tasks": True}

    def _project_permissions(self, who: TokenInfo) -> dict[str, bool]:
        admin = who.role in ("owner", "project-admin")
        return {"can-read": True, "can-update": admin, "can-destroy": admin,
                "can-create-workspace": admin, "can-move-workspace": admin,
                "can-manage-tags": admin, "can-manage-teams": admin}

    def org_doc(self, org: dict[str, Any], who: TokenInfo) -> dict[str, Any]:
        return {"id": org["name"], "type": "organizations",
                "attributes": {"name": org["name"], "email": org["email"],
                               "created-at": org["created-at"],
                               "default-execution-mode": "remote",
                               "permissions": self._org_permissions(who)},
                "links": {"self": f"/api/v2/organizations/{org['name']}"}}

    def project_doc(self, p: dict[str, Any], who: TokenInfo) -> dict[str, Any]:
        count = sum(1 for w in self.workspaces.values() if w["project"] == p["id"])
        return {"id": p["id"], "type": "projects",
                "attributes": {"name": p["name"], "description": None,
                               "created-at": p["created-at"], "workspace-count": count,
                               "default-execution-mode": "remote",
                               "permissions": self._project_permissions(who)},
                "relationships": {"organization": {"data": {"id": p["org"],
                                                            "type": "organizations"}}},
                "links": {"self": f"/api/v2/projects/{p['id']}"}}

    def workspace_doc(self, w: dict[str, Any]) -> dict[str, Any]:
        a = w["attrs"]

        def ref(kind: str, rid: str | None) -> dict[str, Any]:
            return {"data": {"id": rid, "type": kind} if rid else None}

        return {
            "id": w["id"], "type": "workspaces",
            "attributes": {
                "name": w["name"], "created-at": w["created-at"], "updated-at": w["updated-at"],
                "description": a.get("description"), "environment": "default",
                "execution-mode": a.get("execution-mode", "remote"),
                "terraform-version": a.get("terraform-version", TERRAFORM_VERSIONS[-1]),
                "auto-apply": a.get("auto-apply", False),
                "working-directory": a.get("working-directory") or "",
                "allow-destroy-plan": a.get("allow-destroy-plan", True),
                "global-remote-state": a.get("global-remote-state", False),
                "file-triggers-enabled": False, "queue-all-runs": False,
                "speculative-enabled": True, "structured-run-output-enabled": True,
                "operations": a.get("execution-mode", "remote") != "local",
                "locked": False, "resource-count": w["resource_count"],
                "source": "tfe-api", "tag-names": [], "trigger-prefixes": [],
                "trigger-patterns": [], "vcs-repo": None,
                "setting-overwrites": a.get("setting-overwrites") or
                {"execution-mode": False, "agent-pool": False},
                "actions": {"is-destroyable": True},
                "permissions": {k: True for k in (
                    "can-update", "can-destroy", "can-queue-run", "can-queue-apply",
                    "can-queue-destroy", "can-lock", "can-unlock", "can-force-unlock",
                    "can-read-settings", "can-update-variable", "can-manage-run-tasks")},
            },
            "relationships": {
                "organization": ref("organizations", w["org"]),
                "project": ref("projects", w["project"]),
                "agent-pool": ref("agent-pools", a.get("agent-pool-id")),
                "current-run": ref("runs", w["current_run"]),
                "latest-run": ref("runs", w["current_run"]),
                "current-configuration-version": ref("configuration-versions", w["latest_cv"]),
                "remote-state-consumers": {"links": {
                    "related": f"/api/v2/workspaces/{w['id']}/relationships/"
                               "remote-state-consumers"}},
            },
            "links": {"self": f"/api/v2/organizations/{w['org']}/workspaces/{w['name']}",
                      "self-html": f"/app/{w['org']}/workspaces/{w['name']}"},
        }

    def varset_doc(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"id": v["id"], "type": "varsets",
                "attributes": {"name": v["name"], "description": "", "global": v["global"],
                               "priority": False, "updated-at": _now(),
                               "var-count": 2, "workspace-count": len(v["workspaces"]),
                               "project-count": len(v["projects"])},
                "relationships": {
                    "organization": {"data": {"id": v["org"], "type": "organizations"}},
                    "workspaces": {"data": [{"id": i, "type": "workspaces"}
                                            for i in v["workspaces"]]},
                    "projects": {"data": [{"id": i, "type": "projects"} for i in v["projects"]]},
                    "vars": {"data": []}}}

    def cv_doc(self, cv: dict[str, Any], *, with_upload_url: bool = False) -> dict[str, Any]:
        attrs = {"auto-queue-runs": cv["auto-queue-runs"], "error": cv["error"],
                 "error-message": cv["error-message"], "source": "tfe-api",
                 "speculative": cv["speculative"], "provisional": False,
                 "status": cv["status"], "status-timestamps": {}}
        if with_upload_url:
            attrs["upload-url"] = f"{self.base()}/_archivist/v1/object/{cv['slot']}"
        return {"id": cv["id"], "type": "configuration-versions", "attributes": attrs,
                "relationships": {"ingress-attributes": {"data": None}},
                "links": {"self": f"/api/v2/configuration-versions/{cv['id']}",
                          "download": f"/api/v2/configuration-versions/{cv['id']}/download"}}

    def run_doc(self, r: dict[str, Any]) -> dict[str, Any]:
        st = r["status"]
        confirmable = r["confirmable"]
        return {
            "id": r["id"], "type": "runs",
            "attributes": {
                "actions": {"is-cancelable": st in ("pending", "plan_queued", "planning",
                                                    "applying", "apply_queued"),
                            "is-confirmable": confirmable,
                            "is-discardable": confirmable or st == "policy_override",
                            "is-force-cancelable": False},
                "canceled-at": None, "created-at": r["created-at"],
                "has-changes": r["has_changes"] if r["planned"] else False,
                "auto-apply": r["auto-apply"], "allow-empty-apply": False,
                "allow-config-generation": False, "is-destroy": r["is-destroy"],
                "message": r["message"], "plan-only": r["plan-only"], "source": "tfe-api",
                "status-timestamps": r["timestamps"], "status": st,
                "trigger-reason": "manual", "target-addrs": None, "replace-addrs": None,
                "terraform-version": r["terraform-version"], "refresh": True,
                "refresh-only": False, "save-plan": False, "variables": [],
                "position-in-queue": 0,
                "permissions": {"can-apply": True, "can-cancel": True, "can-comment": True,
                                "can-discard": True, "can-force-execute": True,
                                "can-force-cancel": True, "can-override-policy-check": True},
            },
            "relationships": {
                "workspace": {"data": {"id": r["workspace"], "type": "workspaces"}},
                "configuration-version": {"data": {"id": r["cv"],
                                                   "type": "configuration-versions"}},
                "plan": {"data": {"id": r["plan"], "type": "plans"}},
                "apply": {"data": {"id": r["apply"], "type": "applies"}},
                "created-by": {"data": {"id": r["created-by"], "type": "users"}},
            },
            "links": {"self": f"/api/v2/runs/{r['id']}"},
        }

    def phase_doc(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        return {"id": p["id"], "type": kind,
                "attributes": {"status": p["status"], "status-timestamps": {},
                               "has-changes": p.get("has-changes", False),
                               "resource-additions": p["add"], "resource-changes": p["change"],
                               "resource-destructions": p["destroy"], "resource-imports": 0,
                               "log-read-url": f"{self.base()}/_archivist/v1/object/"
                                               f"log-{p['log']}"},
                "links": {"self": f"/api/v2/{kind}/{p['id']}"}}

    # ---- helpers -------------------------------------------------------------------------

    def paginate(self, items: list[Any], query: dict[str, list[str]], path: str
                 ) -> dict[str, Any]:
        def num(key: str, default: int) -> int:
            try:
                return max(1, int(query.get(key, [default])[0]))
            except ValueError:
                raise ApiError(400, "bad request", f"{key} must be a number") from None

        size = min(num("page[size]", 20), self.max_page_size)
        page = num("page[number]", 1)
        total = len(items)
        pages = max(1, -(-total // size))
        chunk = items[(page - 1) * size: page * size]

        def link(n: int | None) -> str | None:
            if n is None:
                return None
            return f"{self.base()}{path}?" + urlencode({"page[number]": n, "page[size]": size})

        prev_page = page - 1 if page > 1 else None
        next_page = page + 1 if page < pages else None
        return {"data": chunk,
                "links": {"self": link(page), "first": link(1), "prev": link(prev_page),
                          "next": link(next_page), "last": link(pages)},
                "meta": {"pagination": {"current-page": page, "page-size": size,
                                        "prev-page": prev_page, "next-page": next_page,
                                        "total-pages": pages, "total-count": total}}}

    def org_for(self, name: str) -> dict[str, Any]:
        org = self.orgs.get(name)
        if org is None:
            raise ApiError(404, "not found", f"organization {name!r} not found")
        return org

    def ws_by_id(self, wid: str) -> dict[str, Any]:
        w = self.workspaces.get(wid)
        if w is None:
            raise ApiError(404, "not found", f"workspace {wid} not found")
        return w

    def ws_by_name(self, org: str, name: str) -> dict[str, Any]:
        self.org_for(org)
        try:
            return self.workspace_by_name(org, name)
        except KeyError:
            raise ApiError(404, "not found", f"workspace {name!r} not found") from None

    def _new_workspace(self, org: str, attrs: dict[str, Any], project: str,
                       tags: dict[str, str]) -> dict[str, Any]:
        wid = _id("ws")
        w = {"id": wid, "org": org, "name": attrs["name"], "attrs": attrs, "project": project,
             "tags": tags, "consumers": [], "created-at": _now(), "updated-at": _now(),
             "current_run": None, "latest_cv": None, "resource_count": 0,
             "applied_sha": None, "resources": [], "state_version": None}
        self.workspaces[wid] = w
        return w

    def _apply_ws_attrs(self, w: dict[str, Any] | None, attrs: dict[str, Any], org: str
                        ) -> dict[str, Any]:
        clean = {k: v for k, v in attrs.items() if k != "type"}
        vcs = clean.pop("vcs-repo", None)
        if vcs:
            raise ApiError(422, "invalid attribute", "the stand-in has no VCS connections",
                           "/data/attributes/vcs-repo")
        if "name" in clean and not _NAME_RE.match(str(clean["name"])):
            raise ApiError(422, "invalid attribute", "Name is invalid", "/data/attributes/name")
        merged = dict(w["attrs"]) if w else {}
        merged.update(clean)
        mode = merged.get("execution-mode", "remote")
        if mode not in ("remote", "local", "agent"):
            raise ApiError(422, "invalid attribute", f"execution mode {mode!r} is invalid",
                           "/data/attributes/execution-mode")
        if mode == "agent":
            pool = merged.get("agent-pool-id")
            if not pool:
                raise ApiError(422, "invalid attribute",
                               "Agent pool must be present when execution mode is agent",
                               "/data/attributes/agent-pool-id")
            if pool not in self.orgs[org]["agent_pools"]:
                raise ApiError(422, "invalid attribute", f"agent pool {pool} not found",
                               "/data/attributes/agent-pool-id")
        else:
            merged.pop("agent-pool-id", None)
        tv = merged.get("terraform-version")
        if tv is not None and tv not in TERRAFORM_VERSIONS:
            raise ApiError(422, "invalid attribute",
                           f"Terraform version {tv} is not available",
                           "/data/attributes/terraform-version")
        return merged

    def _relationship_project(self, body: dict[str, Any], org: str) -> str | None:
        rel = (body.get("data", {}).get("relationships") or {}).get("project")
        if not rel or not rel.get("data"):
            return None
        pid = rel["data"].get("id")
        p = self.projects.get(pid)
        if p is None or p["org"] != org:
            raise ApiError(422, "invalid relationship", f"project {pid} not found",
                           "/data/relationships/project")
        return pid

    def _can_create(self, who: TokenInfo, project: str) -> bool:
        return who.role == "owner" or (who.role == "project-admin" and bool(project))

    def _config_resources(self, data: bytes) -> int:
        count = 0
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                if m.isfile() and m.name.endswith(".tf.json"):
                    f = tar.extractfile(m)
                    doc = json.loads(f.read()) if f else {}
                    for body in (doc.get("resource") or {}).values():
                        count += len(body)
        return count

    def _config_addresses(self, data: bytes, working_directory: str) -> list[str]:
        """Resource addresses of an applied configuration: the root's resources and, through
        local module calls, `module.<name>.<type>.<name>` (what /workspaces/:id/resources lists)."""
        if not data:
            return []
        docs: dict[str, list[dict[str, Any]]] = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                f = tar.extractfile(m) if m.isfile() and m.name.endswith(".tf.json") else None
                if f is not None:
                    d = posixpath.normpath(posixpath.dirname(m.name) or ".")
                    docs.setdefault(d, []).append(json.loads(f.read()))
        found: list[str] = []

        def walk(directory: str, prefix: str, depth: int) -> None:
            for doc in docs.get(directory, []):
                for rtype, body in (doc.get("resource") or {}).items():
                    found.extend(f"{prefix}{rtype}.{name}" for name in body)
                for mname, call in (doc.get("module") or {}).items():
                    src = call.get("source", "") if isinstance(call, dict) else ""
                    if src.startswith(("./", "../")) and depth < 10:
                        walk(posixpath.normpath(posixpath.join(directory, src)),
                             f"{prefix}module.{mname}.", depth + 1)

        walk(posixpath.normpath(working_directory or "."), "", 0)
        return sorted(found)

    def _apply_tag_bindings(self, w: dict[str, Any], data: list[dict[str, Any]]) -> None:
        for b in data:
            attrs = b.get("attributes") or {}
            key = attrs.get("key")
            if not key:
                raise ApiError(422, "invalid attribute", "tag binding key is required")
            w["tags"][key] = attrs.get("value") or ""

    def _tag_docs(self, w: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"id": f"tb-{w['id'][3:]}-{k}", "type": "tag-bindings",
                 "attributes": {"key": k, "value": v, "created-at": w["created-at"]}}
                for k, v in sorted(w["tags"].items())]

    # ---- the run state machine -----------------------------------------------------------

    def _start_run(self, w: dict[str, Any], cv: dict[str, Any], attrs: dict[str, Any],
                   who: TokenInfo) -> dict[str, Any]:
        scripts = self.scripts.get(w["name"]) or []
        script = scripts.pop(0) if scripts else RunScript()
        destroy = bool(attrs.get("is-destroy"))
        if script.changes is not None:
            add, change, dest = script.changes
        elif destroy:
            add, change, dest = 0, 0, w["resource_count"]
        elif cv["sha"] == w["applied_sha"]:
            add, change, dest = 0, 0, 0
        elif w["resource_count"] == 0:
            add, change, dest = max(1, cv["resources"]), 0, 0
        else:
            add, change, dest = 0, 1, 0
        plan_only = bool(attrs.get("plan-only")) or cv["speculative"]
        rid = _id("run")
        plan = {"id": _id("plan"), "status": "pending", "add": add, "change": change,
                "destroy": dest, "has-changes": bool(add or change or dest), "log": _id("log")}
        apply = {"id": _id("apply"), "status": "pending", "add": 0, "change": 0, "destroy": 0,
                 "log": _id("log")}
        self.plans[plan["id"]] = plan
        self.applies[apply["id"]] = apply
        self.logs[plan["log"]] = ""
        self.logs[apply["log"]] = ""
        r = {"id": rid, "workspace": w["id"], "cv": cv["id"], "status": "pending",
             "message": attrs.get("message") or "Queued manually via the Terraform Enterprise API",
             "plan-only": plan_only, "is-destroy": destroy,
             "auto-apply": bool(attrs.get("auto-apply", w["attrs"].get("auto-apply", False))),
             "terraform-version": w["attrs"].get("terraform-version", TERRAFORM_VERSIONS[-1]),
             "created-at": _now(), "timestamps": {"plan-queueable-at": _now()},
             "plan": plan["id"], "apply": apply["id"], "created-by": who.user_id,
             "script": script, "has_changes": plan["has-changes"], "planned": False,
             "confirmable": False, "applied_comment": None, "sha": cv["sha"]}
        self.runs[rid] = r
        w["current_run"] = rid
        return r

    def _set(self, r: dict[str, Any], status: str) -> None:
        r["status"] = status
        r["timestamps"][f"{status.replace('_', '-')}-at"] = _now()
        r["confirmable"] = status in ("planned", "policy_checked") and not r["plan-only"] \
            and r["has_changes"] and not (status == "planned" and r["script"].policy)

    def advance(self, r: dict[str, Any]) -> None:
        """One step of the run's life, taken each time the run is read."""
        st, script = r["status"], r["script"]
        plan, apply = self.plans[r["plan"]], self.applies[r["apply"]]
        if st == "pending":
            self._set(r, "plan_queued")
            plan["status"] = "queued"
        elif st == "plan_queued":
            self._set(r, "planning")
            plan["status"] = "running"
        elif st == "planning":
            r["planned"] = True
            if script.plan_error:
                plan["status"] = "errored"
                self.logs[plan["log"]] = _log("plan", error=script.plan_error)
                self._set(r, "errored")
                return
            plan["status"] = "finished"
            self.logs[plan["log"]] = _log("plan", counts=(plan["add"], plan["change"],
                                                          plan["destroy"]))
            if r["plan-only"] or not r["has_changes"]:
                self._set(r, "planned_and_finished")
            elif script.discard:  # a person discards it before we look again
                self._set(r, "discarded")
            else:
                self._set(r, "planned")
                if r["auto-apply"] and not script.policy:
                    self._set(r, "confirmed")
        elif st == "planned" and script.policy:
            self._set(r, "policy_checking")
        elif st == "policy_checking":
            self._set(r, "policy_checked" if script.policy == "passed" else "policy_override")
        elif st == "confirmed":
            self._set(r, "apply_queued")
            apply["status"] = "queued"
        elif st == "apply_queued":
            self._set(r, "applying")
            apply["status"] = "running"
        elif st == "applying":
            w = self.workspaces[r["workspace"]]
            if script.apply_error:
                apply["status"] = "errored"
                self.logs[apply["log"]] = _log("apply", error=script.apply_error)
                self._set(r, "errored")
                return
            apply.update(status="finished", add=plan["add"], change=plan["change"],
                         destroy=plan["destroy"])
            self.logs[apply["log"]] = _log("apply", counts=(plan["add"], plan["change"],
                                                            plan["destroy"]))
            if r["is-destroy"]:
                w["resource_count"], w["applied_sha"], w["resources"] = 0, None, []
            else:
                w["resource_count"] += plan["add"] - plan["destroy"]
                w["applied_sha"] = r["sha"]
                w["state_version"] = _id("sv")
                w["resources"] = self._config_addresses(
                    self.uploads.get(r["cv"], b""), w["attrs"].get("working-directory") or "")
            self._set(r, "applied")


def _log(phase: str, *, counts: tuple[int, int, int] | None = None,
         error: str | None = None) -> str:
    lines = ["Terraform v1.11.4", "on linux_amd64", "Initializing plugins and modules...", ""]
    if error:
        lines += ["\u2577", f"\u2502 \x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1m{error}\x1b[0m",
                  "\u2502 ", "\u2502   with module.tenant.aws_dynamodb_table.orders,",
                  "\u2502   on ../../modules/tenant-infra/1.0.0/cdk.tf.json line 1:", "\u2575"]
    elif counts is not None:
        add, change, destroy = counts
        if phase == "plan":
            lines.append(f"Plan: {add} to add, {change} to change, {destroy} to destroy.")
        else:
            lines.append(f"Apply complete! Resources: {add} added, {change} changed, "
                         f"{destroy} destroyed.")
    return "\n".join(lines) + "\n"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tfc-standin")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "standin.pem", directory / "standin.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


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
    api.advance(r)
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


# ------------------------------------------------------------------------------------------
# HTTP plumbing
# ------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    api: StandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization")
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        body: Any = None
        if raw and parts.path.startswith("/api/"):
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                return self._reply(400, ApiError(400, "bad request", "invalid JSON").document(),
                                   JSONAPI)
        elif parts.path.startswith("/_archivist/"):
            body = raw
        self.api.requests.append(RecordedRequest(
            method=method, path=parts.path, query=query, body=body, raw_length=len(raw),
            authorization=token, headers={k.lower(): v for k, v in self.headers.items()
                                          if k.lower() != "authorization"}))
        try:
            status, doc, ctype = self.api.handle(method, parts.path, query, body, token)
        except ApiError as exc:
            status, doc, ctype = exc.status, exc.document(), JSONAPI
        self._reply(status, doc, ctype)

    def _reply(self, status: int, doc: Any, ctype: str) -> None:
        payload = doc if isinstance(doc, bytes) else (
            b"" if doc is None else json.dumps(doc).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")
