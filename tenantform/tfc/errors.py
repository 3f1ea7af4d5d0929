"""Errors of the tfc target: each one a sentence the person at the terminal can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantform.errors import TenantformError

if TYPE_CHECKING:
    from tenantform.tfc.models import RunOutcome


class TfcError(TenantformError):
    """An HCP Terraform call failed in a way the person at the terminal can act on."""


class TokenMissing(TfcError):
    """No API token in the environment."""


class RemoteRunFailed(TfcError):
    """A remote run ended errored, discarded, canceled or waiting for a human."""

    def __init__(self, outcome: RunOutcome) -> None:
        self.outcome = outcome
        super().__init__(f"{outcome.workspace}: run {outcome.status}: "
                         f"{outcome.error or 'no error message'} ({outcome.url})")
