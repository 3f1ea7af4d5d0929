"""What a fleet run did: one result per workspace, the run's report, its progress callbacks, and
the last run's file (`.tenantform/fleet/last-run.json`, read by `--retry-failed` and fleet.status)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantform.fleet.detection import Work
from tenantform.fleet.files import fleet_dir, now as _now, write_json
from tenantform.fleet.outcome import CHANGED, UNCHANGED, Mode, Outcome
from tenantform.fleet.selection import Selection
from tenantform.project import Project

LAST_RUN_FILE = "last-run.json"


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


def last_run_path(project: Project) -> Path:
    return fleet_dir(project) / LAST_RUN_FILE


def load_last_run(project: Project) -> dict[str, Any] | None:
    try:
        return json.loads(last_run_path(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_last_run(project: Project, report: RunReport) -> Path:
    """Keep the run's results for `--retry-failed` and fleet.status (compact beyond 200 workspaces)."""
    path = last_run_path(project)
    write_json(path, report.to_dict(), compact=len(report.results) > 200)
    return path
