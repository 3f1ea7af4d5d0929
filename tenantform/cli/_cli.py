"""Command-line plumbing shared by the task modules: settings, output (arguments: _program.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

from invoke import Context
from invoke.exceptions import Exit
from rich.console import Console

from tenantform import progress
from tenantform.cli._program import project_dir
from tenantform.errors import InvalidInput, TenantformError
from tenantform.project import Project
from tenantform.targets import Settings

# Off a terminal (a pipe, a CI log) rich would assume 80 columns and wrap table cells inside workspace
# names and log paths: there, lines are as long as they need to be (COLUMNS, when set, still rules).
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 1000
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 tenant`, `2 tenants`."""
    return f"{count} {noun if count == 1 else (plural_form or noun + 's')}"


def settings(c: Context, **overrides: Any) -> Settings:
    data = dict(c.config.get("tenantform", {}) or {})
    data.update({k: v for k, v in overrides.items() if v not in (None, "")})
    try:
        return Settings.from_mapping(data, project_dir=project_dir())
    except TenantformError as exc:
        raise Exit(f"error: {exc}", code=2) from None


def project(c: Context, **overrides: Any) -> Project:
    try:
        return Project(settings(c, **overrides))
    except TenantformError as exc:
        raise Exit(f"error: {exc}", code=2) from None


def run(job: Callable[[], Any]) -> Any:
    """Run a library call; bad input becomes one line and exit 2, any other TenantformError exit 1."""
    try:
        return job()
    except InvalidInput as exc:
        raise Exit(f"error: {exc}", code=2) from None
    except TenantformError as exc:
        raise Exit(f"error: {exc}", code=1) from None


class ConsoleProgress:
    """terraform's progress (tenantform/progress.py) on stderr: a live line on a terminal, else a line
    every 15 s; the log is named when the command starts."""

    EVERY = 15.0

    def __init__(self) -> None:
        self.status: Any = None
        self.last = 0.0

    def started(self, workspace: str, command: str, log: Path) -> None:
        err.print(f"[dim]•[/dim] terraform {command} in {workspace} (log {log})", markup=True)
        self.last = 0.0
        if err.is_terminal:
            self.status = err.status(f"terraform {command} in {workspace}")
            self.status.start()

    def tick(self, workspace: str, command: str, elapsed: float, working_on: list[str]) -> None:
        doing = ""
        if working_on:
            doing = ", working on " + ", ".join(working_on[:2]) + (f" +{len(working_on) - 2}" if len(working_on) > 2 else "")
        text = f"terraform {command} in {workspace}: {elapsed:.0f} s{doing}"
        if self.status is not None:
            self.status.update(text.replace("[", r"\["))
        elif elapsed - self.last >= self.EVERY:
            err.print(f"  {text}", markup=False)
            self.last = elapsed

    def finished(self, workspace: str, command: str, elapsed: float) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


progress.set_reporter(ConsoleProgress())


def say(message: str) -> None:
    err.print(f"[dim]•[/dim] {message}")


def confirmer(yes: bool) -> Callable[[str], bool]:
    def confirm(description: str) -> bool:
        console.print(description)
        if yes:
            return True
        if not sys.stdin.isatty():
            err.print("refusing to continue without confirmation: pass --yes (no terminal to ask on)")
            return False
        answer = console.input("Proceed? Type 'yes': ")
        return answer.strip().lower() == "yes"

    return confirm
