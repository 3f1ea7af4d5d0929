"""platform.*: the shared platform workspaces."""

from __future__ import annotations

from invoke import Context, task

from tenantform import workflows
from tenantform.cli._cli import confirmer, console, project, run, say


def _print_outputs(outcome: workflows.LayerOutcome) -> None:
    console.print(f"{outcome.workspace}: {outcome.status} ({outcome.changes}); log {outcome.log}")
    for key, value in sorted(outcome.outputs.items()):
        console.print(f"  {key} = {value}")


@task(help={"target": "local (default), aws or tfc"})
def plan(c: Context, target=None):  # noqa: ANN001, ANN201
    """Synthesise and plan the platform workspace."""
    proj = project(c, target=target)
    _print_outputs(run(lambda: workflows.deploy_platform(proj, say=say, plan_only=True)))


@task(help={"target": "local (default), aws or tfc"})
def deploy(c: Context, target=None):  # noqa: ANN001, ANN201
    """Synthesise, plan and apply the platform workspace; print its outputs."""
    proj = project(c, target=target)
    _print_outputs(run(lambda: workflows.deploy_platform(proj, say=say)))


@task(help={"target": "local (default), aws or tfc", "yes": "do not ask for confirmation",
            "force": "destroy even while tenants exist (their layers then lose the platform)"})
def destroy(c: Context, target=None, yes=False, force=False):  # noqa: ANN001, ANN201
    """Destroy the platform workspace (refuses while tenants exist unless --force)."""
    proj = project(c, target=target)
    outcome = run(lambda: workflows.destroy_platform(proj, confirm=confirmer(yes), force=force, say=say))
    _print_outputs(outcome)
