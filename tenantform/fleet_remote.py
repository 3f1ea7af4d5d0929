"""`fleet` on the tfc target: each workspace that must run is one remote run instead of local terraform.

The same outcomes and records as `Runner._run_workspace` (tenantform/fleet.py), from a remote run
(`tfc_target.run_layer`: ensure the workspace, upload the root, run, apply when acceptable): no
init and no init lock; the run URL is the workspace's log; `fleet.drift` is a refresh-only run
that is never applied; a plan that destroys resources is applied only when the run allows it
(`--allow-replace`), else the run is discarded and the workspace is `refused`.
"""

from __future__ import annotations

import time

from tenantform.errors import TenantformError
from tenantform.fleet import Mode, Outcome, Runner, Work, WorkspaceResult, write_root_text
from tenantform.names import APPS
from tenantform.records import Record


def run_remote(runner: Runner, work: Work) -> WorkspaceResult:
    """`Runner._run_workspace` on the tfc target (see the module docstring)."""
    from tenantform import tfc_target  # only this target talks to HCP Terraform

    target = runner.project.target
    assert isinstance(target, tfc_target.TfcTarget)
    started = time.monotonic()
    result = WorkspaceResult(work.workspace, work.tenant.id, work.layer, work.version, Outcome.FAILED,
                             reason=work.reason)
    step = "render"
    try:
        write_root_text(runner.project.workspace_dir(work.workspace), work.text)
        if work.layer == APPS and not target.tfc.enable_kubernetes_runs:
            result.outcome = Outcome.SYNTHESISED
            result.message = "root written; not run: tfc.enable_kubernetes_runs is false"
            return result
        plan_only = runner.mode is Mode.PLAN or target.tfc.plan_only
        step = "run"
        result.planned = True
        outcome = tfc_target.run_layer(
            runner.project, work.tenant, work.layer, work.version, plan_only=plan_only, say=lambda message: remote_note(runner, message),
            refresh_only=runner.mode is Mode.DRIFT, override_policy=runner.override_policy,
            approve=tfc_target.guarded(runner.guard) if runner.mode is Mode.APPLY else None)
        result.log = outcome.url
        result.add, result.change, result.remove = outcome.additions, outcome.changes, outcome.destructions
        result.actions = list(outcome.replaced)
        if runner.mode is Mode.DRIFT:  # a refresh-only run: drift of the real resources against the state
            result.drifted = list(outcome.drifted)
            result.outcome = Outcome.DRIFTED if outcome.has_changes else Outcome.IN_SYNC
        elif not outcome.has_changes:
            result.outcome = Outcome.NO_CHANGES
            runner.record_applied(work, result, resources=work.previous.resources if work.previous else 0)
        elif not outcome.applied:  # fleet.plan, or tfc.plan_only: a speculative plan
            result.outcome = Outcome.CHANGES
        else:
            result.outcome = Outcome.APPLIED
            ws = target.tfc_client().read_workspace(work.workspace)
            runner.record_applied(work, result, resources=(ws.resource_count or 0) if ws else 0)
    except Exception as exc:  # noqa: BLE001 - one workspace's failure must not stop the fleet
        result.outcome = Outcome.FAILED
        result.error_class = type(exc).__name__
        run = getattr(exc, "outcome", None)  # RemoteRunFailed: the run's error and URL
        result.log = run.url if run is not None else result.log
        if run is not None and run.replaced:
            result.actions = list(run.replaced)
        if run is not None and str(run.error or "").startswith("refused: "):
            result.outcome = Outcome.REFUSED
        text = " ".join(str(exc).split())
        result.message = f"{step}: {text}" if isinstance(exc, TenantformError) else \
            f"{step}: {type(exc).__name__}: {text}"
        if runner.mode is Mode.APPLY and step != "render":
            runner.project.records.put(Record(workspace=work.workspace, status="failed",
                                            module_version=work.version, log=result.log,
                                            message=result.message[:500]))
    finally:
        result.seconds = time.monotonic() - started
    return result

def remote_note(runner: Runner, message: str) -> None:
    """Of run_layer's progress, show the run URL and workspace changes; the status lines are noise
    with many runs at once (the workspace's line and the summary carry the outcome)."""
    if message.partition(": ")[2].startswith(("run http", "created workspace", "updated workspace")):
        runner.listener.note(message)
