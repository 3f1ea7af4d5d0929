"""What a rollout's first wave would replace or delete, shown before anything is applied.

A module version can replace resources that hold data users cannot get back: module release
1.1.0 changes the user pool's schema (immutable tenant claims), which replaces every tenant's
Cognito user pool, and with it the pool's users. `invoke fleet.rollout` therefore plans the
first wave at the target version (a fleet plan: nothing applied, no run report saved) and, when
a plan replaces or deletes anything, lists it and stops; running `invoke fleet.rollout` again
applies the wave, with `--allow-replace=<types>` when a type that holds data (a user pool, a table)
is among them: unattended applies refuse those otherwise (tenantform/ledger.py). Later waves run
the same module change, so the first wave's plan is the preview.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tenantform import fleet
from tenantform.ledger import resource_type, stateful
from tenantform.names import LAYERS
from tenantform.project import Project

DESTRUCTIVE_ACTIONS = ("replace", "delete", "remove")


@dataclass
class Preview:
    destructive: list[str] = field(default_factory=list)
    """`<workspace>: <action> <address>` for each replaced or deleted resource."""
    failed: list[str] = field(default_factory=list)
    """Workspaces whose preview plan failed (`<workspace>: <message>`)."""
    stateful_types: list[str] = field(default_factory=list)
    """Resource types holding data that the wave would replace or delete: what `--allow-replace`
    must name for the rollout to apply it (tenantform/ledger.py refuses them otherwise)."""


def preview_first_wave(project: Project, rollout: fleet.Rollout, *, parallel: int | None = None,
                       listener: fleet.Listener | None = None) -> Preview:
    members = [t for t in (rollout.waves[0] if rollout.waves else []) if t in set(project.registry.ids())]
    preview = Preview()
    if not members:
        return preview
    layers = tuple(rollout.selection.get("layers") or LAYERS)
    report = fleet.run_fleet(project, fleet.Mode.PLAN, fleet.Selection(tenants=tuple(members), layers=layers),
                             parallel=parallel, listener=listener, save=False,
                             version_overrides={t: rollout.target_version for t in members})
    for result in report.results:
        preview.destructive += [f"{result.workspace}: {action}" for action in result.actions
                                if action.split(" ", 1)[0] in DESTRUCTIVE_ACTIONS]
        if result.outcome is fleet.Outcome.FAILED:
            preview.failed.append(f"{result.workspace}: {result.message}")
    preview.stateful_types = sorted({resource_type(a.split(" ", 1)[1])
                                     for r in report.results for a in stateful(r.actions)})
    return preview
