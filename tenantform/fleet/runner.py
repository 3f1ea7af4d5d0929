"""The fleet's executor: a thread pool of terraform process chains, one chain per tenant."""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Sequence

from tenantform.fleet.detection import Work
from tenantform.fleet.locks import init_lock
from tenantform.fleet.outcome import Mode, Outcome
from tenantform.fleet.results import Listener, WorkspaceResult
from tenantform.ledger import ReplaceGuard
from tenantform.names import LAYERS
from tenantform.project import Project
from tenantform.runners import runner_for
from tenantform.terraform import raise_interrupt, terraform_processes_in


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
        self.backend = runner_for(project)
        """Runs each workspace: local terraform or HCP Terraform remote runs (tenantform/runners/)."""

    def run(self, works: Sequence[Work]) -> list[WorkspaceResult]:
        by_tenant: dict[str, list[Work]] = {}
        for work in works:
            by_tenant.setdefault(work.tenant.id, []).append(work)
        jobs = list(by_tenant.values())
        results: list[WorkspaceResult] = []
        previous = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM stops a run as Ctrl-C does
            previous = signal.signal(signal.SIGTERM, raise_interrupt)
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
        return self.backend.run_fleet_workspace(self, work)
