"""Command-line plumbing shared by the task modules: `key=value` arguments, settings, output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from invoke import Context
from invoke.exceptions import Exit
from invoke.parser.parser import ParseMachine
from rich.console import Console

from tenantform.errors import TenantformError
from tenantform.project import Project
from tenantform.targets import Settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# invoke makes every positional argument required. Our tasks take `key=value` words
# (`invoke onboard tenant=acme tier=premium`), in any order, so their positional arguments are
# optional slots: a task listed here only requires the positional arguments named for it.
# (invoke 3.0.3 is pinned; tests/test_cli.py covers this.)
REQUIRED_POSITIONAL: dict[str, tuple[str, ...]] = {}
_complete_context = ParseMachine.complete_context


def _complete_context_with_optional_slots(self: ParseMachine) -> None:
    context = self.context
    if context is None or context.name not in REQUIRED_POSITIONAL:
        return _complete_context(self)
    required = REQUIRED_POSITIONAL[context.name]
    saved = context.positional_args
    context.positional_args = [arg for arg in saved if arg.value is not None or arg.name in required]
    try:
        return _complete_context(self)
    finally:
        context.positional_args = saved


ParseMachine.complete_context = _complete_context_with_optional_slots  # type: ignore[method-assign]


def keyword_words(given: dict[str, Any]) -> dict[str, Any]:
    """Move `key=value` words that landed in positional slots to the argument their key names.

    `invoke onboard tenant=acme email=a@b.example` fills the slots tenant="tenant=acme" and
    tier="email=a@b.example"; this returns tenant="acme", email="a@b.example", tier=None.
    A value whose prefix is not an argument of the task (an e-mail with '=') is left alone.
    """
    result = dict(given)
    words: dict[str, str] = {}
    for param, value in given.items():
        if not isinstance(value, str) or "=" not in value:
            continue
        key, _, rest = value.partition("=")
        key = key.strip().replace("-", "_")
        if key not in given:
            continue
        if key in words:
            raise Exit(f"error: argument {key!r} given twice", code=2)
        words[key] = rest
        result[param] = None
    for key, rest in words.items():
        if result.get(key) not in (None, ""):
            raise Exit(f"error: argument {key!r} given twice", code=2)
        result[key] = rest
    return result


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
    """Run a library call; a TenantformError becomes a one-paragraph message and exit 1."""
    try:
        return job()
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
