"""The `tfc` target wired into the workflows: HCP Terraform workspaces and remote runs.

`TfcTarget` renders what differs in the synthesised roots (a `cloud` block instead of the S3
backend, the `remote` backend for `terraform_remote_state`) and checks the token. The functions
below are the remote branch of tenantform/workflows.py: each workflow that would run terraform
locally (onboard's layers, update, offboard, platform deploy/plan/destroy) calls the function of
the same name here when the target is tfc, and local/aws never reach this module.

Per layer: ensure the workspace (name, project, tags tenant/tier/layer/module version, variable
sets, read access to the states it reads), upload exactly the synthesised root and the module
directories it calls, run remotely, apply when the plan is acceptable, print the run URL, record
the outcome in `.tenantform/records/` as local runs do. A failed run fails the command with the
run's error and URL.

Decisions (docs/tfc.md, "Runs"):
- The platform is never deployed as a side effect of onboarding: as on the aws target,
  `invoke platform.deploy target=tfc` comes first (shared infrastructure gets its own command).
- The Kubernetes workspaces (`tenant-<id>-apps`, `platform-k8s`) run remotely by default
  (`tfc.enable_kubernetes_runs`); `tenantform.kubeconfig` is a local file and is not used here.
- Unattended applies (onboard, platform.deploy) refuse a plan that destroys resources: the run
  is discarded and the message says where to review it. `update` applies only a plan equal to
  the one the person confirmed.

Never imports CDKTF; the API token stays in memory (tenantform/tfc.py).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from tenantform.errors import TenantformError
from tenantform.ledger import ReplaceGuard, resource_type
from tenantform.names import (
    APPS,
    INFRA,
    LAYERS,
    PLATFORM_K8S_WORKSPACE,
    PLATFORM_WORKSPACE,
    tenant_names,
)
from tenantform.pins import PROVIDER_REQUIREMENTS, REQUIRED_TERRAFORM_VERSION
from tenantform.platform_config import PlatformConfig
from tenantform.project import Project, Say, _quiet
from tenantform.records import Record
from tenantform.roots import fingerprint, write_root
from tenantform.targets import Settings, Target, TargetKind
from tenantform.tenant import Tenant, validate_tenant_id
from tenantform.terraform import Changes
from tenantform.tfc import (
    PlanSummary,
    RemoteRunFailed,
    RunOutcome,
    RunProgress,
    TfcClient,
    TfcError,
    TfcSettings,
    WorkspaceSpec,
    cloud_block,
    read_token,
    remote_state_config,
    tfc_settings_from_mapping,
    workspace_tags,
)
from tenantform.tiers import profile
from tenantform.workflows import (
    Confirm, LayerOutcome, Report, describe_plan, tenant_module_version, updated_tenant,
)

SETTINGS_SOURCE = "invoke.yaml (tenantform.tfc)"


class TfcTarget(Target):
    """HCP Terraform / Terraform Enterprise: state and runs live in remote workspaces."""

    kind = TargetKind.TFC

    def __init__(self, settings: Settings, platform: PlatformConfig) -> None:
        super().__init__(settings, platform)
        self.tfc: TfcSettings = tfc_settings_from_mapping(settings.tfc or {}, source=SETTINGS_SOURCE)
        self._client: TfcClient | None = None
        self._lock = threading.Lock()

    # -- rendering (pure; nothing secret) ---------------------------------------------------------
    def terraform_block(self, *, state_key: str, workspace: str, providers: tuple[str, ...]) -> dict[str, Any]:
        return {
            "required_version": REQUIRED_TERRAFORM_VERSION,
            "required_providers": {name: PROVIDER_REQUIREMENTS[name] for name in providers},
            "cloud": cloud_block(self.tfc, workspace),
        }

    def remote_state(self, *, state_key: str, workspace: str) -> dict[str, Any]:
        return remote_state_config(self.tfc, workspace)

    # -- running ------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Check that a token is in the environment (never written anywhere)."""
        read_token(self.tfc.hostname)

    def tfc_client(self) -> TfcClient:
        """One API connection per command (shared by a fleet's threads)."""
        with self._lock:
            if self._client is None:
                self._client = TfcClient(self.tfc)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self, service: str):  # noqa: ANN201
        raise TenantformError(f"the tfc target has no local AWS session (asked for {service}): state "
                              "and runs live in HCP Terraform, credentials in its variable sets")

    def describe(self) -> str:
        return (f"tfc (organization {self.tfc.organization}, project {self.tfc.project} on "
                f"{self.tfc.hostname}, region {self.platform.region})")


def _target(project: Project) -> TfcTarget:
    target = project.target
    if not isinstance(target, TfcTarget):
        raise TenantformError(f"remote runs need the tfc target, not {target.kind.value}")
    return target


# -- approval and progress ------------------------------------------------------------------------
class _Approval:
    """Decides whether a plan is applied; remembers why not, for the error message."""

    def __init__(self, accept: Callable[[PlanSummary], str | None]) -> None:
        self._accept = accept
        self.refusal: str | None = None

    def __call__(self, summary: PlanSummary) -> bool:
        self.refusal = self._accept(summary)
        return self.refusal is None


def _no_destruction(review: str) -> _Approval:
    """Apply unless the plan destroys resources (unattended commands)."""
    def accept(plan: PlanSummary) -> str | None:
        if plan.destructions and not plan.is_destroy:
            return (f"the plan destroys {plan.destructions} resources (+{plan.additions} "
                    f"~{plan.changes} -{plan.destructions}) and this command never applies that "
                    f"unattended; run discarded, nothing changed. {review}")
        return None
    return _Approval(accept)


def guarded(guard: ReplaceGuard) -> _Approval:
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
    return _Approval(accept)


def _same_as(confirmed: Changes) -> _Approval:
    """Apply only the plan the person confirmed (same counts)."""
    def accept(plan: PlanSummary) -> str | None:
        now = (plan.additions, plan.changes, plan.destructions)
        if now != (confirmed.add, confirmed.change, confirmed.remove):
            return (f"the plan changed since you confirmed it (now +{now[0]} ~{now[1]} -{now[2]}, "
                    f"confirmed {confirmed}); run discarded, nothing changed: run the command again")
        return None
    return _Approval(accept)


def _progress(say: Say) -> Callable[[RunProgress], None]:
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


def _changes(outcome: RunOutcome) -> Changes:
    return Changes(add=outcome.additions, change=outcome.changes, remove=outcome.destructions)


Approve = Callable[[PlanSummary], bool]


def _failed(outcome: RunOutcome, approve: Approve | None) -> RemoteRunFailed:
    refusal = getattr(approve, "refusal", None)
    if refusal:
        outcome = dataclasses.replace(outcome, error=refusal)
    return RemoteRunFailed(outcome)


def _run_workspace(project: Project, spec: WorkspaceSpec, *, message: str, plan_only: bool,
                   approve: Approve | None, say: Say, refresh_only: bool = False,
                   override_policy: bool = False) -> RunOutcome:
    """Ensure the workspace (skipped for a plan of an existing one: a plan changes nothing), upload
    the root and its modules, run; raise with the run's error when it did not succeed."""
    client = _target(project).tfc_client()
    if not plan_only or client.read_workspace(spec.name) is None:
        ref = client.ensure_workspace(spec)
        if ref.created:
            say(f"{spec.name}: created workspace {ref.url}")
        elif ref.changed:
            say(f"{spec.name}: updated workspace ({', '.join(ref.changed)})")
    outcome = client.run(spec.name, root_dir=project.workspace_dir(spec.name),
                         base_dir=project.settings.out_dir, message=message, plan_only=plan_only,
                         on_progress=_progress(say), approve=approve, refresh_only=refresh_only,
                         override_policy=override_policy)
    if not outcome.ok:
        raise _failed(outcome, approve)
    return outcome


def _working_directory(project: Project, workspace: str) -> str:
    return project.workspace_dir(workspace).relative_to(project.settings.out_dir).as_posix()


def _destroy_and_delete(project: Project, workspace: str, *, message: str, say: Say
                        ) -> tuple[RunOutcome | None, bool]:
    """Destroy run with the workspace's last applied configuration, then safe delete."""
    client = _target(project).tfc_client()
    say(f"{workspace}: destroy run")
    outcome = client.destroy(workspace, message=message, on_progress=_progress(say))
    if outcome is not None and not outcome.ok:
        raise RemoteRunFailed(outcome)
    deleted = client.delete_workspace(workspace)
    if deleted:
        say(f"{workspace}: workspace deleted")
    return outcome, deleted


def _inventory(project: Project, workspaces: list[str]) -> dict[str, list[str]]:
    """Workspace -> resource addresses, for the workspaces that exist."""
    client = _target(project).tfc_client()
    found: dict[str, list[str]] = {}
    for name in workspaces:
        ws = client.read_workspace(name)
        if ws is not None:
            addresses = client.resource_addresses(ws)
            if ws.resource_count and not addresses:  # an API without the resources list
                addresses = [f"({ws.resource_count} resources)"]
            found[name] = addresses
    return found


def _describe_removal(project: Project, title: str, inventory: dict[str, list[str]],
                      files: list[str]) -> str:
    settings = _target(project).tfc
    lines = [title]
    for name, addresses in inventory.items():
        lines.append(f"  {name}: {len(addresses)} resources, then the workspace "
                     f"({settings.workspace_url(name)})")
        lines += [f"    - {address}" for address in addresses]
    if not inventory:
        lines.append("  no HCP Terraform workspaces")
    lines += [f"  file: {path}" for path in files]
    return "\n".join(lines)


# -- the platform ----------------------------------------------------------------------------------
def platform_deployed(project: Project) -> bool:
    ws = _target(project).tfc_client().read_workspace(PLATFORM_WORKSPACE)
    return bool(ws is not None and ws.resource_count)


def ensure_platform(project: Project, *, say: Say = _quiet) -> None:
    """On tfc the platform is never deployed as a side effect: it must have been applied."""
    if platform_deployed(project):
        return
    settings = _target(project).tfc
    raise TenantformError(
        f"the platform is not deployed in {settings.organization}/{settings.project}: workspace "
        f"{PLATFORM_WORKSPACE!r} is missing or manages no resources "
        f"({settings.workspace_url(PLATFORM_WORKSPACE)}); run `invoke platform.deploy target=tfc` first")


def deploy_platform(project: Project, *, say: Say = _quiet, plan_only: bool = False,
                    with_k8s: bool = True) -> LayerOutcome:
    """Run `platform` remotely (and `platform-k8s` after it, with_k8s and enable_kubernetes_runs)."""
    target = _target(project)
    target.prepare()
    plan_only = plan_only or target.tfc.plan_only
    project.ensure_platform_synth(say, k8s=with_k8s)
    review = ("Review and confirm it with a run started from the workspace page: "
              f"{target.tfc.workspace_url(PLATFORM_WORKSPACE)}")
    approval = None if plan_only else _no_destruction(review)
    outcome = _run_workspace(project, WorkspaceSpec(
        name=PLATFORM_WORKSPACE, tags=workspace_tags(layer=PLATFORM_WORKSPACE),
        working_directory=_working_directory(project, PLATFORM_WORKSPACE),
        description="tenantform: shared platform (network, cluster, ingress, tables, frontends)"),
        message="tenantform: platform", plan_only=plan_only, approve=approval, say=say)
    status = "planned" if plan_only else ("applied" if outcome.applied else "unchanged")
    notes = [f"run {outcome.url}"]
    if with_k8s and not target.tfc.enable_kubernetes_runs:
        notes.append(f"{PLATFORM_K8S_WORKSPACE}: synthesised, not run (tfc.enable_kubernetes_runs is false)")
    elif with_k8s and plan_only and not platform_deployed(project):
        notes.append(f"{PLATFORM_K8S_WORKSPACE}: not planned: it reads the platform's outputs, "
                     "which do not exist before the first apply")
    elif with_k8s:
        k8s = _run_workspace(project, WorkspaceSpec(
            name=PLATFORM_K8S_WORKSPACE, tags=workspace_tags(layer=PLATFORM_K8S_WORKSPACE),
            working_directory=_working_directory(project, PLATFORM_K8S_WORKSPACE),
            description="tenantform: cluster add-ons (ingress controller, metrics, autoscaler)",
            remote_state_from=(PLATFORM_WORKSPACE,)),
            message="tenantform: platform-k8s", plan_only=plan_only,
            approve=None if plan_only else _no_destruction(review.replace(
                PLATFORM_WORKSPACE, PLATFORM_K8S_WORKSPACE)), say=say)
        notes.append(f"{PLATFORM_K8S_WORKSPACE}: {k8s.status} ({_changes(k8s)}), run {k8s.url}")
    for note in notes[1:]:
        say(note)
    return LayerOutcome(PLATFORM_WORKSPACE, status, _changes(outcome), log=outcome.url,
                        note="; ".join(notes))


def destroy_platform(project: Project, *, confirm: Confirm, force: bool = False,
                     say: Say = _quiet) -> LayerOutcome:
    tenants = project.registry.ids()
    if tenants and not force:
        raise TenantformError(f"{len(tenants)} tenants still exist ({', '.join(tenants[:10])}"
                              f"{', ...' if len(tenants) > 10 else ''}): offboard them first, or pass --force")
    _target(project).prepare()
    from tenantform.offboarding import aws_client, require_aws_credentials
    from tenantform.tenant_data import unprotect_tables

    require_aws_credentials(project, job="platform.destroy",
                            calls="turning the shared tables' deletion protection off")
    inventory = _inventory(project, [PLATFORM_K8S_WORKSPACE, PLATFORM_WORKSPACE])
    tables = [project.platform.product_table_name, project.platform.catalogue_table_name, project.platform.pooled_order_table_name]
    description = _describe_removal(project, "Destroying the platform removes:", inventory, [])
    if not confirm(f"{description}\nDeletion protection is turned off first on the tables {', '.join(tables)} "
                   "(every tenant's pooled data and the tenant catalogue; no backup is taken)"):
        raise TenantformError("not confirmed: nothing removed")
    unprotect_tables(aws_client(project, "dynamodb"), tables, say=say)
    outcome: RunOutcome | None = None
    for name in inventory:  # platform-k8s first: it runs on the cluster the platform holds
        outcome, _ = _destroy_and_delete(project, name, message="tenantform: platform.destroy", say=say)
    if PLATFORM_WORKSPACE not in inventory:
        return LayerOutcome(PLATFORM_WORKSPACE, "absent", note="no HCP Terraform workspace")
    return LayerOutcome(PLATFORM_WORKSPACE, "destroyed", _changes(outcome) if outcome else Changes(),
                        log=outcome.url if outcome else "", note="workspace deleted")


# -- tenant layers ---------------------------------------------------------------------------------
def run_layer(project: Project, tenant: Tenant, layer: str, version: str, *, plan_only: bool = False,
              approve: Approve | None = None, say: Say = _quiet, refresh_only: bool = False,
              override_policy: bool = False) -> RunOutcome:
    """Run one tenant layer's root as already written in its workspace directory: ensure the
    workspace (tags tenant, tier, layer, module version; read access to the states it reads),
    upload the root and its module, run, apply when `approve` accepts the plan.

    Without `approve` a plan that destroys resources is not applied (unattended commands never do).
    Raises RemoteRunFailed (the run's error and URL) when the run did not succeed, TfcError for API
    problems. Writes no record: the caller does (apply_layer below; a fleet runner).
    """
    target = _target(project)
    names = tenant_names(tenant.id, platform_name=project.platform.name)
    workspace = names.workspace(layer)
    reads = (PLATFORM_WORKSPACE,) if layer == INFRA else (PLATFORM_WORKSPACE, names.workspace(INFRA))
    spec = WorkspaceSpec(
        name=workspace, working_directory=_working_directory(project, workspace),
        tags=workspace_tags(layer=layer, tenant_id=tenant.id, tier=tenant.tier.value, module_version=version),
        description=f"tenantform: tenant {tenant.id}, {layer} layer", remote_state_from=reads)
    plan_only = plan_only or target.tfc.plan_only
    if approve is None and not plan_only:
        approve = _no_destruction(f"Review it with `invoke update tenant={tenant.id} target=tfc`, "
                                  "which shows the plan and asks before applying.")
    kind = "drift check (refresh-only), " if refresh_only else ""
    return _run_workspace(project, spec, plan_only=plan_only, approve=approve, say=say,
                          refresh_only=refresh_only, override_policy=override_policy,
                          message=f"tenantform: {kind}tenant {tenant.id} ({tenant.tier.value}), {layer} layer, "
                                  f"module {version}")


def apply_layer(project: Project, tenant: Tenant, layer: str, version: str, *, say: Say = _quiet,
                timings: dict[str, float] | None = None, plan_only: bool = False,
                approve: Approve | None = None, **overrides: object) -> LayerOutcome:
    """Render one tenant layer's root, run it remotely (run_layer) and record the outcome as a
    local run would."""
    target = _target(project)
    timings = timings if timings is not None else {}
    workspace = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
    doc = project.render_root(tenant, layer, version, **overrides)
    directory = project.workspace_dir(workspace)
    write_root(directory, doc)
    print_ = fingerprint(doc, version)
    if layer == APPS and not target.tfc.enable_kubernetes_runs:
        project.records.put(Record(workspace=workspace, status="synthesised", module_version=version,
                                   message="tfc.enable_kubernetes_runs is false"))
        return LayerOutcome(workspace, "synthesised", note=(
            f"root written to {directory}; not run: tfc.enable_kubernetes_runs is false"))
    if layer == APPS and project.settings.kubeconfig:
        say(f"{workspace}: tenantform.kubeconfig is a local file, not used by remote runs "
            "(they reach EKS with `aws eks get-token`)")
    plan_only = plan_only or target.tfc.plan_only
    started = time.monotonic()
    try:
        outcome = run_layer(project, tenant, layer, version, plan_only=plan_only, approve=approve, say=say)
    except TenantformError as exc:
        project.records.put(Record(workspace=workspace, status="failed", module_version=version,
                                   message=str(exc).splitlines()[0]))
        raise
    finally:
        timings[f"{layer} run"] = time.monotonic() - started
    changes = _changes(outcome)
    if plan_only:
        project.records.put(Record(workspace=workspace, status="planned", fingerprint=print_,
                                   module_version=version, log=outcome.url))
        return LayerOutcome(workspace, "planned", changes, log=outcome.url,
                            note=f"{changes}, speculative plan {outcome.url}")
    ws = target.tfc_client().read_workspace(workspace)
    project.records.put(Record(workspace=workspace, status="applied", fingerprint=print_,
                               module_version=version, resources=(ws.resource_count or 0) if ws else 0,
                               log=outcome.url))
    return LayerOutcome(workspace, "applied" if outcome.applied else "unchanged", changes,
                        log=outcome.url, note=f"run {outcome.url}")


def update(project: Project, *, tenant_id: str, tier: str | None = None, email: str | None = None,
           name: str | None = None, say: Say = _quiet, confirm: Confirm | None = None) -> Report:
    """Speculative plans of both layers, confirmation, then apply runs whose plan must match."""
    started = time.monotonic()
    wanted = updated_tenant(project, validate_tenant_id(tenant_id, source="argument tenant"),
                            tier=tier, email=email, name=name)
    report = Report(tenant=wanted)
    project.target.prepare()
    version, _ = tenant_module_version(project, wanted.id, say)  # a tenant keeps its module version
    report.module_version = version
    plans = [apply_layer(project, wanted, layer, version, say=say, plan_only=True) for layer in LAYERS]
    report.layers = plans
    if _target(project).tfc.plan_only:
        report.seconds = time.monotonic() - started
        return report
    if confirm is not None and not confirm(describe_plan(plans)):
        raise TenantformError("not confirmed: nothing applied")
    project.registry.save(wanted)
    confirmed = {plan.workspace: plan.changes for plan in plans}
    report.layers = []
    for layer in LAYERS:
        workspace = tenant_names(tenant_id, platform_name=project.platform.name).workspace(layer)
        approve = _same_as(confirmed[workspace]) if workspace in confirmed else None
        report.layers.append(apply_layer(project, wanted, layer, version, say=say,
                                         timings=report.timings, approve=approve))
    report.seconds = time.monotonic() - started
    return report


def offboard(project: Project, *, tenant_id: str, confirm: Confirm, say: Say = _quiet,
             skip_backup: bool = False) -> Report:
    """tenantform/offboarding.py's steps (final backup, pooled rows, verification: AWS calls from
    this machine), with destroy runs (apps, then infra) that also delete the workspaces."""
    from tenantform import offboarding

    return offboarding.offboard(project, tenant_id=tenant_id, confirm=confirm, say=say,
                                skip_backup=skip_backup, layers=TfcLayers(project))


class TfcLayers:
    """offboarding.Layers on HCP Terraform: a workspace's state goes with the workspace."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def inventory(self, tenant: Tenant, layers: list[str]) -> dict[str, list[str]]:
        names = tenant_names(tenant.id, platform_name=self.project.platform.name)
        return _inventory(self.project, [names.workspace(layer) for layer in layers])

    def destroy(self, tenant: Tenant, layer: str, resources: list[str], say: Say) -> LayerOutcome:
        project = self.project
        workspace = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
        if resources and layer == INFRA and profile(tenant.tier).enable_deletion_protection:
            say(f"{workspace}: turning deletion protection off before destroying")
            version, _ = project.ensure_modules(say)
            apply_layer(project, tenant, INFRA, version, say=say, deletion_protection=False)
        try:
            outcome, _ = _destroy_and_delete(project, workspace, say=say,
                                             message=f"tenantform: offboard tenant {tenant.id}")
        except TfcError as exc:
            project.records.put(Record(workspace=workspace, status="failed", message=str(exc).splitlines()[0]))
            raise
        url = _target(project).tfc.workspace_url(workspace)
        if outcome is None:
            return LayerOutcome(workspace, "absent", note=f"no resources; workspace {url} deleted")
        return LayerOutcome(workspace, "destroyed", _changes(outcome), log=outcome.url,
                            note=f"destroy run {outcome.url}; workspace {url} deleted")

    def state_lines(self, tenant: Tenant) -> list[str]:
        return ["  state: each workspace's, deleted with the workspace"]

    def remove_state(self, tenant: Tenant) -> list[str]:
        return []
