"""Fleet operations: plan, apply, drift checks and module rollouts over many tenant workspaces.

A run goes in two phases:

1. Detection, in this process, without terraform: select tenants (all, `tenants=a,b`, `tier=`,
   `layer=`), render each selected workspace's root (about a millisecond) and compare its
   fingerprint (root JSON + module version) with the workspace's record. A workspace whose record
   says it was applied with exactly this root is up to date and is not planned.
2. Execution of what changed (or of everything, for drift checks and `--force`): a bounded thread
   pool runs one terraform process chain per tenant (infra, then apps), with `terraform init`
   serialised over the shared plugin cache (the cache is not safe for concurrent init:
   hashicorp/terraform#31964), each command under `-lock-timeout` and logged to
   `.tenantform/logs/<workspace>/<command>.log`. One workspace's failure is recorded and the others
   go on. The run's results are kept in `.tenantform/fleet/last-run.json` (for `--retry-failed`).
   On the tfc target each workspace is one remote run instead (`tfc_target.run_layer`: no local
   terraform, no init lock; the run URL is the log); detection, records, failure isolation and the
   summary are the same; `fleet.drift` starts refresh-only runs, which are never applied.

Module versions: a tenant runs the module version its infra record names (the version its last
run used) and keeps rendering with it until a rollout moves it; a tenant that never ran gets the
current version. A rollout (`.tenantform/fleet/rollout.json`) moves the selected tenants to one
version in waves: a canary wave, then waves of a fixed size, one wave per invocation by default,
never past a wave with failures.

No CDKTF import here: the only synthesis is `Project.ensure_modules()`, a child process, and only
when a workspace that must run needs the current module version and it was never synthesised.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

from tenantform.errors import InvalidInput, TenantformError
from tenantform.ledger import ReplaceGuard
from tenantform.module_version import module_dir
from tenantform.names import APPS, INFRA, LAYERS, layers_of, workspace_name
from tenantform.project import Project
from tenantform.records import Record
from tenantform.roots import ROOT_FILE, dumps
from tenantform.targets import TargetKind
from tenantform.tenant import Tenant, validate_tenant_id
from tenantform.tenant_files import BrokenTenant, load_each
from tenantform.terraform import Result, terraform_processes_in
from tenantform.tiers import Tier

FLEET_DIR = "fleet"
LAST_RUN_FILE = "last-run.json"
ROLLOUT_FILE = "rollout.json"
TIER_ORDER = {tier: index for index, tier in enumerate(Tier)}  # rollouts go basic first, platinum last


class Mode(str, enum.Enum):
    PLAN = "plan"
    APPLY = "apply"
    DRIFT = "drift"

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    UP_TO_DATE = "up to date"
    """Not planned: root, inputs and module version are those of the last successful apply."""
    NO_CHANGES = "no changes"
    """Planned: terraform has nothing to do (the record is brought up to date)."""
    CHANGES = "changes"
    """Planned (plan only): terraform would change something."""
    APPLIED = "applied"
    IN_SYNC = "in sync"
    """Drift check: the real resources match the state and the configuration."""
    DRIFTED = "drifted"
    """Drift check: resources changed outside terraform and terraform would change them back."""
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run: the tenant's infra layer failed first, or a halted rollout stopped the wave."""
    SYNTHESISED = "synthesised"
    """Root written, not planned: an apps workspace without a configured cluster."""
    REFUSED = "refused"
    """Planned, not applied: the plan destroys or replaces a stateful resource (tenantform/ledger.py)
    and the run did not allow it (`--allow-replace`)."""

    def __str__(self) -> str:
        return self.value


CHANGED = (Outcome.CHANGES, Outcome.APPLIED, Outcome.DRIFTED)
UNCHANGED = (Outcome.UP_TO_DATE, Outcome.NO_CHANGES, Outcome.IN_SYNC)


# -- selection -----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which tenants and layers a fleet command covers. Empty `tenants` means every tenant."""

    tenants: tuple[str, ...] = ()
    tier: Tier | None = None
    layers: tuple[str, ...] = LAYERS

    def describe(self) -> str:
        parts = [f"tenants={','.join(self.tenants)}" if self.tenants else "all tenants"]
        if self.tier is not None:
            parts.append(f"tier={self.tier.value}")
        parts.append("layer=" + ("all" if self.layers == LAYERS else ",".join(self.layers)))
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"tenants": list(self.tenants), "tier": self.tier.value if self.tier else None,
                "layers": list(self.layers)}


ALLOWED_LAYERS = "infra, apps or all"


def parse_selection(*, tenants: str | Sequence[str] | None = None, tier: str | None = None,
                    layer: str | None = None) -> Selection:
    """Validate `tenants=a,b`, `tier=premium`, `layer=infra|apps|all` words into a Selection."""
    if isinstance(tenants, str):
        ids = [part.strip() for part in tenants.split(",") if part.strip()]
    else:
        ids = list(tenants or [])
    seen: dict[str, None] = {}
    for tenant_id in ids:
        seen[validate_tenant_id(tenant_id, source="argument tenants")] = None
    chosen_tier = None
    if tier not in (None, ""):
        try:
            chosen_tier = Tier(str(tier).strip())
        except ValueError:
            raise InvalidInput(field="tier", problem=f"is {tier!r}", allowed=", ".join(t.value for t in Tier),
                               source="argument tier") from None
    layers = LAYERS
    if layer not in (None, "", "all"):
        if layer not in LAYERS:
            raise InvalidInput(field="layer", problem=f"is {layer!r}", allowed=ALLOWED_LAYERS,
                               source="argument layer")
        layers = (str(layer),)
    return Selection(tenants=tuple(seen), tier=chosen_tier, layers=layers)


def select_tenants(project: Project, selection: Selection, *, broken: list[BrokenTenant] | None = None) -> list[Tenant]:
    """The selected tenants, sorted by id. Unknown ids are an error naming them (nothing runs).

    With a `broken` list, a malformed tenant file is appended there instead of stopping the load."""
    if selection.tenants:
        known = set(project.registry.ids())
        unknown = [t for t in selection.tenants if t not in known]
        if unknown:
            raise InvalidInput(field="tenants", problem=f"names unknown tenant(s) {', '.join(unknown)}",
                               allowed="ids of files in tenants/ (" + (", ".join(sorted(known)[:20]) or "none")
                               + (", ..." if len(known) > 20 else "") + ")", source="argument tenants")
        if broken is None:
            tenants = [project.registry.get(t) for t in sorted(selection.tenants)]
        else:
            tenants, bad = load_each(project.registry, selection.tenants)
            broken += bad
    elif broken is not None:
        tenants, bad = load_each(project.registry)
        broken += bad
    else:
        tenants = project.registry.all()
    if selection.tier is not None:
        tenants = [t for t in tenants if t.tier is selection.tier]
    return tenants


# -- change detection ------------------------------------------------------------------------------------
def root_text_and_fingerprint(doc: dict[str, Any], version: str) -> tuple[str, str]:
    """The root's file text and its fingerprint (identical to `roots.fingerprint`), serialised once."""
    text = dumps(doc)
    return text, hashlib.sha256((text + version).encode()).hexdigest()


def change_reason(record: Record | None, *, fingerprint: str, version: str, platform: str = "") -> str:
    """Why a workspace must be planned; "" when it is up to date with its last successful apply.

    `platform` is the digest of the platform outputs the root reads, now (tenantform/platform_inputs.py);
    it counts only when both it and the record's are known."""
    if record is None:
        return "never applied"
    if record.status != "applied":
        return f"last run {record.status}"
    if record.module_version != version:
        return f"module {record.module_version or '?'} -> {version}"
    if record.fingerprint != fingerprint:
        return "root or inputs changed"
    if platform and record.platform and record.platform != platform:
        return "platform outputs it reads changed"
    return ""


@dataclass(frozen=True)
class Work:
    """One selected workspace, rendered, with why it runs ("" = up to date)."""

    tenant: Tenant
    layer: str
    workspace: str
    version: str
    text: str
    fingerprint: str
    reason: str
    previous: Record | None = None


class Versions:
    """Which module version each tenant renders with: an override (a rollout's target), else the
    version its infra record names, else the current version (computed once, when first needed)."""

    def __init__(self, project: Project, overrides: dict[str, str] | None = None) -> None:
        self.project = project
        self.overrides = dict(overrides or {})
        self._current: str | None = None

    @property
    def current(self) -> str:
        if self._current is None:
            self._current = self.project.module_version()
        return self._current

    def of(self, tenant_id: str, infra_record: Record | None = None) -> str:
        if tenant_id in self.overrides:
            return self.overrides[tenant_id]
        if infra_record is not None and infra_record.module_version:
            return infra_record.module_version
        return self.current


def detect(project: Project, tenants: Sequence[Tenant], layers: Sequence[str], *, versions: Versions,
           force: bool | str = False, force_workspaces: frozenset[str] = frozenset()) -> list[Work]:
    """Render every selected workspace and decide which must run. Pure Python: no terraform.

    `force` (True, or the reason to show) runs up-to-date workspaces too; `force_workspaces` only those.
    """
    works = []
    for tenant in tenants:
        records = {layer: project.records.get(workspace_name(tenant.id, layer))
                   for layer in LAYERS if layer in layers or layer == INFRA}
        version = versions.of(tenant.id, records[INFRA])
        for layer in layers_of(project.platform.deployment_of(tenant.tier)):  # a pooled tenant: infra only
            if layer not in layers:
                continue
            workspace = workspace_name(tenant.id, layer)
            record = records[layer]
            text, print_ = root_text_and_fingerprint(project.render_root(tenant, layer, version), version)
            reason = change_reason(record, fingerprint=print_, version=version,
                                   platform=project.records.platform_digest(text) if record else "")
            if not reason and (force or workspace in force_workspaces):
                reason = force if isinstance(force, str) else "forced"
            works.append(Work(tenant, layer, workspace, version, text, print_, reason, record))
    return works


# -- results ------------------------------------------------------------------------------------------------
@dataclass
class WorkspaceResult:
    workspace: str
    tenant: str
    layer: str
    version: str
    outcome: Outcome
    reason: str = ""
    planned: bool = False
    """terraform plan ran (or started) for this workspace."""
    add: int = 0
    change: int = 0
    remove: int = 0
    drifted: list[str] = field(default_factory=list)
    """Drift checks: addresses changed outside terraform that terraform would change back."""
    actions: list[str] = field(default_factory=list)
    log: str = ""
    message: str = ""
    seconds: float = 0.0
    error_class: str = ""
    """Class of the error that failed the workspace (TerraformFailed, TfcError, ServerError, ...)."""

    @property
    def changes(self) -> str:
        return f"+{self.add} ~{self.change} -{self.remove}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WorkspaceResult":
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["outcome"] = Outcome(data["outcome"])
        return cls(**data)


@dataclass
class RunReport:
    mode: Mode
    selection: Selection
    results: list[WorkspaceResult]
    parallel: int = 1
    seconds: float = 0.0
    detect_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    retry_of: str = ""
    run_file: str = ""

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome in outcomes)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "selected": len(self.results),
            "planned": sum(1 for r in self.results if r.planned),
            "changed": self.count(*CHANGED),
            "unchanged": self.count(*UNCHANGED),
            "failed": self.count(Outcome.FAILED),
            "skipped": self.count(Outcome.SKIPPED),
            "synthesised": self.count(Outcome.SYNTHESISED),
        }

    @property
    def failed(self) -> list[WorkspaceResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.count(Outcome.REFUSED)

    @property
    def drifted(self) -> list[WorkspaceResult]:
        return [r for r in self.results if r.outcome is Outcome.DRIFTED]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "selection": self.selection.as_dict(), "parallel": self.parallel,
                "seconds": round(self.seconds, 3), "detect_seconds": round(self.detect_seconds, 3),
                "finished_at": _now(), "retry_of": self.retry_of, "notes": self.notes, "counts": self.counts,
                "results": [{**vars(r), "outcome": r.outcome.value} for r in self.results]}


class Listener:
    """Progress callbacks of a fleet run (called from worker threads). The default is silent."""

    def run_started(self, *, total: int, to_run: int, parallel: int, mode: Mode) -> None:
        pass

    def workspace_started(self, work: Work) -> None:
        pass

    def workspace_finished(self, result: WorkspaceResult) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def run_finished(self, report: "RunReport") -> None:
        pass


# -- files ----------------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fleet_dir(project: Project) -> Path:
    return project.settings.work_dir / FLEET_DIR


def _write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=1)
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def last_run_path(project: Project) -> Path:
    return fleet_dir(project) / LAST_RUN_FILE


def load_last_run(project: Project) -> dict[str, Any] | None:
    try:
        return json.loads(last_run_path(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_root_text(directory: Path, text: str) -> bool:
    """Write a rendered root if its content changed (atomically); True when it did."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ROOT_FILE
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


class FileLock:
    """An exclusive `flock` on a file, shared by the threads of this process through one mutex."""

    def __init__(self, path: Path, *, blocking: bool = True, what: str = "") -> None:
        self.path = path
        self.blocking = blocking
        self.what = what
        self._mutex = threading.Lock()
        self._handle: Any = None

    def __enter__(self) -> "FileLock":
        self._mutex.acquire()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise TenantformError(f"{self.what or self.path} is held by {holder}; wait for it to finish") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {_now()}")
            handle.flush()
            self._handle = handle
        except BaseException:
            self._mutex.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._handle is not None:
                self._handle.truncate(0)
                fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None
        finally:
            self._mutex.release()


def run_lock(project: Project) -> FileLock:
    """One fleet run at a time per project (runs share records, logs and the plugin cache)."""
    return FileLock(fleet_dir(project) / "run.lock", blocking=False, what="the fleet run lock")


def init_lock(project: Project) -> FileLock:
    """Serialises `terraform init` over the shared plugin cache, across threads and processes."""
    return FileLock(project.settings.work_dir / "plugin-cache.lock", what="the plugin cache lock")


# -- executing ------------------------------------------------------------------------------------------------
def _events(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


def drifted_resources(stdout: str) -> list[str]:
    """Resources changed outside terraform that the plan would change back.

    `resource_drift` events alone are noisy (computed attributes that settle after an apply, such
    as a user pool's domain or a role's inline policies managed by another resource, show up after
    every apply, on AWS as on moto), so drift counts only where terraform would also act.
    """
    drift: set[str] = set()
    planned: set[str] = set()
    for event in _events(stdout):
        resource = (event.get("change") or {}).get("resource") or {}
        address = resource.get("addr")
        if not address:
            continue
        if event.get("type") == "resource_drift":
            drift.add(address)
        elif event.get("type") == "planned_change" and event["change"].get("action") != "read":
            planned.add(address)
    return sorted(drift & planned)


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


# -- a fleet run ------------------------------------------------------------------------------------------------
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
            path = last_run_path(project)
            _write_json(path, report.to_dict(), compact=len(report.results) > 200)
            report.run_file = str(path)
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
    if project.settings.target is not TargetKind.TFC:  # tfc runs no local terraform
        project.target.terraform_env()  # writes the CLI config (plugin cache, mirror) once, before the threads
    return to_run


# -- module versions and rollouts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TenantStatus:
    tenant: str
    tier: str
    version: str
    """The module version the tenant renders with (its record's, else the current one)."""
    infra: str
    """Status of the infra record: applied, failed, ..., or "never run"."""
    at: str
    pending: str
    """Why the next fleet.apply would plan it ("" when up to date)."""
    rollout: str = ""
    deployment: str = ""
    """pool or silo (derived from the tier and platform.toml's pooled_tiers)."""


@dataclass
class FleetStatus:
    current_version: str
    tenants: list[TenantStatus]
    rollout: dict[str, Any] | None
    last_run: dict[str, Any] | None

    @property
    def versions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.tenants:
            counts[row.version] = counts.get(row.version, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"current_version": self.current_version, "versions": self.versions,
                "tenants": [asdict(t) for t in self.tenants], "rollout": self.rollout,
                "last_run": {k: v for k, v in (self.last_run or {}).items() if k != "results"} or None}


def fleet_status(project: Project, selection: Selection | None = None) -> FleetStatus:
    """Which tenant runs which module version, whether it is up to date, and the rollout's progress."""
    selection = selection or Selection(layers=(INFRA,))
    broken: list[BrokenTenant] = []
    tenants = select_tenants(project, selection, broken=broken)
    versions = Versions(project)
    rollout = load_rollout(project)
    in_rollout: dict[str, str] = {}
    if rollout is not None and rollout.active:
        for index, wave in enumerate(rollout.waves):
            for tenant_id in wave:
                state = ("done" if index < rollout.next_wave else
                         "pending retry" if tenant_id in rollout.pending and index == rollout.next_wave else
                         f"wave {index + 1}")
                in_rollout[tenant_id] = f"{rollout.target_version}: {state}"
    works = detect(project, tenants, (INFRA,), versions=versions)
    rows = []
    for work in works:
        record = work.previous
        rows.append(TenantStatus(tenant=work.tenant.id, tier=work.tenant.tier.value, version=work.version,
                                 infra=record.status if record else "never run", at=record.at if record else "",
                                 pending=work.reason, rollout=in_rollout.get(work.tenant.id, ""),
                                 deployment=project.platform.deployment_of(work.tenant.tier).value))
    rows += [TenantStatus(tenant=bad.tenant_id, tier="?", version="", infra="invalid tenant file", at="",
                          pending=bad.message) for bad in broken]
    rows.sort(key=lambda row: row.tenant)
    return FleetStatus(current_version=versions.current, tenants=rows,
                       rollout=rollout.to_dict() if rollout else None, last_run=load_last_run(project))


class OnFailure(str, enum.Enum):
    PAUSE = "pause"
    """Finish the wave, then stop: the next `fleet.rollout` retries the wave's failures."""
    HALT = "halt"
    """Start nothing more after the first failure; the rollout needs `--resume` to go on."""

    def __str__(self) -> str:
        return self.value


@dataclass
class Rollout:
    target_version: str
    waves: list[list[str]]
    canary: int
    wave_size: int
    on_failure: OnFailure
    selection: dict[str, Any]
    next_wave: int = 0
    """Index of the wave the next invocation runs (== len(waves) when complete)."""
    pending: list[str] = field(default_factory=list)
    """Tenants of wave `next_wave` that failed or were not started, when it stopped early."""
    status: str = "active"
    """active (between waves), paused (a wave failed), halted, complete, aborted."""
    started_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status in ("active", "paused", "halted")

    def describe(self) -> str:
        done = sum(len(w) for w in self.waves[:self.next_wave])
        total = sum(len(w) for w in self.waves)
        return (f"rollout to {self.target_version}: {self.status}, {self.next_wave} of {len(self.waves)} waves done "
                f"({done}/{total} tenants)" + (f"; {len(self.pending)} to retry in wave {self.next_wave + 1}"
                                                if self.pending else ""))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "on_failure": self.on_failure.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Rollout":
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["on_failure"] = OnFailure(data["on_failure"])
        return cls(**data)


def rollout_path(project: Project) -> Path:
    return fleet_dir(project) / ROLLOUT_FILE


def load_rollout(project: Project) -> Rollout | None:
    try:
        return Rollout.from_dict(json.loads(rollout_path(project).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_rollout(project: Project, rollout: Rollout) -> None:
    rollout.updated_at = _now()
    _write_json(rollout_path(project), rollout.to_dict())


def plan_waves(tenant_ids: Sequence[str], *, canary: int, wave: int) -> list[list[str]]:
    """A canary wave of `canary` tenants, then waves of `wave` tenants, in the order given."""
    if canary < 0 or wave < 1:
        raise InvalidInput(field="canary/wave", problem=f"are {canary}/{wave}",
                           allowed="canary >= 0 and wave >= 1", source="arguments")
    ids = list(tenant_ids)
    waves = [ids[:canary]] if canary else []
    rest = ids[canary:]
    waves += [rest[i:i + wave] for i in range(0, len(rest), wave)]
    return [w for w in waves if w]


def start_rollout(project: Project, selection: Selection, *, version: str | None = None, canary: int = 1,
                  wave: int = 10, on_failure: OnFailure = OnFailure.PAUSE, say: Any = None) -> Rollout | None:
    """Plan a rollout of `version` (default: the current sources, synthesised if new) onto the
    selected tenants that run another version. None when every selected tenant already runs it."""
    existing = load_rollout(project)
    if existing is not None and existing.active:
        raise TenantformError(f"a {existing.describe()}; `invoke fleet.rollout` continues it, "
                              "`invoke fleet.rollout --abort` ends it")
    if version:
        if not project.modules_ready(version):
            known = sorted(p.name for p in (project.settings.out_dir / "modules").glob("*") if p.is_dir())
            raise InvalidInput(field="version", problem=f"is {version!r}, which is not synthesised",
                               allowed=", ".join(known) or "the current version (omit version=)",
                               source="argument version")
        target = version
    else:
        target, _ = project.ensure_modules(say or (lambda _: None))
    tenants = select_tenants(project, selection)
    movers = [t for t in tenants if (project.tenant_module_version(t.id) or target) != target]
    if not movers:
        return None
    movers.sort(key=lambda t: (TIER_ORDER[t.tier], t.id))
    rollout = Rollout(target_version=target, waves=plan_waves([t.id for t in movers], canary=canary, wave=wave),
                      canary=canary, wave_size=wave, on_failure=on_failure, selection=selection.as_dict())
    save_rollout(project, rollout)
    return rollout


@dataclass
class RolloutReport:
    rollout: Rollout | None
    runs: list[RunReport] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs) and not (self.rollout and self.rollout.status in ("paused", "halted"))


def advance_rollout(project: Project, *, waves: int | None = 1, parallel: int | None = None,
                    listener: Listener | None = None, resume: bool = False,
                    guard: ReplaceGuard | None = None) -> RolloutReport:
    """Run the next wave(s) of the active rollout; `waves=None` runs every remaining wave. Stops
    after a wave with failures or refusals (the rollout is then paused or halted); `guard` is the
    run's `--allow-replace`."""
    rollout = load_rollout(project)
    if rollout is None or not rollout.active:
        raise TenantformError("no rollout in progress: start one with `invoke fleet.rollout canary=1 wave=10`")
    if rollout.status == "halted" and not resume:
        raise TenantformError(f"the {rollout.describe()}: look at the failures (`invoke fleet.status`), then "
                              "`invoke fleet.rollout --resume` to retry and go on, or `--abort`")
    report = RolloutReport(rollout)
    layers = tuple(rollout.selection.get("layers") or LAYERS)
    remaining = waves if waves is not None else len(rollout.waves)
    while remaining > 0 and rollout.next_wave < len(rollout.waves):
        index = rollout.next_wave
        members = rollout.pending or rollout.waves[index]
        known = set(project.registry.ids())
        gone = [t for t in members if t not in known]
        members = [t for t in members if t in known]
        if gone and listener:
            listener.note(f"wave {index + 1}: {', '.join(gone)} no longer exist (offboarded): skipped")
        if listener:
            listener.note(f"rollout to {rollout.target_version}: wave {index + 1} of {len(rollout.waves)} "
                          f"({', '.join(members) or 'nobody'})")
        rollout.status = "active"
        if members:
            run = run_fleet(project, Mode.APPLY, Selection(tenants=tuple(members), layers=layers),
                            parallel=parallel, listener=listener,
                            version_overrides={t: rollout.target_version for t in members},
                            halt_on_failure=rollout.on_failure is OnFailure.HALT, guard=guard)
            report.runs.append(run)
            unfinished = sorted({r.tenant for r in run.results
                                 if r.outcome in (Outcome.FAILED, Outcome.SKIPPED, Outcome.REFUSED)})
        else:
            unfinished = []
        rollout.history.append({"wave": index + 1, "tenants": members, "unfinished": unfinished, "at": _now()})
        if unfinished:
            rollout.pending = unfinished
            rollout.status = "halted" if rollout.on_failure is OnFailure.HALT else "paused"
            save_rollout(project, rollout)
            report.message = (f"wave {index + 1} did not finish for {', '.join(unfinished)}: rollout {rollout.status}; "
                              f"fix the cause, then `invoke fleet.rollout{' --resume' if rollout.status == 'halted' else ''}` "
                              "retries them before the next wave")
            return report
        rollout.pending = []
        rollout.next_wave += 1
        remaining -= 1
        if rollout.next_wave >= len(rollout.waves):
            rollout.status = "complete"
        save_rollout(project, rollout)
    left = len(rollout.waves) - rollout.next_wave
    report.message = (f"rollout to {rollout.target_version} complete" if rollout.status == "complete" else
                      f"{left} wave(s) left: `invoke fleet.rollout` runs the next one")
    return report


def abort_rollout(project: Project) -> Rollout:
    """End the active rollout. Tenants keep the version they run now (moved ones stay moved)."""
    rollout = load_rollout(project)
    if rollout is None or not rollout.active:
        raise TenantformError("no rollout in progress")
    rollout.status = "aborted"
    save_rollout(project, rollout)
    return rollout
