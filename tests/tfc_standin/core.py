"""The stand-in's state: organizations, projects, workspaces, configuration versions, runs."""

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
from tests.tfc_standin.base import _ROUTES, _id, _now, _NAME_RE
import time
from tests.tfc_standin.runs import RunMachine
from tests.tfc_standin.server import _Handler, _self_signed


class StandIn(RunMachine):
    """The fake API. Use as a context manager; `address` is the base URL to give pytfe."""

    def __init__(self, *, organization: str = "acme-corp", token: str = "standin-token",
                 projects: tuple[str, ...] = ("Default Project", "production"),
                 variable_sets: tuple[str, ...] = ("aws-credentials",),
                 global_variable_sets: tuple[str, ...] = (),
                 agent_pools: tuple[str, ...] = (),
                 max_page_size: int = 100, tls: bool = False,
                 cv_reads_to_process: int = 1, hcp_statuses: bool = False,
                 step_seconds: float | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.lock = threading.RLock()
        self.hcp_statuses = hcp_statuses
        """Every run passes through statuses pytfe 1.5.0 cannot parse (RunMachine)."""
        self.step_seconds = step_seconds
        """None: a run takes one step per read; else one step per this many clock seconds."""
        self.clock: Callable[[], float] = clock or time.monotonic
        self.policy_checks: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
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

    def fail_next(self, method: str, pattern: str, status: int, *, times: int = 1,
                  after_processing: bool = False, retry_after: float | None = None) -> None:
        """Answer the next `times` `method` requests whose path matches `pattern` with `status`
        (429 with `Retry-After` when given); `after_processing` handles the request first."""
        with self.lock:
            self.faults.append(Fault(method=method, pattern=re.compile(pattern), status=status,
                                     times=times, after_processing=after_processing,
                                     retry_after=retry_after))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    return fault
        return None

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
                "source": "tfe-api", "tag-names": sorted(w.get("flat_tags", ())), "trigger-prefixes": [],
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
             "applied_sha": None, "resources": [], "state_version": None, "outputs": {}}
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

    def _config_outputs(self, data: bytes, working_directory: str) -> dict[str, dict[str, Any]]:
        """Outputs of an applied configuration's root: name -> {"value", "sensitive"}. No
        terraform runs, so a value is the output's expression as written (stable while the
        configuration is); `set_output` stands for a change terraform would make."""
        outputs: dict[str, dict[str, Any]] = {}
        if not data:
            return outputs
        root = posixpath.normpath(working_directory or ".")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for m in tar.getmembers():
                name_dir = posixpath.normpath(posixpath.dirname(m.name) or ".")
                f = tar.extractfile(m) if m.isfile() and m.name.endswith(".tf.json") else None
                if f is not None and name_dir == root:
                    for name, body in (json.loads(f.read()).get("output") or {}).items():
                        outputs[name] = {"value": body.get("value"),
                                         "sensitive": bool(body.get("sensitive", False))}
        return outputs

    def set_output(self, org: str, workspace: str, name: str, value: Any) -> None:
        """Change one output of a workspace's current state (as an apply elsewhere would)."""
        w = self.ws_by_name(org, workspace)
        if w["state_version"] is None or name not in w["outputs"]:
            raise KeyError(f"{workspace} has no output {name!r} in a current state")
        w["outputs"][name] = {**w["outputs"][name], "value": value}
        w["state_version"] = _id("sv")

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

