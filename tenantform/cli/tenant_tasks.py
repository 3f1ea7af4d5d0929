"""The tenant tasks (onboard, update, offboard, tenants) and synth, bootstrap: the root of the collection.

Thin: parse arguments, call the orchestration (tenantform/), print the result. tasks.py assembles
this module's TASKS and the namespaced task modules of this package into invoke's collection.

    invoke onboard tenant=acme            # also: invoke onboard --tenant acme --tier premium
    invoke --list                         # every task, with a one-line description
"""

from __future__ import annotations

from invoke import Context, task
from invoke.exceptions import Exit
from rich.table import Table

from tenantform import workflows
from tenantform.cli._cli import confirmer, console, err, plural, project, run, say
from tenantform.cli._program import usage_error
from tenantform.workflows import Report

TENANT_HELP = {
    "tenant": "tenant id: a DNS label (lowercase letters, digits, -), e.g. tenant=acme",
    "tier": "basic, standard, premium or platinum (a new tenant: default basic)",
    "email": "admin e-mail (a new tenant: default admin@<tenant>.example.com)",
    "name": "company name (a new tenant: default from the tenant id)",
    "target": "local (default), aws or tfc; overrides tenantform.target",
}


# Outputs that are empty by design in some set-ups, and why (printed instead of nothing).
EMPTY_OUTPUTS = {"tenant_url": "no custom domain: set `domain` in platform.toml for <tenant>.app.<domain>"}


def _require(name: str, value: object, placeholder: str = "<id>") -> None:
    if value in (None, ""):
        raise usage_error(f"field '{name}' is missing; allowed: {name}={placeholder} or --{name} {placeholder}")


def _print_report(report: Report, *, verb: str) -> None:
    tenant = report.tenant
    table = Table(title=f"{verb} {tenant.id if tenant else ''} ({tenant.tier if tenant else ''}), "
                        f"module {report.module_version}", title_justify="left")
    for column in ("workspace", "result", "add", "change", "destroy", "log"):
        table.add_column(column, overflow="fold")
    for layer in report.layers:
        c = layer.changes
        table.add_row(layer.workspace, layer.status, str(c.add), str(c.change), str(c.remove), layer.log or "-")
    console.print(table)
    if verb != "update":  # update showed each note with its plan, before asking
        for layer in report.layers:
            if layer.note:
                console.print(f"{layer.workspace}: {layer.note}")
    for layer in report.layers:
        if layer.outputs:
            console.print(f"[bold]{layer.workspace} outputs[/bold]")
            for key, value in sorted(layer.outputs.items()):
                shown = value if value != "" or key not in EMPTY_OUTPUTS else f"(empty: {EMPTY_OUTPUTS[key]})"
                console.print(f"  {key} = {shown}", markup=False)
    for path in report.removed:
        console.print(f"removed {path}")
    for kept in report.kept:
        console.print(f"kept {kept}")
    if verb == "onboard" and not report.changed:
        console.print("No changes: tenant is up to date.")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items() if v)
    console.print(f"Done in {report.seconds:.1f} s" + (f" ({timings})" if timings else "") + ".")


@task(help=TENANT_HELP)
def onboard(c: Context, tenant=None, tier=None, email=None, name=None, target=None):  # noqa: ANN001
    """Onboard a tenant: write tenants/<id>.toml if new, synthesise, plan and apply its infra layer (apps: with a cluster)."""
    _require("tenant", tenant)
    proj = project(c, target=target)
    report = run(lambda: workflows.onboard(proj, tenant_id=tenant, tier=tier, email=email, name=name, say=say))
    _print_report(report, verb="onboard")


@task(help={**TENANT_HELP, "tier": "basic, standard, premium or platinum (default: unchanged)",
            "email": "admin e-mail (default: unchanged)", "name": "company name (default: unchanged)",
            "yes": "apply without asking after showing the plan"})
def update(c: Context, tenant=None, tier=None, email=None, name=None, target=None, yes=False):  # noqa: ANN001
    """Change a tenant (tier, e-mail, name): show the plan, then apply that tenant only."""
    _require("tenant", tenant)
    proj = project(c, target=target)
    report = run(lambda: workflows.update(proj, tenant_id=tenant, tier=tier, email=email,
                                          name=name, say=say, confirm=confirmer(yes)))
    _print_report(report, verb="update")


@task(help={"tenant": TENANT_HELP["tenant"], "target": TENANT_HELP["target"],
            "yes": "do not ask for confirmation",
            "skip-backup": "take NO final backup of the tenant's order table and "
                           "pooled products (they are deleted for good)"})
def offboard(c: Context, tenant=None, target=None, yes=False, skip_backup=False):  # noqa: ANN001
    """Offboard a tenant: final backup, pooled rows, both layers, state objects and tenant file."""
    _require("tenant", tenant)
    proj = project(c, target=target)
    report = run(lambda: workflows.offboard(proj, tenant_id=tenant, confirm=confirmer(yes), say=say,
                                            skip_backup=skip_backup))
    _print_report(report, verb="offboard")


@task(help={"target": TENANT_HELP["target"]})
def tenants(c: Context, target=None):  # noqa: ANN001
    """List tenants with their tier, module version and the last known state of each layer."""
    proj = project(c, target=target)
    rows = run(lambda: workflows.list_tenants(proj))
    broken = [row for row in rows if row.problem]
    title = plural(len(rows) - len(broken), "tenant") + (f", {plural(len(broken), 'invalid tenant file')}"
                                                          if broken else "")
    table = Table(title=title, title_justify="left")
    for column in ("tenant", "tier", "deployment", "module", "infra", "apps"):
        table.add_column(column)
    for row in rows:
        apps = "- (pooled: no apps workspace)" if row.deployment == "pool" else row.states["apps"]
        table.add_row(row.tenant_id, row.tier, row.deployment, row.module_version or "-", row.states["infra"], apps)
    console.print(table)
    for row in broken:  # listed above, every problem of each file here; bad input exits 2
        err.print(f"error: {row.problem}", markup=False)
    if broken:
        raise Exit(code=2)


@task(help={"target": TENANT_HELP["target"]})
def synth(c: Context, target=None):  # noqa: ANN001
    """Synthesise the tenant module version, both platform workspaces and every tenant root."""
    proj = project(c, target=target)
    result = run(lambda: workflows.synth_all(proj, say=say))

    def took(seconds: float | None, otherwise: str) -> str:
        return f"synthesised in {seconds:.1f} s" if seconds else otherwise

    console.print(f"module {result['module_version']} ({took(result['module_synth_seconds'], 'already synthesised')}); "
                  f"platform ({took(result['platform_synth_seconds'], 'unchanged')}); "
                  f"{plural(result['tenants'], 'tenant')}, {plural(result['roots_changed'], 'root')} changed; "
                  f"{result['seconds']:.1f} s in all. Output: {proj.settings.out_dir}")


@task(help={"target": "aws (creates the bucket in the account) or local (in the emulator)"})
def bootstrap(c: Context, target=None):  # noqa: ANN001
    """Create the state bucket (versioned, KMS-encrypted, private, TLS-only) or re-apply its protections."""
    proj = project(c, target=target)
    result = run(lambda: workflows.bootstrap(proj))
    console.print(f"state bucket {result.bucket}: {'created' if result.created else 'exists'}")
    for change in result.changes:
        console.print(f"  {change}")
    if not result.changes:
        console.print("  nothing to change: every protection was in place")
    for skipped in result.skipped:
        console.print(f"  not applied on this target: {skipped}")


# The root collection's own tasks (tasks.py adds the namespaced modules).
TASKS = (onboard, update, offboard, tenants, synth, bootstrap)
