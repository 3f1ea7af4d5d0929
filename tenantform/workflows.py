"""The jobs behind the tasks: onboard, offboard, platform deploy/destroy, synth, list.

Each job validates everything first and writes nothing until its inputs are known good; each
step that changes something is safe to repeat, so re-running a failed command resumes it.
"""

from __future__ import annotations

import functools
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tenantform.deployment_guard import require_derived_deployment
from tenantform.errors import InvalidInput, TenantformError
from tenantform.names import INFRA, LAYERS, layers_of, tenant_names
from tenantform.outcomes import LayerOutcome, Outcome
from tenantform.project import Project, Say, _quiet
from tenantform.roots import write_root
from tenantform.runners import runner_for, write_tenant_root
from tenantform.state_bucket import BootstrapResult
from tenantform.tenant import Tenant, validate_tenant_id
from tenantform.terraform import exclusive, parse_duration
from tenantform.tiers import Tier

Confirm = Callable[[str], bool]


@dataclass
class Report:
    tenant: Tenant | None
    module_version: str = ""
    layers: list[LayerOutcome] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    created_tenant_file: bool = False
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """What a destructive command kept: final backups with their ARN or path."""

    @property
    def changed(self) -> bool:
        return any(layer.changes.any for layer in self.layers)


# -- the platform --------------------------------------------------------------------------------
def platform_deployed(project: Project) -> bool:
    return runner_for(project).platform_deployed()


def deploy_platform(project: Project, *, say: Say = _quiet, plan_only: bool = False,
                    with_k8s: bool = True) -> LayerOutcome:
    """Plan and apply `platform`; with_k8s also synthesises `platform-k8s` (and runs it where the runner can)."""
    runner = runner_for(project)
    runner.prepare()
    project.ensure_platform_synth(say, k8s=with_k8s)
    return runner.deploy_platform(say=say, plan_only=plan_only, with_k8s=with_k8s)


def destroy_platform(project: Project, *, confirm: Confirm, force: bool = False, say: Say = _quiet) -> LayerOutcome:
    tenants = project.registry.ids()
    if tenants and not force:
        raise TenantformError(f"{len(tenants)} tenants still exist ({', '.join(tenants[:10])}"
                              f"{', ...' if len(tenants) > 10 else ''}): offboard them first, or pass --force")
    runner = runner_for(project)
    runner.prepare()
    return runner.destroy_platform(confirm=confirm, say=say)


def ensure_platform(project: Project, *, say: Say = _quiet) -> LayerOutcome | None:
    """Deploy the platform if it never was, on a target that allows it (local); elsewhere, require it."""
    runner = runner_for(project)
    if runner.platform_deployed():
        return None
    if project.target.deploys_platform_on_demand:
        say("the platform workspace has no state yet: deploying it first (local target)")
        return deploy_platform(project, say=say, with_k8s=False)
    raise TenantformError(runner.platform_missing())


# -- onboarding ------------------------------------------------------------------------------------
def resolve_tenant(project: Project, *, tenant_id: str, tier: str | None, email: str | None,
                   name: str | None) -> tuple[Tenant, bool]:
    """The tenant to onboard and whether its file is new. Validates; writes nothing."""
    tenant_id = validate_tenant_id(tenant_id, source="argument tenant")
    if project.registry.exists(tenant_id):
        existing = project.registry.get(tenant_id)
        asked = {"tier": tier, "admin_email": email, "company_name": name}
        current = {"tier": existing.tier.value, "admin_email": existing.admin_email,
                   "company_name": existing.company_name}
        for key, value in asked.items():
            if value is not None and str(value) != current[key]:
                raise InvalidInput(field=key, source=f"argument for existing tenant {tenant_id}",
                                   problem=f"is {value!r} but tenants/{tenant_id}.toml says {current[key]!r}",
                                   allowed=f"the current value, or `invoke update tenant={tenant_id}` to change it")
        return existing, False
    tenant = Tenant.create(
        id=tenant_id,
        company_name=name if name is not None else tenant_id.replace("-", " ").title(),
        admin_email=email if email is not None else f"admin@{tenant_id}.example.com",
        tier=tier if tier is not None else Tier.BASIC.value,
        source="arguments",
    )
    return tenant, True


def init_root(project: Project, tenant: Tenant, layer: str, version: str, *, say: Say = _quiet) -> None:
    """Write a layer's root and prepare its workspace (`terraform init`: providers, backend; nothing
    for remote runs), nothing else; the layer's apply then skips the init."""
    runner_for(project).init(write_tenant_root(project, tenant, layer, version), say=say)


def apply_layer(project: Project, tenant: Tenant, layer: str, version: str, *, say: Say = _quiet,
                timings: dict[str, float] | None = None, plan_only: bool = False,
                confirmed: LayerOutcome | None = None, **overrides: object) -> LayerOutcome:
    """Render one tenant layer's root (with render `overrides`) and plan, or plan and apply, it.

    `confirmed`: the outcome of a `plan_only` call that a person approved; it is applied as
    planned or not at all (locally its saved plan file, which terraform refuses if the state moved
    since; remotely a run whose plan must have the same counts).
    """
    runner = runner_for(project)
    root = write_tenant_root(project, tenant, layer, version, **overrides)
    timings = timings if timings is not None else {}
    if plan_only:
        return runner.plan(root, say=say, timings=timings)
    return runner.apply(root, say=say, timings=timings, confirmed=confirmed)


def one_run_per_tenant(validate: Callable[..., object]) -> Callable[[Callable[..., Report]], Callable[..., Report]]:
    """Serialise onboard/update/offboard of one tenant on this host: a second run waits (up to
    tenantform.lock_timeout) instead of racing the first over the tenant file, the workspace's
    plan file and its records. Across hosts, terraform's state lock does the same. Every input
    is validated first (`validate`), so refused input writes nothing, not even a lock file."""

    def decorate(job: Callable[..., Report]) -> Callable[..., Report]:
        @functools.wraps(job)
        def locked(project: Project, *, tenant_id: str, say: Say = _quiet, **kwargs: Any) -> Report:
            tenant_id = validate_tenant_id(tenant_id, source="argument tenant")
            validate(project, tenant_id, **kwargs)
            with exclusive(project.settings.work_dir / "locks" / f"tenant-{tenant_id}.lock",
                           timeout=parse_duration(project.settings.lock_timeout), what=f"tenant {tenant_id}",
                           on_wait=say):
                return job(project, tenant_id=tenant_id, say=say, **kwargs)

        return locked

    return decorate


def _check_onboard(project: Project, tenant_id: str, *, tier: str | None = None, email: str | None = None,
                   name: str | None = None, **_: object) -> None:
    resolve_tenant(project, tenant_id=tenant_id, tier=tier, email=email, name=name)


def updated_tenant(project: Project, tenant_id: str, *, tier: str | None = None, email: str | None = None,
                   name: str | None = None) -> Tenant:
    """The tenant as `invoke update` would leave it: its file, with the given fields replaced."""
    current = project.registry.get(tenant_id)
    return Tenant.create(id=tenant_id, company_name=name if name is not None else current.company_name,
                         admin_email=email if email is not None else current.admin_email,
                         tier=tier if tier is not None else current.tier.value, source="arguments")


def _check_update(project: Project, tenant_id: str, *, tier: str | None = None, email: str | None = None,
                  name: str | None = None, **_: object) -> None:
    updated_tenant(project, tenant_id, tier=tier, email=email, name=name)


def _check_offboard(project: Project, tenant_id: str, **_: object) -> None:
    from tenantform.offboarding import tenant_to_offboard

    tenant_to_offboard(project, tenant_id)


@one_run_per_tenant(_check_onboard)
def onboard(project: Project, *, tenant_id: str, tier: str | None = None, email: str | None = None,
            name: str | None = None, say: Say = _quiet) -> Report:
    started = time.monotonic()
    tenant, is_new = resolve_tenant(project, tenant_id=tenant_id, tier=tier, email=email, name=name)
    report = Report(tenant=tenant)
    step = time.monotonic()
    project.target.prepare()
    ensure_platform(project, say=say)
    report.timings["target and platform"] = time.monotonic() - step
    version, synth_seconds = tenant_module_version(project, tenant.id, say)
    report.module_version = version
    report.timings["module synthesis"] = synth_seconds or 0.0
    if not is_new:  # an existing tenant: its roots must not change its deployment outside a move
        require_derived_deployment(project, tenant)
    if is_new:
        init_root(project, tenant, INFRA, version, say=say)  # what can fail cheaply, before the file exists
        project.registry.save(tenant)
        report.created_tenant_file = True
        say(f"wrote {project.registry.path(tenant.id)}")
    for layer in layers_of(project.platform.deployment_of(tenant.tier)):  # a pooled tenant: infra only
        report.layers.append(apply_layer(project, tenant, layer, version, say=say, timings=report.timings))
    report.seconds = time.monotonic() - started
    return report


@one_run_per_tenant(_check_update)
def update(project: Project, *, tenant_id: str, tier: str | None = None, email: str | None = None,
           name: str | None = None, say: Say = _quiet, confirm: Confirm | None = None) -> Report:
    """Change a tenant's definition and apply it: plan first, then apply after confirmation."""
    from tenantform import tenant_move  # a change between pool and silo moves the tenant and its data

    if tenant_move.wants_move(project, tenant_id, tier):
        return tenant_move.move(project, tenant_id=tenant_id, tier=tier, email=email, name=name, say=say,
                                confirm=confirm)
    started = time.monotonic()
    wanted = updated_tenant(project, tenant_id, tier=tier, email=email, name=name)
    report = Report(tenant=wanted)
    runner = runner_for(project)
    runner.prepare()
    version, _ = tenant_module_version(project, tenant_id, say)  # a tenant keeps its module version
    report.module_version = version
    plans = [apply_layer(project, wanted, layer, version, say=say, plan_only=True, timings=report.timings)
             for layer in layers_of(project.platform.deployment_of(wanted.tier))]
    report.layers = plans
    if runner.plan_only:  # HCP Terraform's tfc.plan_only: speculative plans, nothing applied
        report.seconds = time.monotonic() - started
        return report
    if confirm is not None and not confirm(describe_plan(plans)):
        raise TenantformError("not confirmed: nothing applied")
    project.registry.save(wanted)
    report.layers = [apply_layer(project, wanted, layer, version, say=say, timings=report.timings,
                                 confirmed=plan if plan.status is Outcome.PLANNED else None)
                     for layer, plan in zip(layers_of(project.platform.deployment_of(wanted.tier)), plans)]
    report.seconds = time.monotonic() - started
    return report


def tenant_module_version(project: Project, tenant_id: str, say: Say = _quiet) -> tuple[str, float | None]:
    """The module version to render a tenant with: the one it runs (only `invoke fleet.rollout`
    moves a tenant to another), else the current one, synthesised if new. (version, seconds)"""
    pinned = project.tenant_module_version(tenant_id)
    if pinned and project.modules_ready(pinned):
        return pinned, None
    if pinned:
        say(f"module version {pinned} of tenant {tenant_id} is no longer synthesised: using the current one")
    return project.ensure_modules(say)


def describe_plan(layers: list[LayerOutcome]) -> str:
    lines = []
    for layer in layers:
        lines.append(f"{layer.workspace}: {layer.note or layer.changes}")
        lines += [f"  {action:>8} {address}" for action, address in layer.changes.actions]
    return "\n".join(lines)


# -- offboarding -------------------------------------------------------------------------------------
@one_run_per_tenant(_check_offboard)
def offboard(project: Project, *, tenant_id: str, confirm: Confirm, say: Say = _quiet,
             skip_backup: bool = False) -> Report:
    """Final backup, pooled rows, both layers, verification, state, tenant file: tenantform/offboarding.py."""
    from tenantform import offboarding

    return offboarding.offboard(project, tenant_id=tenant_id, confirm=confirm, say=say, skip_backup=skip_backup)


def forget_tenant(project: Project, tenant: Tenant, report: Report) -> None:
    """The last step of an offboarding on any target: the tenant's roots, records and file."""
    names = tenant_names(tenant.id, platform_name=project.platform.name)
    for layer in LAYERS:
        workspace = names.workspace(layer)
        shutil.rmtree(project.workspace_dir(workspace), ignore_errors=True)
        project.records.remove(workspace)
    project.registry.remove(tenant.id)
    report.removed.append(str(project.registry.path(tenant.id)))


# -- listing and synthesis ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TenantRow:
    tenant_id: str
    tier: str
    states: dict[str, str]
    module_version: str
    problem: str = ""
    """A malformed tenant file: every problem it has, one line (the row's states say "invalid")."""
    deployment: str = "?"
    """pool or silo as the tier derives it; both when the catalogue says otherwise (deployment_guard)."""


def list_tenants(project: Project) -> list[TenantRow]:
    from tenantform.deployment_guard import catalogue_deployments, describe
    from tenantform.tenant_files import load_each  # a malformed file is one row, not the end of the list

    rows = []
    actual = catalogue_deployments(project)
    tenants, broken = load_each(project.registry)
    for bad in broken:
        rows.append(TenantRow(bad.tenant_id, "?", {layer: "invalid tenant file" for layer in LAYERS}, "",
                              problem=bad.message))
    for tenant in tenants:
        names = tenant_names(tenant.id, platform_name=project.platform.name)
        states, version = {}, ""
        for layer in LAYERS:
            record = project.records.get(names.workspace(layer))
            states[layer] = f"{record.status} {record.at}" if record else "never run"
            if record and layer == INFRA:
                version = record.module_version
        rows.append(TenantRow(tenant.id, tenant.tier.value, states, version,
                              deployment=describe(project.platform.deployment_of(tenant.tier), actual.get(tenant.id))))
    return sorted(rows, key=lambda row: row.tenant_id)


def synth_all(project: Project, *, say: Say = _quiet) -> dict[str, Any]:
    """Synthesise the module version, both platform workspaces and every tenant's roots."""
    started = time.monotonic()
    tenants = project.registry.all()  # validate every file before writing anything
    version, module_seconds = project.ensure_modules(say)
    platform_seconds = project.ensure_platform_synth(say)
    written = 0
    for tenant in tenants:
        for layer in layers_of(project.platform.deployment_of(tenant.tier)):
            workspace = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
            written += write_root(project.workspace_dir(workspace), project.render_root(tenant, layer, version))
    return {"module_version": version, "module_synth_seconds": module_seconds,
            "platform_synth_seconds": platform_seconds, "tenants": len(tenants),
            "roots_changed": written, "seconds": time.monotonic() - started}


# -- the state bucket ----------------------------------------------------------------------------
def bootstrap(project: Project) -> BootstrapResult:
    """Create the state bucket with its protections, or re-apply those missing (local, aws)."""
    return project.target.bootstrap()
