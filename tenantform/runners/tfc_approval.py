"""When an HCP Terraform run may apply its plan, and how its progress is shown (tenantform/runners/tfc.py).

Unattended applies (onboard, platform.deploy) refuse a plan that destroys resources: the run is
discarded and the message says where to review it. `update` applies only a plan equal to the one
the person confirmed. Fleet applies follow the stateful-replacement guard (tenantform/ledger.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tenantform.ledger import ReplaceGuard, resource_type
from tenantform.outcomes import Changes
from tenantform.runners.base import Say
from tenantform.tfc import PlanSummary, RemoteRunFailed, RunOutcome, RunProgress

Approve = Callable[[PlanSummary], bool]


class Approval:
    """Decides whether a plan is applied; remembers why not, for the error message."""

    def __init__(self, accept: Callable[[PlanSummary], str | None]) -> None:
        self._accept = accept
        self.refusal: str | None = None

    def __call__(self, summary: PlanSummary) -> bool:
        self.refusal = self._accept(summary)
        return self.refusal is None


def no_destruction(review: str) -> Approval:
    """Apply unless the plan destroys resources (unattended commands)."""
    def accept(plan: PlanSummary) -> str | None:
        if plan.destructions and not plan.is_destroy:
            return (f"the plan destroys {plan.destructions} resources (+{plan.additions} "
                    f"~{plan.changes} -{plan.destructions}) and this command never applies that "
                    f"unattended; run discarded, nothing changed. {review}")
        return None
    return Approval(accept)


def guarded(guard: ReplaceGuard) -> Approval:
    """Fleet applies: never a stateful replacement the run did not allow (tenantform/ledger.py), and,
    as every unattended command, no other destruction either unless its address or type is allowed."""
    def accept(plan: PlanSummary) -> str | None:
        refusal = guard.refusal(plan.replaced)
        if refusal:
            return refusal
        covered = {a.split(" ", 1)[1] for a in plan.replaced
                   if a.split(" ", 1)[1] in guard.allowed or resource_type(a.split(" ", 1)[1]) in guard.allowed}
        if plan.destructions and not plan.is_destroy and len(covered) < plan.destructions:
            return (f"refused: the plan destroys {plan.destructions} resources (+{plan.additions} ~{plan.changes} "
                    f"-{plan.destructions}) and fleet.apply never applies that unattended; run discarded. "
                    "Allow it for one run with --allow-replace=<type or address>")
        return None
    return Approval(accept)


def same_as(confirmed: Changes) -> Approval:
    """Apply only the plan the person confirmed (same counts)."""
    def accept(plan: PlanSummary) -> str | None:
        now = (plan.additions, plan.changes, plan.destructions)
        if now != (confirmed.add, confirmed.change, confirmed.remove):
            return (f"the plan changed since you confirmed it (now +{now[0]} ~{now[1]} -{now[2]}, "
                    f"confirmed {confirmed}); run discarded, nothing changed: run the command again")
        return None
    return Approval(accept)


def failed(outcome: RunOutcome, approve: Approve | None) -> RemoteRunFailed:
    refusal = getattr(approve, "refusal", None)
    if refusal:
        outcome = dataclasses.replace(outcome, error=refusal)
    return RemoteRunFailed(outcome)


def progress(say: Say) -> Callable[[RunProgress], None]:
    seen: set[str] = set()

    def on_progress(event: RunProgress) -> None:
        if event.phase == "upload":
            if event.workspace + "/upload" not in seen:
                seen.add(event.workspace + "/upload")
                say(f"{event.workspace}: uploading the configuration")
            return
        if event.run_id and event.run_id not in seen:
            seen.add(event.run_id)
            say(f"{event.workspace}: run {event.url}")
        say(f"{event.workspace}: {event.status.replace('_', ' ')} ({event.elapsed:.0f}s)")
    return on_progress


def changes_of(outcome: RunOutcome) -> Changes:
    return Changes(add=outcome.additions, change=outcome.changes, remove=outcome.destructions)
