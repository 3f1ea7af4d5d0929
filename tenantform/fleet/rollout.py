"""Module rollouts: move the selected tenants to one module version in waves (a canary wave, then
waves of a fixed size), one wave per invocation by default, never past a wave with failures.
The rollout's state is `.tenantform/fleet/rollout.json`."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tenantform.errors import InvalidInput, TenantformError
from tenantform.fleet.files import fleet_dir, now as _now, write_json as _write_json
from tenantform.fleet.outcome import Mode, Outcome
from tenantform.fleet.results import Listener, RunReport
from tenantform.fleet.run import run_fleet
from tenantform.fleet.selection import Selection, select_tenants
from tenantform.ledger import ReplaceGuard
from tenantform.names import LAYERS
from tenantform.project import Project
from tenantform.tiers import Tier

ROLLOUT_FILE = "rollout.json"
TIER_ORDER = {tier: index for index, tier in enumerate(Tier)}  # rollouts go basic first, platinum last


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
