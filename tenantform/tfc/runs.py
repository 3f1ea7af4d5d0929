"""One remote run, from creation to its final status, read as raw JSON (docs/tfc.md, "Runs").

pytfe 1.5.0 parses a run's status into an enum that lacks real statuses (`force_canceled`,
`post_apply_running`, `post_apply_completed`, `plan_queueable`, and any added later): reading
such a run raises pydantic's ValidationError. So runs, plans and applies are read here as plain
JSON documents through the SDK's transport (its token, TLS settings and tenantform's retry
policy, tenantform/tfc/http.py), and a status is just a string:

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

import ssl

import httpx
from pytfe.errors import ServerError, TFEError
from pytfe.models import RunApplyOptions, RunDiscardOptions

from tenantform.errors import TenantformError
from tenantform.tfc.http import first_line, get_json, post_json
from tenantform.tfc.logs import error_from_log
from tenantform.tfc.models import PlanSummary, RunOutcome, RunProgress

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


def override_soft_failed(tfe: Any, run_id: str) -> str | None:
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


# -- following a run (TfcClient._run) ------------------------------------------------------------
def follow(client: Any, ws: Any, *, cv_id: str | None, message: str, plan_only: bool,
           destroy: bool, on_progress: Callable[[RunProgress], None] | None,
           approve: Callable[[PlanSummary], bool] | None,
           config_sha256: str | None, refresh_only: bool = False,
           override_policy: bool = False) -> RunOutcome:
    """Create the run (idempotently), follow it as raw JSON (tenantform/tfc/runs.py), apply
    it when confirmable and approved, and describe how it ended."""
    s = client.settings
    name = ws.name or ""
    attrs: dict[str, Any] = {"message": message, "is-destroy": destroy, "plan-only": plan_only,
                             "auto-apply": False}
    if refresh_only:
        attrs["refresh-only"] = True
    run = create_run(client.tfe, workspace_id=ws.id, cv_id=cv_id, attributes=attrs,
                     workspace=name, sleep=client._sleep)
    url = s.run_url(name, run.id)
    started = time.monotonic()
    last = None
    decided = False
    overridden = False
    error: str | None = None
    status = run.status
    while True:
        run = read_run(client.tfe, run.id)
        status = run.status
        if status != last and on_progress:
            on_progress(RunProgress(workspace=name, phase="run", status=status, url=url,
                                    run_id=run.id, elapsed=time.monotonic() - started))
        last = status
        if status in FINAL_STATUSES:
            break
        if status == "post_apply_completed":
            apply = read_phase(client.tfe, "applies", run.apply_id)
            if apply is not None and apply.status == "finished":
                break
        if status in NEEDS_OVERRIDE_STATUSES and not overridden:
            what = override_soft_failed(client.tfe, run.id) if override_policy else None
            overridden = True
            if what is None:
                if run.discardable:
                    client.tfe.runs.discard(run.id, RunDiscardOptions(
                        comment="tenantform: policy soft-failed, not overridden"))
                error = (f"policy soft-failed ({status}): run discarded, nothing applied; "
                         "pass --override-policy to override it, or review it in the UI" if
                         not override_policy else
                         f"the run waits for a decision ({status}) this token cannot make: "
                         "override or discard it in the UI")
                status = "policy_soft_failed"
                break
        if run.confirmable and not decided and not plan_only and not refresh_only:
            summary = plan_summary(client, run, destroy)
            if approve is None or approve(summary):
                client.tfe.runs.apply(run.id, RunApplyOptions(comment=message))
            else:
                client.tfe.runs.discard(run.id, RunDiscardOptions(
                    comment="tenantform: plan rejected"))
                error = (f"plan rejected (+{summary.additions} ~{summary.changes} "
                         f"-{summary.destructions}); run discarded")
            decided = True
        if refresh_only and run.confirmable:  # a drift check never applies: its plan is the answer
            outcome = describe_outcome(client, run, name, url, plan_only, destroy, config_sha256,
                                    error=None, status="planned_and_finished",
                                    refresh_only=True)
            if run.discardable:
                client.tfe.runs.discard(run.id, RunDiscardOptions(
                    comment="tenantform: drift check, not applied"))
            return outcome
        if time.monotonic() - started > s.run_timeout:
            return describe_outcome(client, run, name, url, plan_only, destroy, config_sha256,
                                 error=f"still {status} after {s.run_timeout:.0f}s; the run "
                                       "continues remotely", timed_out=True)
        client._sleep(s.poll_interval)
    if status in ("errored", "policy_soft_failed") and error is None:
        error = run_error(client, run, status)
    elif status in ("discarded", "canceled", "force_canceled") and error is None:
        error = f"the run was {status.replace('_', ' ')} (by a person or a policy)"
    return describe_outcome(client, run, name, url, plan_only, destroy, config_sha256, error=error,
                         status=status)

def plan_summary(client: Any, run: Any, destroy: bool) -> PlanSummary:

    plan = read_phase(client.tfe, "plans", run.plan_id)
    return PlanSummary(additions=plan.additions if plan else 0,
                       changes=plan.changes if plan else 0,
                       destructions=plan.destructions if plan else 0,
                       is_destroy=destroy, replaced=replaced(client, run.plan_id))

def replaced(client: Any, plan_id: str | None) -> tuple[str, ...]:
    """Addresses the plan replaces or deletes (from its JSON output; () when unavailable)."""

    if not plan_id:
        return ()
    try:
        doc = get_json(client.tfe, f"/api/v2/plans/{plan_id}/json-output")
    except (TFEError, ValueError):
        return ()
    found = []
    for change in doc.get("resource_changes") or []:
        actions = (change.get("change") or {}).get("actions") or []
        if "delete" in actions and change.get("address"):
            kind = "replace" if "create" in actions else "delete"
            found.append(f"{kind} {change['address']}")
    return tuple(found)

def drifted(client: Any, plan_id: str | None) -> tuple[str, ...]:
    """Addresses changed outside terraform (the plan's `resource_drift`)."""

    if not plan_id:
        return ()
    try:
        doc = get_json(client.tfe, f"/api/v2/plans/{plan_id}/json-output")
    except (TFEError, ValueError):
        return ()
    return tuple(sorted(d["address"] for d in doc.get("resource_drift") or [] if d.get("address")))

def describe_outcome(client: Any, run: Any, name: str, url: str, plan_only: bool, destroy: bool,
             config_sha256: str | None, *, error: str | None,
             timed_out: bool = False, status: str | None = None,
             refresh_only: bool = False) -> RunOutcome:

    plan = read_phase(client.tfe, "plans", run.plan_id)
    status = status or run.status
    applied = status in ("applied", "post_apply_completed")
    apply = read_phase(client.tfe, "applies", run.apply_id) if applied else None
    counts = apply if apply is not None else plan
    has_changes = bool(run.has_changes or (plan is not None and plan.has_changes))
    return RunOutcome(
        workspace=name, run_id=run.id, status="applied" if applied else status, url=url,
        plan_only=plan_only, is_destroy=destroy, has_changes=has_changes,
        additions=counts.additions if counts else 0,
        changes=counts.changes if counts else 0,
        destructions=counts.destructions if counts else 0,
        applied=applied, error=error, timed_out=timed_out,
        config_sha256=config_sha256,
        replaced=replaced(client, run.plan_id) if has_changes and not applied else (),
        drifted=drifted(client, run.plan_id) if has_changes and refresh_only else ())

def run_error(client: Any, run: Any, status: str) -> str:
    """The error of an errored run: a failed policy, else the apply log, else the plan log."""

    policy = policy_failure(client.tfe, run.id)
    if policy:
        return policy
    phases = [("apply", read_phase(client.tfe, "applies", run.apply_id)),
              ("plan", read_phase(client.tfe, "plans", run.plan_id))]
    for phase, obj in phases:
        if obj is None or (obj.status != "errored" and status != "policy_soft_failed"):
            continue
        if obj.log_read_url:
            text = error_from_log(read_run_log(client, obj.log_read_url))
            if text:
                return text
        return f"{phase} {obj.status} (no Error: lines in its log)"
    return f"run {status}"

def read_run_log(client: Any, url: str) -> str:

    verify: ssl.SSLContext | bool = True
    if client.settings.ca_bundle:
        verify = ssl.create_default_context(cafile=client.settings.ca_bundle)
    return read_log(url, verify=verify)
