"""Command-line plumbing shared by the task modules: settings, output (arguments: tasks/_program.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from invoke import Context
from invoke.exceptions import Exit
from rich.console import Console

from tenantform.errors import InvalidInput, TenantformError
from tenantform.project import Project
from tenantform.targets import Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

def settings(c: Context, **overrides: Any) -> Settings:
    data = dict(c.config.get("tenantform", {}) or {})
    data.update({k: v for k, v in overrides.items() if v not in (None, "")})
    try:
        return Settings.from_mapping(data, project_dir=PROJECT_DIR)
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
