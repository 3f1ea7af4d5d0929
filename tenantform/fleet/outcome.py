"""The fleet's vocabulary: what a run does (Mode) and what became of each workspace (Outcome)."""

from __future__ import annotations

from tenantform import outcomes

Mode = outcomes.Mode  # plan, apply, drift (tenantform/outcomes.py)
Outcome = outcomes.Outcome  # the one vocabulary of workspace outcomes (tenantform/outcomes.py)


CHANGED = (Outcome.CHANGES, Outcome.APPLIED, Outcome.DRIFTED)
UNCHANGED = (Outcome.UP_TO_DATE, Outcome.NO_CHANGES, Outcome.IN_SYNC)
