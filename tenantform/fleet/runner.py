"""The fleet's executor: a thread pool of terraform process chains, one chain per tenant."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Sequence

from tenantform.errors import TenantformError
from tenantform.fleet.detection import Work
from tenantform.fleet.events import drifted_resources
from tenantform.fleet.locks import init_lock
from tenantform.fleet.outcome import Mode, Outcome
from tenantform.fleet.results import Listener, WorkspaceResult
from tenantform.ledger import ReplaceGuard
from tenantform.names import LAYERS
from tenantform.project import Project
from tenantform.records import Record
from tenantform.roots import write_root_text
from tenantform.targets import TargetKind
from tenantform.terraform import Result, terraform_processes_in


def _raise_interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise KeyboardInterrupt


class Runner:
    """Runs the workspaces that must run: a thread pool of terraform process chains."""

    def __init__(self, project: Project, mode: Mode, *, parallel: int, listener: Listener,
                 halt_on_failure: bool = False, guard: ReplaceGuard | None = None,
                 override_policy: bool = False) -> None:
        self.project = project
        self.guard = guard or ReplaceGuard()
        self.override_policy = override_policy
        self.mode = mode
        self.parallel = max(1, parallel)
        self.listener = listener
        self.halt_on_failure = halt_on_failure
        self.halted = threading.Event()
        self.interrupted = False
        self.running: dict[str, None] = {}
        self.init_lock = init_lock(project)

    def run(self, works: Sequence[Work]) -> list[WorkspaceResult]:
        by_tenant: dict[str, list[Work]] = {}
        for work in works:
            by_tenant.setdefault(work.tenant.id, []).append(work)
        jobs = list(by_tenant.values())
        results: list[WorkspaceResult] = []
        previous = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM stops a run as Ctrl-C does
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            self._run_jobs(jobs, results)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        return results

    def _run_jobs(self, jobs: list[list[Work]], results: list[WorkspaceResult]) -> None:
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="fleet") as pool:
            pending: set[Future[list[WorkspaceResult]]] = set()
            queue = iter(jobs)
            for job in queue:
                pending.add(pool.submit(self._tenant_chain, job))
                if len(pending) >= self.parallel:
                    break
            while pending:
                try:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    self._interrupt()
                    done, pending = wait(pending).done, set()
                for future in done:
                    results += future.result()
                for job in queue:
                    if self.halted.is_set():
                        results += [self._skip(w, self.halt_reason) for w in job]
                        continue
                    pending.add(pool.submit(self._tenant_chain, job))
                    if len(pending) >= self.parallel:
                        break

    halt_reason = "not started: the rollout halted at the first failure"

    def _interrupt(self) -> None:
        """Ctrl-C: start nothing more, and ask the running terraform processes to stop cleanly
        (SIGINT: they finish the operations in flight, write the state and release its lock)."""
        self.halted.set()
        self.halt_reason = "not started: the run was interrupted"
        self.interrupted = True
        self.listener.note("interrupted: stopping the running terraform processes cleanly; nothing new starts")
        for workspace in list(self.running):
            for pid in terraform_processes_in(self.project.workspace_dir(workspace)):
                try:
                    os.kill(pid, signal.SIGINT)
                except OSError:
                    pass

    def _skip(self, work: Work, message: str) -> WorkspaceResult:
        result = WorkspaceResult(work.workspace, work.tenant.id, work.layer, work.version, Outcome.SKIPPED,
                                 reason=work.reason, message=message)
        self.listener.workspace_finished(result)
        return result

    def _tenant_chain(self, works: list[Work]) -> list[WorkspaceResult]:
        results = []
        for work in sorted(works, key=lambda w: LAYERS.index(w.layer)):  # infra before apps
            if results and results[-1].outcome is Outcome.FAILED:
                results.append(self._skip(work, f"not run: {results[-1].workspace} failed"))
                continue
            if self.halted.is_set():
                results.append(self._skip(work, self.halt_reason))
                continue
            self.listener.workspace_started(work)
            self.running[work.workspace] = None
            try:
                result = self._run_workspace(work)
            finally:
                self.running.pop(work.workspace, None)
            if result.outcome is Outcome.FAILED and self.halt_on_failure:
                self.halted.set()
            self.listener.workspace_finished(result)
            results.append(result)
        return results

    def _run_workspace(self, work: Work) -> WorkspaceResult:
        if self.project.settings.target is TargetKind.TFC:
            return self._run_remote(work)
        started = time.monotonic()
        result = WorkspaceResult(work.workspace, work.tenant.id, work.layer, work.version, Outcome.FAILED,
                                 reason=work.reason)
        log_dir = self.project.settings.work_dir / "logs" / work.workspace
        step = "render"
        try:
            write_root_text(self.project.workspace_dir(work.workspace), work.text)
            tf = self.project.terraform(work.workspace)
            step = "init"
            with self.init_lock:
                tf.init()
            step = "plan"
            result.planned = True
            plan = tf.plan()
            self._take_plan(result, plan)
            result.log = str(plan.log)
            if self.mode is Mode.DRIFT:
                result.drifted = drifted_resources(plan.stdout)
                if result.drifted:
                    result.outcome = Outcome.DRIFTED
                elif plan.changes.any:
                    result.outcome = Outcome.CHANGES
                    result.message = ("no drift; changes pending: " +
                                      ("the root changed since the last apply" if work.reason != "drift check" else
                                       "what the root reads (platform outputs, data sources) changed"))
                else:
                    result.outcome = Outcome.IN_SYNC
            elif not plan.changes.any:
                result.outcome = Outcome.NO_CHANGES
                self.record_applied(work, result, resources=work.previous.resources if work.previous else 0)
            elif self.mode is Mode.PLAN:
                result.outcome = Outcome.CHANGES
            elif refusal := self.guard.refusal(result.actions):
                result.outcome, result.message = Outcome.REFUSED, refusal
            else:
                step = "apply"
                apply = tf.apply()
                result.log = str(apply.log)
                if apply.changes.any:
                    result.add, result.change, result.remove = (apply.changes.add, apply.changes.change,
                                                                apply.changes.remove)
                result.outcome = Outcome.APPLIED
                self.record_applied(work, result, resources=len(tf.state_list()))
        except Exception as exc:  # noqa: BLE001 - one workspace's failure must not stop the fleet
            result.outcome = Outcome.FAILED
            result.error_class = type(exc).__name__
            first = str(exc).strip().splitlines()
            detail = [line.strip() for line in first[1:] if line.strip()]
            result.message = (f"{step}: " + (detail[0] if detail else (first[0] if first else type(exc).__name__)))
            if not isinstance(exc, TenantformError):
                result.message = f"{step}: {type(exc).__name__}: {exc}"
            if self.interrupted:
                result.message = f"{step}: interrupted"
            log = log_dir / f"{step}.log"
            result.log = str(log) if log.is_file() else result.log
            if self.mode is Mode.APPLY and step != "render":
                self.project.records.put(Record(workspace=work.workspace, status="failed",
                                                module_version=work.version, log=result.log,
                                                message=result.message[:500]))
        result.seconds = time.monotonic() - started
        return result

    @staticmethod
    def _take_plan(result: WorkspaceResult, plan: Result) -> None:
        result.add, result.change, result.remove = plan.changes.add, plan.changes.change, plan.changes.remove
        result.actions = [f"{action} {address}" for action, address in plan.changes.actions if action != "read"]

    def record_applied(self, work: Work, result: WorkspaceResult, *, resources: int) -> None:
        self.project.records.put(Record(workspace=work.workspace, status="applied", fingerprint=work.fingerprint,
                                        module_version=work.version, resources=resources, log=result.log))

    # -- the tfc target: one remote run per workspace instead of local terraform --------------------------
    def _run_remote(self, work: Work) -> WorkspaceResult:
        """On the tfc target each workspace is one remote run (tenantform/fleet_remote.py)."""
        from tenantform.fleet_remote import run_remote  # only the tfc target talks to HCP Terraform

        return run_remote(self, work)
