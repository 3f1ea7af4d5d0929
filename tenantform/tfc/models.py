"""What the client takes and returns: workspace specs and references, run progress and outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tenantform.tfc.errors import RemoteRunFailed


@dataclass(frozen=True, kw_only=True)
class WorkspaceSpec:
    """What one workspace must look like (settings come from TfcSettings)."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    working_directory: str = ""
    description: str = ""
    remote_state_from: tuple[str, ...] = ()
    """Workspaces whose state this one reads with terraform_remote_state (e.g. ("platform",))."""


@dataclass(frozen=True, kw_only=True)
class WorkspaceRef:
    id: str
    name: str
    url: str
    created: bool = False
    changed: tuple[str, ...] = ()
    """Settings ensure_workspace changed (empty when it already matched)."""


@dataclass(frozen=True, kw_only=True)
class RunProgress:
    """One progress event: a configuration upload or a run status change."""

    workspace: str
    phase: Literal["upload", "run"]
    status: str
    url: str
    run_id: str | None
    elapsed: float


@dataclass(frozen=True, kw_only=True)
class PlanSummary:
    additions: int
    changes: int
    destructions: int
    is_destroy: bool
    replaced: tuple[str, ...] = ()
    """`replace <address>` / `delete <address>` of the plan, when the API serves its JSON output."""


SUCCESS_STATUSES = frozenset({"applied", "planned_and_finished", "planned_and_saved"})
"""Final statuses of a run that succeeded (the full list of statuses: tenantform/tfc/runs.py)."""


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    workspace: str
    run_id: str
    status: str
    url: str
    plan_only: bool
    is_destroy: bool
    has_changes: bool
    additions: int = 0
    changes: int = 0
    destructions: int = 0
    applied: bool = False
    error: str | None = None
    timed_out: bool = False
    config_sha256: str | None = None
    replaced: tuple[str, ...] = ()
    """`replace <address>` / `delete <address>` planned (a run not applied)."""
    drifted: tuple[str, ...] = ()
    """Refresh-only runs: addresses changed outside terraform."""

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS_STATUSES and not self.timed_out

    @property
    def summary(self) -> str:
        counts = f"+{self.additions} ~{self.changes} -{self.destructions}"
        if not self.has_changes:
            what = "no changes"
        elif self.applied:
            what = f"applied {counts}"
        else:
            what = f"plan {counts}"
        return f"{self.workspace}: {self.status} ({what}) {self.url}"

    def raise_for_status(self) -> RunOutcome:
        if not self.ok:
            raise RemoteRunFailed(self)
        return self

