"""The HCP Terraform runner: each workspace run is a remote run (target tfc).

Per workspace: ensure the workspace (name, project, tags tenant/tier/layer/module version, variable
sets, read access to the states it reads), upload exactly the synthesised root and the module
directories it calls, run remotely, apply when the plan is acceptable (tenantform/runners/
tfc_approval.py), print the run URL, record the outcome as the local runner does. A failed run
fails the command with the run's error and URL. Offboarding's destroy runs also delete the
workspaces (a workspace's state goes with it).

Decisions (docs/tfc.md, "Runs"):
- The platform is never deployed as a side effect of onboarding: as on the aws target,
  `invoke platform.deploy target=tfc` comes first (shared infrastructure gets its own command).
- The Kubernetes workspaces (`tenant-<id>-apps`, `platform-k8s`) run remotely by default
  (`tfc.enable_kubernetes_runs`); `tenantform.kubeconfig` is a local file and is not used here.
- In a fleet run there is no init and no init lock; the run URL is the workspace's log;
  `fleet.drift` is a refresh-only run that is never applied; a plan that destroys resources is
  applied only when the run allows it (`--allow-replace`), else the run is discarded and the
  workspace is `refused`.

Never imports CDKTF; the API token stays in memory (tenantform/tfc.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tenantform.errors import TenantformError
from tenantform.names import APPS, INFRA, PLATFORM_K8S_WORKSPACE, PLATFORM_WORKSPACE, tenant_names
from tenantform.outcomes import Changes, LayerOutcome, Mode, Outcome
from tenantform.runners.base import Confirm, Root, Say, write_tenant_root
from tenantform.runners.tfc_approval import (
    Approve, changes_of, failed, guarded, no_destruction, progress, same_as,
)
from tenantform.tfc import RemoteRunFailed, RunOutcome, TfcError, WorkspaceSpec, workspace_tags
from tenantform.tfc_target import TfcTarget
from tenantform.tiers import profile

if TYPE_CHECKING:
    from tenantform.fleet import Runner as FleetRunner
    from tenantform.fleet import Work, WorkspaceResult
    from tenantform.project import Project
    from tenantform.tenant import Tenant


class TfcRunner:
    """tenantform.runners.base.Runner with HCP Terraform remote runs."""

    def __init__(self, project: Project) -> None:
        if not isinstance(project.target, TfcTarget):
            raise TenantformError(f"remote runs need the tfc target, not {project.target.kind.value}")
        self.project = project
        self.target: TfcTarget = project.target

    @property
    def plan_only(self) -> bool:
        return self.target.tfc.plan_only

    def prepare(self) -> None:
        self.target.prepare()

    # -- the remote run ---------------------------------------------------------------------------------
    def _working_directory(self, workspace: str) -> str:
        return self.project.workspace_dir(workspace).relative_to(self.project.settings.out_dir).as_posix()

    def _run(self, spec: WorkspaceSpec, *, message: str, plan_only: bool, approve: Approve | None, say: Say,
             refresh_only: bool = False, override_policy: bool = False) -> RunOutcome:
        """Ensure the workspace (skipped for a plan of an existing one: a plan changes nothing), upload
        the root and its modules, run; raise with the run's error when it did not succeed."""
        client = self.target.tfc_client()
        if not plan_only or client.read_workspace(spec.name) is None:
            ref = client.ensure_workspace(spec)
            if ref.created:
                say(f"{spec.name}: created workspace {ref.url}")
            elif ref.changed:
                say(f"{spec.name}: updated workspace ({', '.join(ref.changed)})")
        outcome = client.run(spec.name, root_dir=self.project.workspace_dir(spec.name),
                             base_dir=self.project.settings.out_dir, message=message, plan_only=plan_only,
                             on_progress=progress(say), approve=approve, refresh_only=refresh_only,
                             override_policy=override_policy)
        if not outcome.ok:
            raise failed(outcome, approve)
        return outcome

    def _run_layer(self, tenant: Tenant, layer: str, version: str, *, plan_only: bool = False,
                   approve: Approve | None = None, say: Say, refresh_only: bool = False,
                   override_policy: bool = False) -> RunOutcome:
        """Run one tenant layer's root as already written in its workspace directory: ensure the
        workspace (tags tenant, tier, layer, module version; read access to the states it reads),
        upload the root and its module, run, apply when `approve` accepts the plan. Without
        `approve` a plan that destroys resources is not applied. Raises RemoteRunFailed (the run's
        error and URL) when the run did not succeed, TfcError for API problems. Writes no record."""
        names = tenant_names(tenant.id, platform_name=self.project.platform.name)
        workspace = names.workspace(layer)
        reads = (PLATFORM_WORKSPACE,) if layer == INFRA else (PLATFORM_WORKSPACE, names.workspace(INFRA))
        spec = WorkspaceSpec(
            name=workspace, working_directory=self._working_directory(workspace),
            tags=workspace_tags(layer=layer, tenant_id=tenant.id, tier=tenant.tier.value, module_version=version),
            description=f"tenantform: tenant {tenant.id}, {layer} layer", remote_state_from=reads)
        plan_only = plan_only or self.plan_only
        if approve is None and not plan_only:
            approve = no_destruction(f"Review it with `invoke update tenant={tenant.id} target=tfc`, "
                                     "which shows the plan and asks before applying.")
        kind = "drift check (refresh-only), " if refresh_only else ""
        return self._run(spec, plan_only=plan_only, approve=approve, say=say, refresh_only=refresh_only,
                         override_policy=override_policy,
                         message=f"tenantform: {kind}tenant {tenant.id} ({tenant.tier.value}), {layer} layer, "
                                 f"module {version}")

    def _resources(self, workspace: str) -> int:
        ws = self.target.tfc_client().read_workspace(workspace)
        return (ws.resource_count or 0) if ws else 0

    # -- one tenant workspace -----------------------------------------------------------------------
    def init(self, root: Root, *, say: Say) -> None:
        """Remote runs initialise remotely: nothing to do here."""

    def plan(self, root: Root, *, say: Say, timings: dict[str, float]) -> LayerOutcome:
        return self._layer(root, say=say, timings=timings, plan_only=True)

    def apply(self, root: Root, *, say: Say, timings: dict[str, float],
              confirmed: LayerOutcome | None = None) -> LayerOutcome:
        approve = same_as(confirmed.changes) if confirmed is not None else None
        return self._layer(root, say=say, timings=timings, approve=approve)

    def _layer(self, root: Root, *, say: Say, timings: dict[str, float], plan_only: bool = False,
               approve: Approve | None = None) -> LayerOutcome:
        records, workspace, layer = self.project.records, root.workspace, root.layer
        if layer == APPS and not self.target.tfc.enable_kubernetes_runs:
            records.record(workspace, Outcome.SYNTHESISED, version=root.version,
                           message="tfc.enable_kubernetes_runs is false")
            return LayerOutcome(workspace, Outcome.SYNTHESISED, note=(
                f"root written to {root.directory}; not run: tfc.enable_kubernetes_runs is false"))
        if layer == APPS and self.project.settings.kubeconfig:
            say(f"{workspace}: tenantform.kubeconfig is a local file, not used by remote runs "
                "(they reach EKS with `aws eks get-token`)")
        plan_only = plan_only or self.plan_only
        started = time.monotonic()
        try:
            outcome = self._run_layer(root.tenant, layer, root.version, plan_only=plan_only, approve=approve, say=say)
        except TenantformError as exc:
            records.record(workspace, Outcome.FAILED, version=root.version, message=str(exc).splitlines()[0])
            raise
        finally:
            timings[f"{layer} run"] = time.monotonic() - started
        changes = changes_of(outcome)
        if plan_only:
            records.record(workspace, Outcome.PLANNED, fingerprint=root.fingerprint, version=root.version,
                           log=outcome.url)
            return LayerOutcome(workspace, Outcome.PLANNED, changes, log=outcome.url,
                                note=f"{changes}, speculative plan {outcome.url}")
        status = Outcome.APPLIED if outcome.applied else Outcome.UNCHANGED
        records.record(workspace, status, fingerprint=root.fingerprint, version=root.version, log=outcome.url,
                       count=lambda: self._resources(workspace))
        return LayerOutcome(workspace, status, changes, log=outcome.url, note=f"run {outcome.url}")

    def outputs(self, workspace: str) -> dict[str, object]:
        return {}  # read from the workspace page: remote runs bring no state here

    # -- removal ----------------------------------------------------------------------------------------
    def _inventory(self, workspaces: list[str]) -> dict[str, list[str]]:
        """Workspace -> resource addresses, for the workspaces that exist."""
        client = self.target.tfc_client()
        found: dict[str, list[str]] = {}
        for name in workspaces:
            ws = client.read_workspace(name)
            if ws is not None:
                addresses = client.resource_addresses(ws)
                if ws.resource_count and not addresses:  # an API without the resources list
                    addresses = [f"({ws.resource_count} resources)"]
                found[name] = addresses
        return found

    def _destroy_and_delete(self, workspace: str, *, message: str, say: Say) -> RunOutcome | None:
        """Destroy run with the workspace's last applied configuration, then safe delete."""
        client = self.target.tfc_client()
        say(f"{workspace}: destroy run")
        outcome = client.destroy(workspace, message=message, on_progress=progress(say))
        if outcome is not None and not outcome.ok:
            raise RemoteRunFailed(outcome)
        if client.delete_workspace(workspace):
            say(f"{workspace}: workspace deleted")
        return outcome

    def _describe_removal(self, title: str, inventory: dict[str, list[str]]) -> str:
        lines = [title]
        for name, addresses in inventory.items():
            lines.append(f"  {name}: {len(addresses)} resources, then the workspace "
                         f"({self.target.tfc.workspace_url(name)})")
            lines += [f"    - {address}" for address in addresses]
        if not inventory:
            lines.append("  no HCP Terraform workspaces")
        return "\n".join(lines)

    def inventory(self, tenant: Tenant, layers: list[str]) -> dict[str, list[str]]:
        names = tenant_names(tenant.id, platform_name=self.project.platform.name)
        return self._inventory([names.workspace(layer) for layer in layers])

    def destroy(self, tenant: Tenant, layer: str, resources: list[str], say: Say) -> LayerOutcome:
        project = self.project
        workspace = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
        if resources and layer == INFRA and profile(tenant.tier).enable_deletion_protection:
            say(f"{workspace}: turning deletion protection off before destroying")
            version, _ = project.ensure_modules(say)
            self.apply(write_tenant_root(project, tenant, INFRA, version, deletion_protection=False),
                       say=say, timings={})
        try:
            outcome = self._destroy_and_delete(workspace, say=say, message=f"tenantform: offboard tenant {tenant.id}")
        except TfcError as exc:
            project.records.record(workspace, Outcome.FAILED, message=str(exc).splitlines()[0])
            raise
        url = self.target.tfc.workspace_url(workspace)
        if outcome is None:
            return LayerOutcome(workspace, Outcome.ABSENT, note=f"no resources; workspace {url} deleted")
        return LayerOutcome(workspace, Outcome.DESTROYED, changes_of(outcome), log=outcome.url,
                            note=f"destroy run {outcome.url}; workspace {url} deleted")

    def state_lines(self, tenant: Tenant) -> list[str]:
        return ["  state: each workspace's, deleted with the workspace"]

    def remove_state(self, tenant: Tenant) -> list[str]:
        return []

    # -- a fleet run ---------------------------------------------------------------------------------------
    def run_fleet_workspace(self, fleet: FleetRunner, work: Work) -> WorkspaceResult:
        from tenantform.fleet import WorkspaceResult, write_root_text

        started = time.monotonic()
        result = WorkspaceResult(work.workspace, work.tenant.id, work.layer, work.version, Outcome.FAILED,
                                 reason=work.reason)
        records = self.project.records
        step = "render"
        try:
            write_root_text(self.project.workspace_dir(work.workspace), work.text)
            if work.layer == APPS and not self.target.tfc.enable_kubernetes_runs:
                result.outcome = Outcome.SYNTHESISED
                result.message = "root written; not run: tfc.enable_kubernetes_runs is false"
                return result
            plan_only = fleet.mode is Mode.PLAN or self.plan_only
            step = "run"
            result.planned = True
            outcome = self._run_layer(
                work.tenant, work.layer, work.version, plan_only=plan_only, say=lambda m: _fleet_note(fleet, m),
                refresh_only=fleet.mode is Mode.DRIFT, override_policy=fleet.override_policy,
                approve=guarded(fleet.guard) if fleet.mode is Mode.APPLY else None)
            result.log = outcome.url
            result.add, result.change, result.remove = outcome.additions, outcome.changes, outcome.destructions
            result.actions = list(outcome.replaced)
            if fleet.mode is Mode.DRIFT:  # a refresh-only run: drift of the real resources against the state
                result.drifted = list(outcome.drifted)
                result.outcome = Outcome.DRIFTED if outcome.has_changes else Outcome.IN_SYNC
            elif not outcome.has_changes:
                result.outcome = Outcome.NO_CHANGES
                records.record(work.workspace, Outcome.NO_CHANGES, fingerprint=work.fingerprint, version=work.version,
                               log=result.log, count=lambda: self._resources(work.workspace))
            elif not outcome.applied:  # fleet.plan, or tfc.plan_only: a speculative plan
                result.outcome = Outcome.CHANGES
            else:
                result.outcome = Outcome.APPLIED
                records.record(work.workspace, Outcome.APPLIED, fingerprint=work.fingerprint, version=work.version,
                               log=result.log, count=lambda: self._resources(work.workspace))
        except Exception as exc:  # noqa: BLE001 - one workspace's failure must not stop the fleet
            result.outcome = Outcome.FAILED
            result.error_class = type(exc).__name__
            run = getattr(exc, "outcome", None)  # RemoteRunFailed: the run's error and URL
            result.log = run.url if run is not None else result.log
            if run is not None and run.replaced:
                result.actions = list(run.replaced)
            if run is not None and str(run.error or "").startswith("refused: "):
                result.outcome = Outcome.REFUSED
            text = " ".join(str(exc).split())
            result.message = f"{step}: {text}" if isinstance(exc, TenantformError) else \
                f"{step}: {type(exc).__name__}: {text}"
            if fleet.mode is Mode.APPLY and step != "render":
                records.record(work.workspace, Outcome.FAILED, version=work.version, log=result.log,
                               message=result.message[:500])
        finally:
            result.seconds = time.monotonic() - started
        return result

    def before_fleet_threads(self) -> None:
        """Nothing to prepare: remote runs need no local terraform configuration."""

    # -- the platform ----------------------------------------------------------------------------------
    def platform_deployed(self) -> bool:
        ws = self.target.tfc_client().read_workspace(PLATFORM_WORKSPACE)
        return bool(ws is not None and ws.resource_count)

    def platform_missing(self) -> str:
        settings = self.target.tfc
        return (f"the platform is not deployed in {settings.organization}/{settings.project}: workspace "
                f"{PLATFORM_WORKSPACE!r} is missing or manages no resources "
                f"({settings.workspace_url(PLATFORM_WORKSPACE)}); run `invoke platform.deploy target=tfc` first")

    def deploy_platform(self, *, say: Say, plan_only: bool, with_k8s: bool) -> LayerOutcome:
        """Run `platform` remotely (and `platform-k8s` after it, with_k8s and enable_kubernetes_runs)."""
        tfc = self.target.tfc
        plan_only = plan_only or tfc.plan_only
        review = ("Review and confirm it with a run started from the workspace page: "
                  f"{tfc.workspace_url(PLATFORM_WORKSPACE)}")
        outcome = self._run(WorkspaceSpec(
            name=PLATFORM_WORKSPACE, tags=workspace_tags(layer=PLATFORM_WORKSPACE),
            working_directory=self._working_directory(PLATFORM_WORKSPACE),
            description="tenantform: shared platform (network, cluster, ingress, tables, frontends)"),
            message="tenantform: platform", plan_only=plan_only,
            approve=None if plan_only else no_destruction(review), say=say)
        status = Outcome.PLANNED if plan_only else (Outcome.APPLIED if outcome.applied else Outcome.UNCHANGED)
        notes = [f"run {outcome.url}"]
        if with_k8s and not tfc.enable_kubernetes_runs:
            notes.append(f"{PLATFORM_K8S_WORKSPACE}: synthesised, not run (tfc.enable_kubernetes_runs is false)")
        elif with_k8s and plan_only and not self.platform_deployed():
            notes.append(f"{PLATFORM_K8S_WORKSPACE}: not planned: it reads the platform's outputs, "
                         "which do not exist before the first apply")
        elif with_k8s:
            k8s = self._run(WorkspaceSpec(
                name=PLATFORM_K8S_WORKSPACE, tags=workspace_tags(layer=PLATFORM_K8S_WORKSPACE),
                working_directory=self._working_directory(PLATFORM_K8S_WORKSPACE),
                description="tenantform: cluster add-ons (ingress controller, metrics, autoscaler)",
                remote_state_from=(PLATFORM_WORKSPACE,)),
                message="tenantform: platform-k8s", plan_only=plan_only,
                approve=None if plan_only else no_destruction(review.replace(
                    PLATFORM_WORKSPACE, PLATFORM_K8S_WORKSPACE)), say=say)
            notes.append(f"{PLATFORM_K8S_WORKSPACE}: {k8s.status} ({changes_of(k8s)}), run {k8s.url}")
        for note in notes[1:]:
            say(note)
        return LayerOutcome(PLATFORM_WORKSPACE, status, changes_of(outcome), log=outcome.url, note="; ".join(notes))

    def destroy_platform(self, *, confirm: Confirm, say: Say) -> LayerOutcome:
        from tenantform.offboarding import require_aws_credentials
        from tenantform.tenant_data import unprotect_tables

        project = self.project
        require_aws_credentials(project, job="platform.destroy",
                                calls="turning the shared tables' deletion protection off")
        inventory = self._inventory([PLATFORM_K8S_WORKSPACE, PLATFORM_WORKSPACE])
        tables = [project.platform.product_table_name, project.platform.catalogue_table_name,
                  project.platform.pooled_order_table_name]
        description = self._describe_removal("Destroying the platform removes:", inventory)
        if not confirm(f"{description}\nDeletion protection is turned off first on the tables {', '.join(tables)} "
                       "(every tenant's pooled data and the tenant catalogue; no backup is taken)"):
            raise TenantformError("not confirmed: nothing removed")
        unprotect_tables(project.target.data_client("dynamodb"), tables, say=say)
        outcome: RunOutcome | None = None
        for name in inventory:  # platform-k8s first: it runs on the cluster the platform holds
            outcome = self._destroy_and_delete(name, message="tenantform: platform.destroy", say=say)
        if PLATFORM_WORKSPACE not in inventory:
            return LayerOutcome(PLATFORM_WORKSPACE, Outcome.ABSENT, note="no HCP Terraform workspace")
        return LayerOutcome(PLATFORM_WORKSPACE, Outcome.DESTROYED, changes_of(outcome) if outcome else Changes(),
                            log=outcome.url if outcome else "", note="workspace deleted")


def _fleet_note(fleet: FleetRunner, message: str) -> None:
    """Of a remote run's progress, show the run URL and workspace changes; the status lines are noise
    with many runs at once (the workspace's line and the summary carry the outcome)."""
    if message.partition(": ")[2].startswith(("run http", "created workspace", "updated workspace")):
        fleet.listener.note(message)
