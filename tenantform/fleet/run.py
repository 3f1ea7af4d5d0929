"""A fleet run: detect what changed in the selection, run it in parallel, record the results."""

from __future__ import annotations

import time

from tenantform.errors import TenantformError
from tenantform.fleet.detection import Versions, Work, detect
from tenantform.fleet.locks import run_lock
from tenantform.fleet.outcome import Mode, Outcome
from tenantform.fleet.results import Listener, RunReport, WorkspaceResult, last_run_path, load_last_run, save_last_run
from tenantform.fleet.runner import Runner
from tenantform.fleet.selection import Selection, select_tenants
from tenantform.ledger import ReplaceGuard
from tenantform.module_version import module_dir
from tenantform.names import APPS, LAYERS, workspace_name
from tenantform.project import Project
from tenantform.roots import write_root_text
from tenantform.runners import runner_for
from tenantform.tenant_files import BrokenTenant


def default_parallel(project: Project) -> int:
    return max(1, project.settings.parallelism)


def retry_selection(project: Project, selection: Selection) -> tuple[frozenset[tuple[str, str]], str]:
    """(workspace, tenant) pairs that failed in the last run, or were skipped because of a failure
    or an interrupt, within `selection`; and a description of that run."""
    last = load_last_run(project)
    if last is None:
        raise TenantformError(f"no previous fleet run to retry ({last_run_path(project)} does not exist)")
    chosen = {r["workspace"]: r["tenant"] for r in last.get("results", [])
              if r.get("outcome") in (Outcome.FAILED.value, Outcome.SKIPPED.value) and r.get("layer") in selection.layers
              and (not selection.tenants or r.get("tenant") in selection.tenants)}
    return frozenset(chosen.items()), f"fleet.{last.get('mode', '?')} finished {last.get('finished_at', '?')}"


def run_fleet(project: Project, mode: Mode, selection: Selection, *, parallel: int | None = None,
              force: bool = False, retry_failed: bool = False, listener: Listener | None = None,
              version_overrides: dict[str, str] | None = None, halt_on_failure: bool = False,
              save: bool = True, guard: ReplaceGuard | None = None, override_policy: bool = False) -> RunReport:
    """Detect what changed in the selection, run it in parallel, record and return the results."""
    listener = listener or Listener()
    started = time.monotonic()
    parallel = parallel or default_parallel(project)
    with run_lock(project):
        force_workspaces: frozenset[str] = frozenset()
        retry_of = ""
        if retry_failed:
            failed, retry_of = retry_selection(project, selection)
            known = set(project.registry.ids())
            force_workspaces = frozenset(ws for ws, tenant in failed if tenant in known)
            if not force_workspaces:
                report = RunReport(mode, selection, [], parallel=parallel, retry_of=retry_of,
                                   notes=[f"nothing to retry: no workspace of an existing tenant failed in the "
                                          f"last run ({retry_of})"])
                report.seconds = time.monotonic() - started
                listener.run_finished(report)
                return report
            selection = Selection(tenants=tuple(sorted({tenant for ws, tenant in failed if ws in force_workspaces})),
                                  tier=selection.tier, layers=selection.layers)
        broken: list[BrokenTenant] = []
        tenants = select_tenants(project, selection, broken=broken)
        versions = Versions(project, version_overrides)
        no_cluster = not project.cluster_configured
        plannable = tuple(layer for layer in selection.layers if not (layer == APPS and no_cluster))
        works = detect(project, tenants, plannable, versions=versions,
                       force="drift check" if mode is Mode.DRIFT else ("forced" if force else False),
                       force_workspaces=force_workspaces)
        if retry_failed:
            works = [w for w in works if w.workspace in force_workspaces]
        report = RunReport(mode, selection, [], parallel=parallel, retry_of=retry_of)
        results: dict[str, WorkspaceResult] = {}
        to_run: list[Work] = []
        for work in works:
            if work.reason:
                to_run.append(work)
            else:
                results[work.workspace] = WorkspaceResult(work.workspace, work.tenant.id, work.layer, work.version,
                                                          Outcome.UP_TO_DATE)
        for bad in broken:  # a malformed tenant file fails that tenant only
            for layer in selection.layers:
                results[workspace_name(bad.tenant_id, layer)] = WorkspaceResult(
                    workspace_name(bad.tenant_id, layer), bad.tenant_id, layer, "", Outcome.FAILED,
                    reason="tenant file", message=f"tenant file: {bad.message}", error_class=bad.error_class)
        if APPS in selection.layers and no_cluster:
            # Without a cluster the apps layer cannot be planned: its roots are written (synthesised)
            # for every selected tenant with layer=apps, else for the tenants whose infra layer runs.
            running = {w.tenant.id for w in to_run}
            apps_tenants = tenants if plannable == () else [t for t in tenants if t.id in running]
            for work in detect(project, apps_tenants, (APPS,), versions=versions):
                write_root_text(project.workspace_dir(work.workspace), work.text)
                results[work.workspace] = WorkspaceResult(
                    work.workspace, work.tenant.id, work.layer, work.version, Outcome.SYNTHESISED,
                    reason=work.reason, message="root written; not planned: no cluster configured")
            report.notes.append("apps layer: not planned, no cluster is configured (set tenantform.kubeconfig); "
                                + ("roots written" if plannable == () else
                                   f"roots written for the {len(apps_tenants)} tenant(s) whose infra layer ran"))
        report.detect_seconds = time.monotonic() - started
        listener.run_started(total=len(works), to_run=len(to_run), parallel=parallel, mode=mode)
        if to_run:
            to_run = _prepare(project, to_run, versions, results, listener)
        interrupted = False
        if to_run:
            runner = Runner(project, mode, parallel=parallel, listener=listener, halt_on_failure=halt_on_failure,
                            guard=guard, override_policy=override_policy)
            for result in runner.run(to_run):
                results[result.workspace] = result
            interrupted = runner.interrupted
        report.results = sorted(results.values(), key=lambda r: (r.tenant, LAYERS.index(r.layer)))
        report.seconds = time.monotonic() - started
        if save:
            report.run_file = str(save_last_run(project, report))
    listener.run_finished(report)
    if interrupted:
        raise KeyboardInterrupt
    return report


def _prepare(project: Project, to_run: list[Work], versions: Versions, results: dict[str, WorkspaceResult],
             listener: Listener) -> list[Work]:
    """Make the target usable and the needed module versions present; fail only what cannot run."""
    missing = sorted({w.version for w in to_run if not project.modules_ready(w.version)})
    if missing:
        if versions.current in missing:
            listener.note(f"synthesising tenant module {versions.current} (once per module version)")
            project.ensure_modules(listener.note)
        runnable = []
        for work in to_run:
            if project.modules_ready(work.version):
                runnable.append(work)
                continue
            result = WorkspaceResult(
                work.workspace, work.tenant.id, work.layer, work.version, Outcome.FAILED, reason=work.reason,
                message=(f"module version {work.version} is not synthesised "
                         f"({module_dir(project.settings.out_dir, work.version, work.layer)} is missing) and the "
                         f"sources are now {versions.current}: move the tenant with "
                         f"`invoke fleet.rollout tenants={work.tenant.id}`"))
            results[work.workspace] = result
            listener.workspace_finished(result)
        to_run = runnable
    if not to_run:
        return to_run
    project.target.prepare()
    from tenantform.workflows import platform_deployed

    if not platform_deployed(project):
        raise TenantformError("the platform is not deployed on this target: run `invoke platform.deploy` first")
    runner_for(project).before_fleet_threads()  # local: the CLI config (plugin cache, mirror), once, before the threads
    return to_run
