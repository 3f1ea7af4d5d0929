"""The `[tfc]` settings of one environment and the API token (read from the environment only)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tenantform.errors import InvalidInput
from tenantform.tfc.errors import TokenMissing

DEFAULT_HOSTNAME = "app.terraform.io"
ExecutionMode = Literal["remote", "agent"]
EXECUTION_MODES: tuple[str, ...] = ("remote", "agent")

_HOSTNAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")


@dataclass(frozen=True, kw_only=True)
class TfcSettings:
    """The `[tfc]` settings of one environment (see docs/tfc.md, "Configuration")."""

    organization: str
    """HCP Terraform organization name."""
    project: str
    """Project that holds every workspace of this environment (one project per environment)."""
    hostname: str = DEFAULT_HOSTNAME
    """HCP Terraform or Terraform Enterprise host; used in `cloud` blocks, token lookup and URLs."""
    address: str | None = None
    """API base URL when it is not `https://<hostname>` (a TFE behind another name, the test stand-in)."""
    terraform_version: str | None = None
    """Exact Terraform version set on every workspace; None leaves the workspace default."""
    execution_mode: ExecutionMode = "remote"
    """`remote` (HCP-hosted runners) or `agent` (your agent pool, `agent_pool_id` required)."""
    agent_pool_id: str | None = None
    """Agent pool id (`apool-...`) for `execution_mode = "agent"`."""
    variable_sets: tuple[str, ...] = ()
    """Names of existing variable sets attached to every workspace (cloud credentials live there)."""
    plan_only: bool = False
    """Default for runs: speculative plans that can never be applied."""
    poll_interval: float = 3.0
    """Seconds between status reads of a configuration version or run."""
    run_timeout: float = 3600.0
    """Seconds a run may take before we stop waiting (the run itself keeps going)."""
    ca_bundle: str | None = None
    """CA bundle for a Terraform Enterprise with a private CA."""
    enable_kubernetes_runs: bool = True
    """Run the Kubernetes workspaces (`tenant-<id>-apps`, `platform-k8s`) remotely too. Their
    providers authenticate to EKS with `aws eks get-token`, so the runners need the AWS CLI and
    a route to the cluster endpoint; false writes those roots without running them."""

    def __post_init__(self) -> None:
        src = "tfc settings"
        if not isinstance(self.organization, str) or not _NAME_PATTERN.fullmatch(self.organization):
            raise InvalidInput(field="organization", problem=f"is {self.organization!r}",
                               allowed="an organization name (letters, digits, '-', '_')",
                               source=src)
        if not isinstance(self.project, str) or not self.project.strip():
            raise InvalidInput(field="project", problem=f"is {self.project!r}",
                               allowed="the name of an existing project", source=src)
        if not isinstance(self.hostname, str) or not _HOSTNAME_PATTERN.fullmatch(self.hostname):
            raise InvalidInput(field="hostname", problem=f"is {self.hostname!r}", source=src,
                               allowed="a host name without scheme or path, e.g. app.terraform.io")
        if self.address is not None and not re.fullmatch(r"https?://[^/\s]+/?", self.address):
            raise InvalidInput(field="address", problem=f"is {self.address!r}", source=src,
                               allowed="a base URL like https://tfe.example.com")
        if self.terraform_version is not None and not _VERSION_PATTERN.fullmatch(self.terraform_version):
            raise InvalidInput(field="terraform_version", problem=f"is {self.terraform_version!r}",
                               allowed="an exact version such as 1.11.4", source=src)
        if self.execution_mode not in EXECUTION_MODES:
            raise InvalidInput(field="execution_mode", problem=f"is {self.execution_mode!r}",
                               allowed=", ".join(EXECUTION_MODES), source=src)
        if self.execution_mode == "agent" and not self.agent_pool_id:
            raise InvalidInput(field="agent_pool_id", problem="is missing", source=src,
                               allowed="an agent pool id (apool-...) when execution_mode is agent")
        if self.execution_mode != "agent" and self.agent_pool_id:
            raise InvalidInput(field="agent_pool_id", problem="is set", source=src,
                               allowed="only with execution_mode = \"agent\"")
        if not isinstance(self.variable_sets, tuple) or not all(
                isinstance(v, str) and v for v in self.variable_sets):
            raise InvalidInput(field="variable_sets", problem=f"is {self.variable_sets!r}",
                               allowed="a list of variable set names", source=src)
        if self.poll_interval <= 0 or self.run_timeout <= 0:
            raise InvalidInput(field="poll_interval/run_timeout", problem="is not positive",
                               allowed="a number of seconds > 0", source=src)

    @property
    def api_address(self) -> str:
        return (self.address or f"https://{self.hostname}").rstrip("/")

    def workspace_url(self, workspace: str) -> str:
        return f"https://{self.hostname}/app/{self.organization}/workspaces/{workspace}"

    def run_url(self, workspace: str, run_id: str) -> str:
        return f"{self.workspace_url(workspace)}/runs/{run_id}"


def tfc_settings_from_mapping(data: Mapping[str, Any], *, source: str) -> TfcSettings:
    """Build settings from a `[tfc]` TOML table; errors name the file, the key and what is allowed."""
    known = {f for f in TfcSettings.__dataclass_fields__}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(field=f"tfc.{unknown[0]}", problem="is not a tfc setting",
                           allowed=", ".join(sorted(known)), source=source)
    for required in ("organization", "project"):
        if required not in data:
            raise InvalidInput(field=f"tfc.{required}", problem="is missing", source=source,
                               allowed="a string")
    values = dict(data)
    if "variable_sets" in values:
        v = values["variable_sets"]
        if not isinstance(v, list | tuple):
            raise InvalidInput(field="tfc.variable_sets", problem=f"is {v!r}", source=source,
                               allowed="a list of variable set names")
        values["variable_sets"] = tuple(v)
    for flag in ("plan_only", "enable_kubernetes_runs"):
        if flag in values and not isinstance(values[flag], bool):
            raise InvalidInput(field=f"tfc.{flag}", problem=f"is {values[flag]!r}",
                               allowed="true or false", source=source)
    try:
        return TfcSettings(**values)
    except InvalidInput as exc:
        raise InvalidInput(field=f"tfc.{exc.field}", problem=exc.problem, allowed=exc.allowed,
                           source=source) from None


def token_env_vars(hostname: str) -> tuple[str, ...]:
    """Environment variables searched for the API token, in order.

    `TF_TOKEN_<host>` is the variable terraform itself reads (dots become `_`; a `-` may be
    written `__`), so one variable serves both the CLI and this tool; `TFE_TOKEN` is the SDK's.
    """
    host = hostname.lower().split(":", 1)[0]
    names = [f"TF_TOKEN_{host.replace('.', '_')}"]
    if "-" in host:
        names.append(f"TF_TOKEN_{host.replace('-', '__').replace('.', '_')}")
    names.append("TFE_TOKEN")
    return tuple(dict.fromkeys(names))


def find_token(hostname: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(variable name, token) of the first variable set, or None."""
    env = os.environ if environ is None else environ
    for name in token_env_vars(hostname):
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def read_token(hostname: str, environ: Mapping[str, str] | None = None) -> str:
    found = find_token(hostname, environ)
    if found is None:
        names = token_env_vars(hostname)
        raise TokenMissing(
            f"no API token for {hostname}: set {names[0]} (terraform reads it too) or "
            f"{names[-1]} in the environment; create a user or team token at "
            f"https://{hostname}/app/settings/tokens. tenantform never stores it in a file.")
    return found[1]

