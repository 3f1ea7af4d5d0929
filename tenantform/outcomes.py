"""What running one workspace came to: one vocabulary for workflows, the fleet, records and the CLI.

`Outcome` is the single enum of workspace outcomes. Its values are the words users read in the
command output and in `.tenantform/records/*.json` and `.tenantform/fleet/last-run.json`, so
files written before this enum existed still load. Not every command produces every outcome:

- a workflow run (onboard, update, offboard, platform.*): applied, unchanged, planned,
  synthesised, destroyed, absent;
- a fleet run: up to date, no changes, changes, applied, in sync, drifted, failed, skipped,
  synthesised, refused;
- a record (tenantform/records.py): applied, failed, planned, synthesised, and applied-unrecorded
  (applied, but the record could not be written to the state backend).

`LayerOutcome` is the one result type a runner (tenantform/runners/) returns for a workspace.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Mode(str, enum.Enum):
    """What a fleet run does to each workspace it runs."""

    PLAN = "plan"
    APPLY = "apply"
    DRIFT = "drift"

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    APPLIED = "applied"
    """Applied (terraform changed something; in a record: the last successful run, changes or not)."""
    UNCHANGED = "unchanged"
    """Planned by a workflow: nothing to change."""
    PLANNED = "planned"
    """Planned by a workflow only (update's first step, platform.plan, tfc.plan_only)."""
    SYNTHESISED = "synthesised"
    """Root written, not planned: a Kubernetes workspace without a cluster (or remote Kubernetes runs off)."""
    DESTROYED = "destroyed"
    ABSENT = "absent"
    """Nothing to destroy: no resources in state, or no workspace."""
    FAILED = "failed"
    UP_TO_DATE = "up to date"
    """Fleet, not planned: root, inputs and module version are those of the last successful apply."""
    NO_CHANGES = "no changes"
    """Fleet, planned: terraform has nothing to do (the record is brought up to date)."""
    CHANGES = "changes"
    """Fleet, planned only: terraform would change something."""
    IN_SYNC = "in sync"
    """Drift check: the real resources match the state and the configuration."""
    DRIFTED = "drifted"
    """Drift check: resources changed outside terraform and terraform would change them back."""
    SKIPPED = "skipped"
    """Fleet, not run: the tenant's infra layer failed first, or a halted rollout stopped the wave."""
    REFUSED = "refused"
    """Planned, not applied: the plan destroys or replaces a stateful resource (tenantform/ledger.py)
    and the run did not allow it (`--allow-replace`)."""
    APPLIED_UNRECORDED = "applied-unrecorded"
    """Record only: applied, but the record could not be written to the state backend."""

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


@dataclass
class Changes:
    add: int = 0
    change: int = 0
    remove: int = 0
    actions: list[tuple[str, str]] = field(default_factory=list)
    """(action, resource address) of each planned change."""

    @property
    def any(self) -> bool:
        return bool(self.add or self.change or self.remove)

    def __str__(self) -> str:
        return f"+{self.add} ~{self.change} -{self.remove}"


@dataclass
class LayerOutcome:
    """What a runner did to one workspace."""

    workspace: str
    status: Outcome
    changes: Changes = field(default_factory=Changes)
    outputs: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    """The log file of the last terraform command, or the remote run's URL."""
    note: str = ""

    def __post_init__(self) -> None:
        self.status = Outcome(self.status)
