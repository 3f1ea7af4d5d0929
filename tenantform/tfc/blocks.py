"""What a root and a workspace carry on the tfc target: the `cloud` block, remote state reads and
key/value tags (no token, ever)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tenantform.tfc.errors import TfcError
from tenantform.tfc.settings import TfcSettings

_TAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_TAG_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}")
MAX_TAGS = 10
"""Key/value tags per workspace (HCP Terraform's documented limit)."""


def check_tags(workspace: str, tags: Mapping[str, str]) -> None:
    """Keys 1-128, values 1-255 of letters, digits, '-', '_', '.', ':'; at most MAX_TAGS."""
    for key, value in tags.items():
        if not _TAG_KEY.fullmatch(key) or not _TAG_VALUE.fullmatch(value):
            raise TfcError(f"tag {key}={value!r} of {workspace}: keys are 1-128 and values 1-255 "
                           "of letters, digits, '-', '_', '.', ':' (starting with a letter or digit)")
    if len(tags) > MAX_TAGS:
        raise TfcError(f"{workspace}: {len(tags)} tags; HCP Terraform allows {MAX_TAGS} per workspace")


def cloud_block(settings: TfcSettings, workspace_name: str) -> dict[str, Any]:
    """The value of `terraform.cloud` in a root: `{"terraform": {"cloud": cloud_block(...)}}`.

    Replaces the S3 `backend` block (the two are mutually exclusive). Terraform reads the token
    from `TF_TOKEN_<host>` at run time, so nothing secret is written here.
    """
    return {
        "organization": settings.organization,
        "hostname": settings.hostname,
        "workspaces": {"name": workspace_name, "project": settings.project},
    }


def remote_state_config(settings: TfcSettings, workspace_name: str) -> dict[str, Any]:
    """Body of a `terraform_remote_state` data source reading another workspace's outputs.

    `{"data": {"terraform_remote_state": {"platform": remote_state_config(s, "platform")}}}`;
    the reading workspace must be allowed to (WorkspaceSpec.remote_state_from does that).
    """
    return {
        "backend": "remote",
        "config": {
            "hostname": settings.hostname,
            "organization": settings.organization,
            "workspaces": {"name": workspace_name},
        },
    }


def workspace_tags(*, layer: str, tenant_id: str | None = None, tier: str | None = None,
                   module_version: str | None = None) -> dict[str, str]:
    """Key/value tags (HCP "tag bindings") of one workspace."""
    tags = {"managed-by": "tenantform", "layer": layer}
    if tenant_id is not None:
        tags["tenant"] = tenant_id
    if tier is not None:
        tags["tier"] = str(tier)
    if module_version is not None:
        tags["module-version"] = module_version
    return tags

