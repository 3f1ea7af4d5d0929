"""`invoke check`: the security and isolation gates (tenantform/checks/, docs/security.md)."""

from __future__ import annotations

from invoke import Context, task
from invoke.exceptions import Exit
from rich.table import Table

from tenantform import checks
from tenantform.cli._cli import console, project, run, say
from tenantform.cli._program import usage_error


@task(help={"only": f"comma-separated subset of {', '.join(checks.TOOLS)} (default: all)",
            "verbose": "also list accepted findings with their reasons",
            "target": "local (default), aws or tfc; overrides tenantform.target"})
def check(c: Context, only="", verbose=False, target=None):  # noqa: ANN001, ANN201
    """Run checkov, parliament and strict Kubernetes validation on everything synthesised."""
    tools = tuple(t.strip() for t in only.split(",") if t.strip()) or checks.TOOLS
    unknown = sorted(set(tools) - set(checks.TOOLS))
    if unknown:
        raise usage_error(f"field 'only' is {unknown[0]!r}; allowed: a comma-separated subset of "
                          f"{', '.join(checks.TOOLS)}")
    proj = project(c, target=target)
    reports = run(lambda: checks.run_all(proj, tools=tools, say=say))
    table = Table(title="security and isolation checks", title_justify="left")
    # checked/passed count what the tool checks (policies, files, tiers); the findings are counted apart
    for column in ("tool", "checked", "passed", "findings accepted", "findings unexplained", "errors", "seconds"):
        table.add_column(column)
    for r in reports:
        accepted = len(r.findings) - len(r.unexplained)
        table.add_row(r.tool, str(r.checked), str(r.passed), str(accepted),
                      f"[red]{len(r.unexplained)}[/red]" if r.unexplained else "0",
                      f"[red]{len(r.errors)}[/red]" if r.errors else "0", f"{r.seconds:.1f}")
    console.print(table)
    for r in reports:
        if r.note:
            console.print(f"{r.tool}: {r.note}")
        for error in r.errors:
            console.print(f"[red]{r.tool} error[/red]: {error}")
        for f in r.unexplained:
            console.print(f"[red]{r.tool} FAILED[/red] {f.check} {f.target} {f.resource}: {f.message}")
        if verbose:
            for f in r.findings:
                if f.accepted:
                    console.print(f"{r.tool} accepted {f.check} {f.target} {f.resource}: {f.accepted}")
        for entry in r.unused_exceptions:
            console.print(f"[yellow]{r.tool} exception matches nothing (remove it?)[/yellow]: {entry}")
    console.print(f"Details: {proj.settings.work_dir / 'check' / 'report.json'}; "
                  f"exceptions: {proj.settings.project_dir / checks.EXCEPTIONS_FILE}")
    failed = [r.tool for r in reports if not r.ok]
    if failed:
        raise Exit(f"check failed: {', '.join(failed)} (unexplained findings or errors above)", code=1)
    console.print("All checks passed (accepted findings are listed in the exceptions file).")
