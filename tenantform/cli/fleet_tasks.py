"""fleet.*: plan, apply, drift checks and module rollouts over every tenant workspace.

    invoke fleet.plan                              # what changed since the last apply, planned
    invoke fleet.apply tenants=acme,globex         # a selection; also tier=premium layer=infra
    invoke fleet.apply --retry-failed              # only what failed in the last run
    invoke fleet.drift                             # every workspace, refreshed: who drifted?
    invoke fleet.rollout canary=1 wave=10          # move tenants to the current module version
    invoke fleet.status                            # which tenant runs which module version
"""

from __future__ import annotations

import json as _json
import threading
from pathlib import Path
from typing import Any

from invoke import Context, task
from invoke.exceptions import Exit
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tenantform import fleet, ledger
from tenantform.cli._cli import confirmer, console, err, plural, project, run
from tenantform.fleet import Mode, Outcome, RunReport, Selection, WorkspaceResult
from tenantform.project import Project

SELECT_HELP = {
    "tenants": "comma-separated tenant ids (default: every tenant); also tenants=a,b",
    "tier": "only tenants of this tier: basic, standard, premium or platinum",
    "layer": "infra, apps or all (default all; apps is planned only with a configured cluster)",
    "parallel": "workspaces run at once (default: tenantform.parallelism, the number of cores)",
    "target": "local (default), aws or tfc; overrides tenantform.target",
    "lock_timeout": "how long terraform waits for a held state lock, e.g. 60s (default tenantform.lock_timeout)",
}
RUN_HELP = {
    **SELECT_HELP,
    "force": "plan every selected workspace, changed or not",
    "retry_failed": "run only the workspaces that failed (or were skipped) in the last fleet run",
    "report_file": "write the run's JSON report here (schema tenantform.fleet-report v1, see README)",
    "summary_file": "append a Markdown summary here (default: $GITHUB_STEP_SUMMARY when set)",
}
APPLY_HELP = {
    **RUN_HELP,
    "allow_replace": "let this run destroy/replace these stateful resources: types or addresses, comma-separated",
    "override_policy": "tfc: override soft-failed policy checks (default: discard the run and fail the workspace)",
    "yes": "apply without asking (unattended, CI); without it the plans are shown first and you are asked",
}

ICONS = {Outcome.APPLIED: "[green]✓[/green]", Outcome.NO_CHANGES: "[green]✓[/green]",
         Outcome.IN_SYNC: "[green]✓[/green]", Outcome.UP_TO_DATE: "[green]✓[/green]",
         Outcome.CHANGES: "[yellow]~[/yellow]", Outcome.DRIFTED: "[yellow]![/yellow]",
         Outcome.FAILED: "[red]✗[/red]", Outcome.SKIPPED: "[dim]-[/dim]", Outcome.SYNTHESISED: "[dim]-[/dim]",
         Outcome.REFUSED: "[red]✋[/red]"}


def _int(name: str, value: Any, *, minimum: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise Exit(f"error: field '{name}' is {value!r}; allowed: a whole number >= {minimum}", code=2)
    return number


def _selection(args: dict[str, Any]) -> Selection:
    return run(lambda: fleet.parse_selection(tenants=args.get("tenants"), tier=args.get("tier"),
                                             layer=args.get("layer")))


def _project(c: Context, args: dict[str, Any]) -> Project:
    parallel = _int("parallel", args.get("parallel"), minimum=1)
    return project(c, target=args.get("target"), lock_timeout=args.get("lock_timeout"), parallelism=parallel)


# -- progress --------------------------------------------------------------------------------------------
def _line(result: WorkspaceResult, *, markup: bool) -> str:
    detail = {Outcome.FAILED: result.message, Outcome.SKIPPED: result.message, Outcome.REFUSED: result.message,
              Outcome.DRIFTED: "drifted: " + ", ".join(result.drifted)}.get(result.outcome, "")
    if result.outcome in (Outcome.CHANGES, Outcome.APPLIED, Outcome.NO_CHANGES):
        detail = result.changes
    text = (f"{result.workspace}: {result.outcome}" + (f" ({detail})" if detail else "")
            + (f" {result.seconds:.1f} s" if result.seconds else "") + (f"; log {result.log}" if result.log else ""))
    if not markup:
        return text
    return f"{ICONS.get(result.outcome, '')} " + text.replace("[", r"\[")


class ConsoleListener(fleet.Listener):
    """A live bar and one line per workspace on a terminal; plain lines otherwise."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tty = console.is_terminal
        self.progress: Progress | None = None
        self.task_id: Any = None
        self.running: dict[str, None] = {}
        self.lock = threading.Lock()

    def run_started(self, *, total: int, to_run: int, parallel: int, mode: Mode) -> None:
        message = (f"fleet.{mode}: {total} workspace{'s' if total != 1 else ''} selected, {to_run} to run, "
                   f"{parallel} at a time")
        if not self.tty:
            console.print(message)
            return
        console.print(message)
        if to_run:
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
            self.task_id = self.progress.add_task("starting", total=to_run)
            self.progress.start()

    def _describe(self) -> str:
        names = list(self.running)
        return ("running " + ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")) if names \
            else "waiting"

    def workspace_started(self, work: fleet.Work) -> None:
        with self.lock:
            self.running[work.workspace] = None
            if self.progress is not None:
                self.progress.update(self.task_id, description=self._describe())

    def workspace_finished(self, result: WorkspaceResult) -> None:
        with self.lock:
            self.running.pop(result.workspace, None)
            if self.progress is not None:
                self.progress.console.print(_line(result, markup=True))
                self.progress.update(self.task_id, advance=1, description=self._describe())
            else:
                console.print(_line(result, markup=False), markup=False)

    def note(self, message: str) -> None:
        with self.lock:
            (self.progress.console if self.progress else err).print(f"[dim]•[/dim] {message}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def run_finished(self, report: RunReport) -> None:
        self.close()
        _summary(report, self.root)


def _short(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _summary(report: RunReport, root: Path) -> None:
    shown = [r for r in report.results if r.outcome is not Outcome.UP_TO_DATE
             and r.outcome is not Outcome.SYNTHESISED]
    if shown:
        table = Table(title=f"fleet.{report.mode}: {report.selection.describe()}", title_justify="left")
        for column in ("workspace", "result", "changes", "why", "log"):
            table.add_column(column, overflow="fold")
        for r in shown:
            result = str(r.outcome)
            if r.outcome in (Outcome.FAILED, Outcome.SKIPPED, Outcome.REFUSED):
                result += ": " + (r.message if len(r.message) <= 90 else r.message[:87] + "...")
            elif r.outcome is Outcome.DRIFTED:
                result += ": " + ", ".join(r.drifted)
            style = {Outcome.FAILED: "red", Outcome.DRIFTED: "yellow"}.get(r.outcome)
            table.add_row(r.workspace, result, r.changes if r.planned and r.outcome is not Outcome.FAILED else "-",
                          r.reason or "-", _short(r.log, root) if r.log else "-", style=style)
        console.print(table)
    for note in report.notes:
        console.print(note)
    counts = report.counts
    line = (f"planned {counts['planned']}, changed {counts['changed']}, unchanged {counts['unchanged']}, "
            f"failed {counts['failed']}" + (f", skipped {counts['skipped']}" if counts["skipped"] else "")
            # of the workspaces the run considered (the start line's "selected"): changed + unchanged +
            # failed + skipped add up to it; apps roots written without a cluster are counted apart
            + f" of {plural(counts['selected'] - counts['synthesised'], 'workspace')} in {report.seconds:.1f} s"
            + (f" (change detection {report.detect_seconds:.2f} s, {report.parallel} at a time)")
            + (f"; {plural(counts['synthesised'], 'apps root')} written, not planned (no cluster)"
               if counts["synthesised"] else ""))
    console.print(line)
    if counts["planned"] == 0 and report.results:
        console.print("Up to date: no terraform process was started (and no remote run).")
    if report.run_file:
        console.print(f"Results: {report.run_file}")
    if report.failed:
        console.print(f"[red]{len(report.failed)} failed[/red]: " + ", ".join(r.workspace for r in report.failed)
                      + f". Retry them with `invoke fleet.{'apply' if report.mode is Mode.APPLY else report.mode}"
                      " --retry-failed`.")
    if report.drifted:
        tenants = sorted({r.tenant for r in report.drifted})
        console.print(f"[yellow]Drift in {len(tenants)} tenant(s)[/yellow]: {', '.join(tenants)}. "
                      f"Revert it with `invoke fleet.apply tenants={','.join(tenants)} --force` (it shows the plans "
                      "and asks).")


def _run(c: Context, mode: Mode, args: dict[str, Any], *, force: bool, retry_failed: bool,
         allow_replace: str | None = None, override_policy: bool = False) -> RunReport:
    selection = _selection(args)
    proj = _project(c, args)
    listener = ConsoleListener(proj.settings.project_dir)
    guard = ledger.ReplaceGuard.parse(allow_replace)
    try:
        report = run(lambda: fleet.run_fleet(proj, mode, selection, force=force, retry_failed=retry_failed,
                                             listener=listener, guard=guard, override_policy=override_policy))
    finally:
        listener.close()
    for path in ledger.write(report, report_file=args.get("report_file"), summary_file=args.get("summary_file")):
        console.print(f"Report: {path}")
    return report


# -- tasks ------------------------------------------------------------------------------------------------
@task(help=RUN_HELP)
def plan(c: Context, tenants: str | None = None, tier: str | None = None, layer: str | None = None,
         parallel: str | None = None, target: str | None = None, lock_timeout: str | None = None,
         report_file: str | None = None, summary_file: str | None = None,
         force: bool = False, retry_failed: bool = False) -> None:
    """Plan the tenant workspaces that changed since their last apply (exit 0 none, 2 changes, 1 failures)."""
    args = {"tenants": tenants, "tier": tier, "layer": layer, "parallel": parallel,
                          "target": target, "lock_timeout": lock_timeout, "report_file": report_file,
                          "summary_file": summary_file}
    report = _run(c, Mode.PLAN, args, force=force, retry_failed=retry_failed)
    if ledger.exit_code(report):
        raise Exit(code=ledger.exit_code(report))


@task(help=APPLY_HELP)
def apply(c: Context, tenants: str | None = None, tier: str | None = None, layer: str | None = None,
          parallel: str | None = None, target: str | None = None, lock_timeout: str | None = None,
          report_file: str | None = None, summary_file: str | None = None, allow_replace: str | None = None,
          force: bool = False, retry_failed: bool = False, override_policy: bool = False, yes: bool = False) -> None:
    """Plan the changed tenant workspaces, show the plans, ask (or --yes), apply; one failure never stops the others."""
    args = {"tenants": tenants, "tier": tier, "layer": layer, "parallel": parallel,
                          "target": target, "lock_timeout": lock_timeout, "report_file": report_file,
                          "summary_file": summary_file, "allow_replace": allow_replace}
    if not yes:
        planned = _run(c, Mode.PLAN, {**args, "report_file": None, "summary_file": None}, force=force,
                       retry_failed=retry_failed)
        changed = [r for r in planned.results if r.outcome is Outcome.CHANGES]
        if not changed:
            if ledger.exit_code(planned):
                raise Exit(code=ledger.exit_code(planned))
            console.print("Nothing to apply.")
            return
        flagged = [r for r in changed if ledger.stateful(r.actions)]
        question = (f"Apply the plans of {len(changed)} workspace(s) above"
                    + (f" ({len(flagged)} replace or destroy stateful resources: refused unless --allow-replace)"
                       if flagged else "") + "?")
        if not confirmer(False)(question):
            raise Exit("not confirmed: nothing applied (pass --yes to apply unattended)", code=1)
        args = {**args, "tenants": ",".join(sorted({r.tenant for r in changed}))}
        force, retry_failed = force or retry_failed, False  # the retried workspaces were just planned
    report = _run(c, Mode.APPLY, args, force=force, retry_failed=retry_failed,
                  allow_replace=args.get("allow_replace"), override_policy=override_policy)
    if ledger.exit_code(report):
        raise Exit(code=ledger.exit_code(report))


@task(help={k: v for k, v in RUN_HELP.items() if k != "force"})
def drift(c: Context, tenants: str | None = None, tier: str | None = None, layer: str | None = None,
          parallel: str | None = None, target: str | None = None, lock_timeout: str | None = None,
          report_file: str | None = None, summary_file: str | None = None,
          retry_failed: bool = False) -> None:
    """Plan every selected workspace with refresh and report who drifted (exit 2 on drift, 1 on failure)."""
    args = {"tenants": tenants, "tier": tier, "layer": layer, "parallel": parallel,
                          "target": target, "lock_timeout": lock_timeout, "report_file": report_file,
                          "summary_file": summary_file}
    report = _run(c, Mode.DRIFT, args, force=True, retry_failed=retry_failed)
    if ledger.exit_code(report):
        raise Exit(code=ledger.exit_code(report))


@task(help={"tenants": SELECT_HELP["tenants"], "tier": SELECT_HELP["tier"], "target": SELECT_HELP["target"],
            "json": "print the status as JSON"})
def status(c: Context, tenants: str | None = None, tier: str | None = None, target: str | None = None,
           json: bool = False) -> None:
    """Show which module version each tenant runs, whether it is up to date, and the rollout's progress."""
    args = {"tenants": tenants, "tier": tier, "target": target}
    selection = _selection({**args, "layer": "infra"})
    proj = _project(c, args)
    result = run(lambda: fleet.fleet_status(proj, selection))
    if json:
        console.print_json(_json.dumps(result.to_dict()))
        return
    table = Table(title=f"{len(result.tenants)} tenant{'s' if len(result.tenants) != 1 else ''}; "
                        f"current module version {result.current_version}",
                  title_justify="left")
    for column in ("tenant", "tier", "deployment", "module version", "infra", "at", "next fleet.apply", "rollout"):
        table.add_column(column, overflow="fold")
    for row in result.tenants:
        table.add_row(row.tenant, row.tier, row.deployment or "-", row.version, row.infra, row.at or "-",
                      f"plan ({row.pending})" if row.pending else "up to date", row.rollout or "-",
                      style="red" if row.infra == "failed" else None)
    console.print(table)
    console.print("Module versions: " + ", ".join(f"{v} ({n} tenant{'s' if n != 1 else ''})"
                                                  for v, n in result.versions.items()))
    rollout = fleet.load_rollout(proj)
    if rollout is not None:
        console.print(rollout.describe().capitalize())
    if result.last_run:
        counts = result.last_run.get("counts", {})
        console.print(f"Last run: fleet.{result.last_run.get('mode')} finished {result.last_run.get('finished_at')}: "
                      + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _stop_for_destructive_preview(proj: Project, started: fleet.Rollout) -> bool:
    """Plan the first wave at the new version; list what it replaces or deletes and stop if anything."""
    from tenantform.rollout_preview import preview_first_wave

    listener = ConsoleListener(proj.settings.project_dir)
    try:
        preview = run(lambda: preview_first_wave(proj, started, listener=listener))
    finally:
        listener.close()
    for line in preview.failed:
        console.print(f"[red]preview plan failed[/red] {line}")
    if not preview.destructive:
        return False
    console.print(f"[yellow]The move to {started.target_version} replaces or deletes (first wave's plan):[/yellow]")
    for line in preview.destructive:
        console.print(f"  {line}")
    allow = f" --allow-replace={','.join(preview.stateful_types)}" if preview.stateful_types else ""
    console.print(f"Nothing applied. Run `invoke fleet.rollout{allow}` to apply wave 1 (docs/fleet.md, \"Module "
                  "versions and rollouts\", says what a replaced user pool means), or `invoke fleet.rollout --abort`.")
    return True


@task(help={**{k: SELECT_HELP[k] for k in ("tenants", "tier", "parallel", "target", "lock_timeout")},
            "version": "module version to roll out (default: the current sources, synthesised if new)",
            "canary": "tenants in the first wave (default 1)",
            "wave": "tenants in each later wave (default 10)",
            "on_failure": "pause (default: finish the wave, then stop) or halt (start nothing more)",
            "waves": "waves to run now: a number (default 1) or all",
            "abort": "end the rollout in progress; tenants keep the version they run now",
            "resume": "go on with a halted rollout (retries its failures first)",
            "allow_replace": APPLY_HELP["allow_replace"]})
def rollout(c: Context, tenants: str | None = None, tier: str | None = None, version: str | None = None,
            canary: str | None = None, wave: str | None = None, on_failure: str | None = None,
            waves: str | None = None, parallel: str | None = None, target: str | None = None,
            lock_timeout: str | None = None, abort: bool = False, resume: bool = False,
            allow_replace: str | None = None) -> None:
    """Move tenants to a module version in waves (canary first); run again for the next wave."""
    args = {"tenants": tenants, "tier": tier, "version": version, "canary": canary, "wave": wave,
            "on_failure": on_failure, "waves": waves, "parallel": parallel, "target": target,
            "lock_timeout": lock_timeout}
    proj = _project(c, args)
    if abort:
        ended = run(lambda: fleet.abort_rollout(proj))
        console.print(f"Aborted the rollout to {ended.target_version}; tenants keep the version they run now "
                      "(`invoke fleet.status`).")
        return
    current = fleet.load_rollout(proj)
    starting = any(args[k] not in (None, "") for k in ("tenants", "tier", "version", "canary", "wave", "on_failure"))
    if current is None or not current.active:
        if resume:
            raise Exit("error: no rollout in progress to resume", code=2)
        try:
            on_fail = fleet.OnFailure(args["on_failure"] or "pause")
        except ValueError:
            raise Exit(f"error: field 'on_failure' is {args['on_failure']!r}; allowed: pause, halt", code=2) from None
        selection = _selection({**args, "layer": None})
        canary_n = _int("canary", args["canary"], minimum=0)
        wave_n = _int("wave", args["wave"], minimum=1)
        started = run(lambda: fleet.start_rollout(
            proj, selection, version=args["version"], canary=1 if canary_n is None else canary_n,
            wave=wave_n or 10, on_failure=on_fail, say=lambda m: err.print(f"[dim]•[/dim] {m}")))
        if started is None:
            console.print("Nothing to roll out: every selected tenant already runs "
                          f"{args['version'] or proj.module_version()}.")
            return
        console.print(f"Rollout to {started.target_version}: {len(started.waves)} waves "
                      + " | ".join(", ".join(w) for w in started.waves[:4]) + (" | ..." if len(started.waves) > 4 else ""))
        if _stop_for_destructive_preview(proj, started):
            return
    elif starting:
        raise Exit(f"error: a {current.describe()}; run `invoke fleet.rollout` (no arguments) to continue it "
                   "or `invoke fleet.rollout --abort` to end it", code=2)
    count = None if str(args["waves"]).strip() == "all" else (_int("waves", args["waves"], minimum=1) or 1)
    listener = ConsoleListener(proj.settings.project_dir)
    try:
        report = run(lambda: fleet.advance_rollout(proj, waves=count, listener=listener, resume=resume,
                                                   guard=ledger.ReplaceGuard.parse(allow_replace)))
    finally:
        listener.close()
    if report.rollout is not None:
        console.print(report.rollout.describe().capitalize())
    console.print(report.message)
    if not report.ok:
        raise Exit(code=1)

