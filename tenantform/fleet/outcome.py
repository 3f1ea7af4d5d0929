"""The fleet's vocabulary: what a run does (Mode) and what became of each workspace (Outcome)."""

from __future__ import annotations

import enum


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
