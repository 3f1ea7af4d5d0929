"""The `tfc` target: HCP Terraform / Terraform Enterprise workspaces.

`TfcTarget` renders what differs in the synthesised roots (a `cloud` block instead of the S3
backend, the `remote` backend for `terraform_remote_state`), checks the token and holds the API
connection. Runs are the HCP Terraform runner's (tenantform/runners/tfc.py).

Never imports CDKTF; the API token stays in memory (tenantform/tfc.py).
"""

from __future__ import annotations

import threading
from typing import Any

from tenantform.errors import TenantformError
from tenantform.pins import PROVIDER_REQUIREMENTS, REQUIRED_TERRAFORM_VERSION
from tenantform.platform_config import PlatformConfig
from tenantform.targets import Settings, Target, TargetKind
from tenantform.tfc import (
    TfcClient,
    TfcSettings,
    cloud_block,
    read_token,
    remote_state_config,
    tfc_settings_from_mapping,
)

SETTINGS_SOURCE = "invoke.yaml (tenantform.tfc)"


class TfcTarget(Target):
    """HCP Terraform / Terraform Enterprise: state and runs live in remote workspaces."""

    kind = TargetKind.TFC
    runs_here = False

    def __init__(self, settings: Settings, platform: PlatformConfig) -> None:
        super().__init__(settings, platform)
        self.tfc: TfcSettings = tfc_settings_from_mapping(settings.tfc or {}, source=SETTINGS_SOURCE)
        self._client: TfcClient | None = None
        self._lock = threading.Lock()

    # -- rendering (pure; nothing secret) ---------------------------------------------------------
    def terraform_block(self, *, state_key: str, workspace: str, providers: tuple[str, ...]) -> dict[str, Any]:
        return {
            "required_version": REQUIRED_TERRAFORM_VERSION,
            "required_providers": {name: PROVIDER_REQUIREMENTS[name] for name in providers},
            "cloud": cloud_block(self.tfc, workspace),
        }

    def remote_state(self, *, state_key: str, workspace: str) -> dict[str, Any]:
        return remote_state_config(self.tfc, workspace)

    # -- running ------------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Check that a token is in the environment (never written anywhere)."""
        read_token(self.tfc.hostname)

    def tfc_client(self) -> TfcClient:
        """One API connection per command (shared by a fleet's threads)."""
        with self._lock:
            if self._client is None:
                self._client = TfcClient(self.tfc)
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def client(self, service: str):  # noqa: ANN201
        raise TenantformError(f"the tfc target has no local AWS session (asked for {service}): state "
                              "and runs live in HCP Terraform, credentials in its variable sets")

    def data_client(self, service: str):  # noqa: ANN201
        """No AWS session for terraform here (its credentials live in HCP variable sets): tenantform's
        own AWS calls use this machine's (tenantform.aws_profile)."""
        return self.boto3_session().client(service)

    def record_store(self):  # noqa: ANN201
        """Applied records are tags on the workspaces (tenantform/tfc_records.py)."""
        from tenantform.tfc_records import TfcRecordStore

        return TfcRecordStore(self)

    def describe(self) -> str:
        return (f"tfc (organization {self.tfc.organization}, project {self.tfc.project} on "
                f"{self.tfc.hostname}, region {self.platform.region})")
