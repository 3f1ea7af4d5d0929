"""One remote run, from creation to its final status, read as raw JSON (README.md, "The `tfc` target", "Runs").

pytfe 1.5.0 parses a run's status into an enum that lacks real statuses (`force_canceled`,
`post_apply_running`, `post_apply_completed`, `plan_queueable`, and any added later): reading
such a run raises pydantic's ValidationError. So runs, plans and applies are read here as plain
JSON documents through the SDK's transport (its token, TLS settings and tenantform's retry
policy, tenantform/tfc_http.py), and a status is just a string:

- final and successful: `applied`, `planned_and_finished`, `planned_and_saved`, and
  `post_apply_completed` once the apply phase has finished;
- final and failed: `errored`, `discarded`, `canceled`, `force_canceled`, `policy_soft_failed`;
- waiting for a policy decision (`policy_override`, `tf_policy_override`,
  `post_plan_awaiting_decision`): overridden with the policy-check (or task-stage) override
  action when the caller allows it (`override_policy`), else discarded (it would block the
  workspace's queue) and reported as `policy_soft_failed`; a hard-failed policy errors the run;
- anything else, known or not: still running, until a final status or `run_timeout`.

A run is applied when the API says it is confirmable (`actions.is-confirmable`), whatever the
status is called, and the caller's `approve` accepts the plan.

Creating a run is made idempotent: the POST is never retried blindly (a 502 may come after the
run was created); after a failed attempt the workspace's runs are searched for one on the same
configuration version with the same message, created since we started, and that run is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pytfe.errors import ServerError, TFEError

from tenantform.errors import TenantformError
from tenantform.tfc_http import first_line, get_json, post_json

SUCCESS_STATUSES = frozenset({"applied", "planned_and_finished", "planned_and_saved"})
FAILED_STATUSES = frozenset({"errored", "discarded", "canceled", "force_canceled", "policy_soft_failed"})
FINAL_STATUSES = SUCCESS_STATUSES | FAILED_STATUSES
NEEDS_OVERRIDE_STATUSES = frozenset({"policy_override", "tf_policy_override", "post_plan_awaiting_decision"})
CREATE_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True)
class RunView:
    """The fields of a run document tenantform uses; `status` is any string the API sends."""

    id: str
    status: str
    message: str
    has_changes: bool
    confirmable: bool
    discardable: bool
    plan_id: str | None
    apply_id: str | None
    cv_id: str | None

    @classmethod
    def from_doc(cls, data: dict[str, Any]) -> RunView:
        attrs = data.get("attributes") or {}
        rels = data.get("relationships") or {}
        actions = attrs.get("actions") or {}

        def rel(name: str) -> str | None:
            return ((rels.get(name) or {}).get("data") or {}).get("id")

        return cls(id=str(data.get("id")), status=str(attrs.get("status") or "unknown"),
                   message=str(attrs.get("message") or ""), has_changes=bool(attrs.get("has-changes")),
                   confirmable=bool(actions.get("is-confirmable")),
                   discardable=bool(actions.get("is-discardable")),
                   plan_id=rel("plan"), apply_id=rel("apply"), cv_id=rel("configuration-version"))


@dataclass(frozen=True, kw_only=True)
class Phase:
    """A plan or an apply: status and resource counts."""

    status: str
    additions: int
    changes: int
    destructions: int
    has_changes: bool
    log_read_url: str | None


def read_run(tfe: Any, run_id: str) -> RunView:
    return RunView.from_doc(get_json(tfe, f"/api/v2/runs/{run_id}").get("data") or {})


def read_phase(tfe: Any, kind: str, phase_id: str | None) -> Phase | None:
    """`kind` is "plans" or "applies"."""
    if not phase_id:
        return None
    attrs = (get_json(tfe, f"/api/v2/{kind}/{phase_id}").get("data") or {}).get("attributes") or {}
    return Phase(status=str(attrs.get("status") or "unknown"),
                 additions=int(attrs.get("resource-additions") or 0),
                 changes=int(attrs.get("resource-changes") or 0),
                 destructions=int(attrs.get("resource-destructions") or 0),
                 has_changes=bool(attrs.get("has-changes")), log_read_url=attrs.get("log-read-url"))


def runs_on(tfe: Any, workspace_id: str, cv_id: str, message: str) -> list[RunView]:
    """Runs of the workspace on configuration version `cv_id` with `message`, newest first."""
    doc = get_json(tfe, f"/api/v2/workspaces/{workspace_id}/runs", params={"page[size]": 50})
    runs = [RunView.from_doc(d) for d in doc.get("data") or []]
    return [r for r in runs if r.cv_id == cv_id and r.message == message]


def create_run(tfe: Any, *, workspace_id: str, cv_id: str | None, attributes: dict[str, Any],
               workspace: str, sleep: Callable[[float], None] = time.sleep) -> RunView:
    """POST a run at most once per attempt; before a retry, adopt the run the failed attempt made."""
    body: dict[str, Any] = {"data": {"type": "runs", "attributes": attributes, "relationships": {
        "workspace": {"data": {"type": "workspaces", "id": workspace_id}}}}}
    if cv_id is not None:
        body["data"]["relationships"]["configuration-version"] = {
            "data": {"type": "configuration-versions", "id": cv_id}}
    message = str(attributes.get("message") or "")
    before = {r.id for r in runs_on(tfe, workspace_id, cv_id, message)} if cv_id else set()
    last: Exception | None = None
    for attempt in range(CREATE_ATTEMPTS):
        if attempt and cv_id is not None:
            made = [r for r in runs_on(tfe, workspace_id, cv_id, message) if r.id not in before]
            if made:
                return made[0]
        try:
            return RunView.from_doc(post_json(tfe, "/api/v2/runs", body).get("data") or {})
        except ServerError as exc:  # 5xx or a transport error: the run may exist now
            last = exc
            sleep(min(5.0, 0.5 * 2 ** attempt))
    raise TenantformError(f"{workspace}: cannot create run: {first_line(last or Exception('unknown'))}")


def override_policy(tfe: Any, run_id: str) -> str | None:
    """Override the run's soft-failed policy check (or a task stage awaiting override).
    Returns what was overridden, or None when there was nothing the token may override."""
    checks = get_json(tfe, f"/api/v2/runs/{run_id}/policy-checks").get("data") or []
    for check in checks:
        attrs = check.get("attributes") or {}
        if attrs.get("status") == "soft_failed" and (attrs.get("actions") or {}).get("is-overridable", True):
            post_json(tfe, f"/api/v2/policy-checks/{check['id']}/actions/override")
            return f"policy check {check['id']}"
    try:
        stages = get_json(tfe, f"/api/v2/runs/{run_id}/task-stages").get("data") or []
    except TFEError:
        stages = []
    for stage in stages:
        if (stage.get("attributes") or {}).get("status") == "awaiting_override":
            post_json(tfe, f"/api/v2/task-stages/{stage['id']}/actions/override",
                      {"comment": "tenantform: overridden (--override-policy)"})
            return f"task stage {stage['id']}"
    return None


def policy_failure(tfe: Any, run_id: str) -> str | None:
    """`policy hard-failed` / `soft-failed` when a policy check of the run failed, else None."""
    try:
        checks = get_json(tfe, f"/api/v2/runs/{run_id}/policy-checks").get("data") or []
    except TFEError:
        return None
    for check in checks:
        status = str((check.get("attributes") or {}).get("status") or "")
        if status in ("hard_failed", "soft_failed", "errored"):
            return f"policy check {status.replace('_', '-')} ({check.get('id')})"
    return None


def read_log(url: str, *, verify: Any) -> str:
    """A pre-signed archivist log URL, fetched without the API token."""
    try:
        resp = httpx.get(url, timeout=30, follow_redirects=True, verify=verify)
        resp.raise_for_status()
    except httpx.HTTPError as exc:
        return f"Error: could not read the run log ({exc})"
    return resp.text
