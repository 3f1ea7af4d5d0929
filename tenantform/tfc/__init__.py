"""The `tfc` target: HCP Terraform / Terraform Enterprise workspaces and API-driven remote runs.

One HCP workspace per tenant layer (`tenant-<id>-infra`, `tenant-<id>-apps`, `platform`,
`platform-k8s`), all in one project per environment, managed through the official SDK `pytfe`.
Plans and applies run remotely: the synthesised root and the module directories it calls are
uploaded as a configuration version, a run is created, polled, applied when its plan is
acceptable, and reported as a typed `RunOutcome` with the URL a person can open.

Secrets: the API token is read from the environment only (`TF_TOKEN_<host>`, then `TFE_TOKEN`)
and lives in memory: it is never written to disk, never put in a synthesised file, and an
archive that contains it is refused. Cloud credentials come from the user's own variable sets
(or dynamic credentials configured on those sets / the project); nothing is copied from the
local environment.

The package, one reason to change per module: settings (settings, token), blocks (cloud block,
remote state, tags), archive (the configuration upload), models (specs, progress, outcomes),
errors, logs (a run log's errors), http (retries, raw JSON), client (TfcClient: workspaces),
runs (one run followed to its end), doctor. This module re-exports their public names, so
`from tenantform.tfc import X` works.

Nothing here imports CDKTF (docs/architecture.md; README.md, "How it works", on synthesis cost).
"""

from tenantform.tfc.archive import ConfigArchive, build_config_archive, module_directories
from tenantform.tfc.blocks import MAX_TAGS, check_tags, cloud_block, remote_state_config, workspace_tags
from tenantform.tfc.client import TfcClient, api_errors
from tenantform.tfc.doctor import Check, doctor
from tenantform.tfc.errors import RemoteRunFailed, TfcError, TokenMissing
from tenantform.tfc.http import SharedBackoff, first_line, get_json, install_retry_policy, post_json
from tenantform.tfc.logs import error_from_log
from tenantform.tfc.models import SUCCESS_STATUSES, PlanSummary, RunOutcome, RunProgress, WorkspaceRef, WorkspaceSpec
from tenantform.tfc.settings import (DEFAULT_HOSTNAME, EXECUTION_MODES, ExecutionMode, TfcSettings, find_token,
                                     read_token, tfc_settings_from_mapping, token_env_vars)

__all__ = [
    "DEFAULT_HOSTNAME", "EXECUTION_MODES", "MAX_TAGS", "SUCCESS_STATUSES", "Check", "ConfigArchive", "ExecutionMode",
    "PlanSummary", "RemoteRunFailed", "RunOutcome", "RunProgress", "SharedBackoff", "TfcClient", "TfcError",
    "TfcSettings", "TokenMissing", "WorkspaceRef", "WorkspaceSpec", "api_errors", "build_config_archive",
    "check_tags", "cloud_block", "doctor", "error_from_log", "find_token", "first_line", "get_json",
    "install_retry_policy", "module_directories", "post_json", "read_token", "remote_state_config",
    "tfc_settings_from_mapping", "token_env_vars", "workspace_tags",
]
