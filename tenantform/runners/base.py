"""The interface every backend implements to run one workspace (pre-commit keeps its languages
behind `lang_base.Language` the same way): the workflows, offboarding and the fleet call only this.

Two runners implement it: tenantform/runners/local.py (terraform on this machine: targets local
and aws) and tenantform/runners/tfc.py (HCP Terraform remote runs: target tfc). `runner_for`
(tenantform/runners/__init__.py) picks one per project. Every method returns a `LayerOutcome`
(tenantform/outcomes.py), and a runner records what it ran through `Records.record`
(tenantform/records.py), the one place records are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol

from tenantform.names import tenant_names
from tenantform.outcomes import LayerOutcome
from tenantform.roots import fingerprint, write_root

if TYPE_CHECKING:
    from tenantform.fleet import Runner as FleetRunner
    from tenantform.fleet import Work, WorkspaceResult
    from tenantform.project import Project
    from tenantform.tenant import Tenant

Say = Callable[[str], None]
Confirm = Callable[[str], bool]


def quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Root:
    """One tenant layer's root, rendered and written to its workspace directory."""

    tenant: Tenant
    layer: str
    version: str
    workspace: str
    directory: Path
    fingerprint: str


def write_tenant_root(project: Project, tenant: Tenant, layer: str, version: str, **overrides: object) -> Root:
    """Render a tenant layer's root (render overrides: tenantform/roots.py) and write it if it changed."""
    workspace = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
    doc = project.render_root(tenant, layer, version, **overrides)
    directory = project.workspace_dir(workspace)
    write_root(directory, doc)
    return Root(tenant, layer, version, workspace, directory, fingerprint(doc, version))


class Runner(Protocol):
    """Runs workspaces of one project on one backend, one workspace per call."""

    project: Project

    @property
    def plan_only(self) -> bool:
        """Every run is a plan, never applied (HCP Terraform's `tfc.plan_only`)."""

    def prepare(self) -> None:
        """Make the backend usable: the target's server, bucket or token."""

    # -- one tenant workspace -----------------------------------------------------------------------
    def init(self, root: Root, *, say: Say) -> None:
        """Prepare the workspace for runs (`terraform init`), nothing else."""

    def plan(self, root: Root, *, say: Say, timings: dict[str, float]) -> LayerOutcome:
        """Plan the root; records `planned` (or `synthesised` when the layer cannot run here)."""

    def apply(self, root: Root, *, say: Say, timings: dict[str, float],
              confirmed: LayerOutcome | None = None) -> LayerOutcome:
        """Plan and apply the root; `confirmed`: the outcome of `plan` a person approved, which is
        applied as planned or not at all. Records the outcome (a failure too, then raises)."""

    def outputs(self, workspace: str) -> dict[str, object]:
        """The workspace's outputs (empty where the backend does not read them back)."""

    def inventory(self, tenant: Tenant, layers: list[str]) -> dict[str, list[str]]:
        """State listing: workspace -> resource addresses, for those of `layers` there is something to destroy in."""

    def destroy(self, tenant: Tenant, layer: str, resources: list[str], say: Say) -> LayerOutcome:
        """Destroy a tenant layer's resources (`resources`: its inventory)."""

    def state_lines(self, tenant: Tenant) -> list[str]:
        """What `remove_state` will remove, for a confirmation."""

    def remove_state(self, tenant: Tenant) -> list[str]:
        """Delete what is left of the tenant's state; returns what was removed."""

    def run_fleet_workspace(self, fleet: FleetRunner, work: Work) -> WorkspaceResult:
        """One workspace of a fleet run (plan, apply or drift check, `fleet.mode`): never raises;
        records applied or failed (apply mode) like `apply`."""

    def before_fleet_threads(self) -> None:
        """Called once before a fleet run's worker threads start (local: write the CLI config)."""

    # -- the platform ----------------------------------------------------------------------------------
    def platform_deployed(self) -> bool:
        """The platform workspace manages resources."""

    def platform_missing(self) -> str:
        """The error when a tenant command needs the platform and it is not deployed."""

    def deploy_platform(self, *, say: Say, plan_only: bool, with_k8s: bool) -> LayerOutcome:
        """Plan and apply the platform workspaces (synthesised already)."""

    def destroy_platform(self, *, confirm: Confirm, say: Say) -> LayerOutcome:
        """List what goes, ask, destroy the platform workspaces and their state."""
