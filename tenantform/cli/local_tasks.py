"""local.*: the local target's background AWS emulator."""

from __future__ import annotations

from invoke import Context, task

from tenantform.cli._cli import confirmer, console, settings
from tenantform.local import LocalAws


@task
def status(c: Context):  # noqa: ANN201
    """Show whether the local AWS emulator (moto) is running, and where."""
    server = LocalAws(settings(c).work_dir).current()
    if server is None:
        console.print("local AWS emulator: not running (the next onboard or platform.deploy starts it)")
    else:
        console.print(f"local AWS emulator: running, pid {server.pid}, {server.endpoint}, log {server.log}")


@task(help={"yes": "do not ask for confirmation"})
def down(c: Context, yes=False):  # noqa: ANN001, ANN201
    """Stop the local AWS emulator: every local resource and state file is discarded."""
    local = LocalAws(settings(c).work_dir)
    server = local.current()
    if server is None:
        console.print("local AWS emulator: not running")
        return
    if not confirmer(yes)(f"Stopping moto at {server.endpoint} discards every resource and state "
                          "object of the local target (tenant files stay)."):
        raise SystemExit(1)
    local.stop()
    console.print(f"stopped moto (pid {server.pid})")
