"""Errors a user can act on. Tasks print them and exit non-zero; nothing else is caught."""

from __future__ import annotations


class TenantformError(Exception):
    """A failure with a message meant for the person at the terminal."""


class InvalidInput(TenantformError):
    """Bad input: names the source, the field and what is allowed."""

    def __init__(self, *, field: str, problem: str, allowed: str, source: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.allowed = allowed
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}field '{field}' {problem}; allowed: {allowed}")


class TerraformFailed(TenantformError):
    """terraform exited non-zero; the message names the workspace, the command and the log."""
