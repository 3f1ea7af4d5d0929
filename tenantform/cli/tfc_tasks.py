"""tfc.*: the HCP Terraform / Terraform Enterprise target (docs/tfc.md)."""

from __future__ import annotations

from invoke import Context, task
from invoke.exceptions import Exit

from tenantform.cli._cli import console, run, settings
from tenantform.errors import TenantformError

_MARKS = {"ok": "[green]ok  [/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]",
          "skip": "[dim]skip[/dim]"}


@task
def doctor(c: Context):  # noqa: ANN201
    """Check the tfc target: settings, token, organization, project, permissions, variable sets."""
    from tenantform import tfc  # pytfe costs ~1 s to import: only for tfc commands
    from tenantform.tfc_target import SETTINGS_SOURCE

    try:
        config = tfc.tfc_settings_from_mapping(settings(c).tfc or {}, source=SETTINGS_SOURCE)
    except TenantformError as exc:
        raise Exit(f"FAIL settings: {exc}", code=1) from None
    console.print(f"tfc: organization {config.organization!r}, project {config.project!r} on "
                  f"{config.hostname} (API {config.api_address}), execution mode {config.execution_mode}")
    checks = run(lambda: tfc.doctor(config))
    for check in checks:
        console.print(f"{_MARKS[check.status]} {check.name}: {check.detail}")
    failed = [check.name for check in checks if check.status == "fail"]
    if failed:
        raise Exit(f"tfc.doctor: {len(failed)} check(s) failed: {', '.join(failed)}", code=1)
    console.print("tfc.doctor: every check passed")
