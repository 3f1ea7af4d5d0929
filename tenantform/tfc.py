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

Nothing here imports CDKTF (docs/architecture.md; README.md, "How it works", on synthesis cost).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pytfe import TFEClient, TFEConfig
from pytfe.errors import AuthError, NotFound, TFEError
from pytfe.models import (
    ConfigurationVersionCreateOptions,
    ProjectListOptions,
    TagBinding,
    VariableSetApplyToWorkspacesOptions,
    VariableSetListOptions,
    Workspace,
    WorkspaceAddRemoteStateConsumersOptions,
    WorkspaceAddTagBindingsOptions,
    WorkspaceCreateOptions,
    WorkspaceListOptions,
    WorkspaceSettingOverwrites,
    WorkspaceUpdateOptions,
)
from pytfe.models.project import Project

from tenantform.errors import InvalidInput, TenantformError
from tenantform.tfc_http import SharedBackoff, first_line, get_json, install_retry_policy

DEFAULT_HOSTNAME = "app.terraform.io"
ExecutionMode = Literal["remote", "agent"]
EXECUTION_MODES: tuple[str, ...] = ("remote", "agent")

_HOSTNAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$")
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")
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


# --------------------------------------------------------------------------------------------
# Settings and token
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Blocks written into synthesised roots (no token, ever)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Configuration archive
# --------------------------------------------------------------------------------------------

_SKIP_DIRS = {".terraform", "terraform.tfstate.d"}
_SKIP_SUFFIXES = (".tfstate", ".tfstate.backup", ".tfplan", ".tfvars", ".tfvars.json", ".tfrc",
                  ".log")
_SKIP_NAMES = {".terraform.lock.hcl", ".terraformrc", "terraform.rc", "crash.log"}
_HCL_MODULE_SOURCE = re.compile(r'\bsource\s*=\s*"(\.{1,2}/[^"]*)"')


@dataclass(frozen=True, kw_only=True)
class ConfigArchive:
    """A deterministic tar.gz of a root and the local modules it calls."""

    data: bytes
    files: tuple[str, ...]
    """Archive member names (posix paths relative to the archive base)."""
    working_directory: str
    """Path of the root inside the archive; set as the workspace's working directory."""
    sha256: str


def _skipped(rel: PurePosixPath) -> bool:
    if any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts[:-1]):
        return True
    name = rel.name
    return (name in _SKIP_NAMES or name.startswith(".") or name.endswith(_SKIP_SUFFIXES)
            or ".tfstate" in name)


def _local_module_sources(directory: Path) -> Iterator[str]:
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        if path.name.endswith(".tf.json"):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise TfcError(f"{path}: not valid JSON ({exc})") from None
            blocks = doc.get("module", {}) if isinstance(doc, dict) else {}
            items = blocks if isinstance(blocks, list) else [blocks]
            for item in items:
                for body in (item or {}).values():
                    for b in body if isinstance(body, list) else [body]:
                        src = b.get("source") if isinstance(b, dict) else None
                        if isinstance(src, str) and src.startswith(("./", "../")):
                            yield src
        elif path.suffix == ".tf":
            yield from _HCL_MODULE_SOURCE.findall(path.read_text(encoding="utf-8"))


def module_directories(root_dir: Path) -> list[Path]:
    """Every local module directory the root calls, directly or through other modules."""
    root_dir = root_dir.resolve()
    seen: dict[Path, None] = {}
    pending = [root_dir]
    while pending:
        current = pending.pop()
        for src in _local_module_sources(current):
            target = (current / src).resolve()
            if not target.is_dir():
                raise TfcError(f"{current}: module source {src!r} is not a directory "
                               f"({target}); synthesise the module before uploading")
            if target != root_dir and target not in seen:
                seen[target] = None
                pending.append(target)
    return sorted(seen)


def build_config_archive(root_dir: Path, *, base_dir: Path | None = None,
                         forbidden: Iterable[str] = ()) -> ConfigArchive:
    """Pack `root_dir` and the local modules it calls into one tar.gz.

    Members are relative to `base_dir` (default: the deepest directory holding the root and
    every module, i.e. `cdktf.out` for `cdktf.out/workspaces/<ws>` calling
    `../../modules/...`), so relative module sources resolve unchanged and the root is
    uploaded byte for byte; the workspace's working directory points at the root. Left out:
    `.terraform/`, state, plans, tfvars, lock and CLI config files, logs and dotfiles. The
    archive is deterministic (sorted members, zero mtimes and owners), so its sha256 changes
    only when the uploaded configuration does. A file containing any `forbidden` string
    (the API token) is refused.
    """
    root_dir = root_dir.resolve()
    if not root_dir.is_dir():
        raise TfcError(f"{root_dir}: workspace root does not exist; synthesise it first")
    dirs = [root_dir, *module_directories(root_dir)]
    base = base_dir.resolve() if base_dir is not None else Path(os.path.commonpath(dirs))
    for d in dirs:
        if not d.is_relative_to(base):
            raise TfcError(f"{d} is outside the archive base {base}: the uploaded configuration "
                           "would not contain it")
    members: dict[str, bytes] = {}
    bad = [s.encode() for s in forbidden if s]
    for d in dirs:
        for path in sorted(d.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            rel = PurePosixPath(path.relative_to(base).as_posix())
            if _skipped(PurePosixPath(path.relative_to(d).as_posix())):
                continue
            content = path.read_bytes()
            if any(b in content for b in bad):
                raise TfcError(f"refusing to upload {path}: it contains the API token")
            members[str(rel)] = content
    if not any(PurePosixPath(m).parent == PurePosixPath(root_dir.relative_to(base).as_posix())
               and m.endswith((".tf", ".tf.json")) for m in members):
        raise TfcError(f"{root_dir}: no *.tf or *.tf.json file to upload")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(members[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    data = packed.getvalue()
    workdir = root_dir.relative_to(base).as_posix()
    return ConfigArchive(data=data, files=tuple(sorted(members)),
                         working_directory="" if workdir == "." else workdir,
                         sha256=hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class WorkspaceSpec:
    """What one workspace must look like (settings come from TfcSettings)."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    working_directory: str = ""
    description: str = ""
    remote_state_from: tuple[str, ...] = ()
    """Workspaces whose state this one reads with terraform_remote_state (e.g. ("platform",))."""


@dataclass(frozen=True, kw_only=True)
class WorkspaceRef:
    id: str
    name: str
    url: str
    created: bool = False
    changed: tuple[str, ...] = ()
    """Settings ensure_workspace changed (empty when it already matched)."""


@dataclass(frozen=True, kw_only=True)
class RunProgress:
    """One progress event: a configuration upload or a run status change."""

    workspace: str
    phase: Literal["upload", "run"]
    status: str
    url: str
    run_id: str | None
    elapsed: float


@dataclass(frozen=True, kw_only=True)
class PlanSummary:
    additions: int
    changes: int
    destructions: int
    is_destroy: bool
    replaced: tuple[str, ...] = ()
    """`replace <address>` / `delete <address>` of the plan, when the API serves its JSON output."""


SUCCESS_STATUSES = frozenset({"applied", "planned_and_finished", "planned_and_saved"})
"""Final statuses of a run that succeeded (the full list of statuses: tenantform/tfc_runs.py)."""


@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    workspace: str
    run_id: str
    status: str
    url: str
    plan_only: bool
    is_destroy: bool
    has_changes: bool
    additions: int = 0
    changes: int = 0
    destructions: int = 0
    applied: bool = False
    error: str | None = None
    timed_out: bool = False
    config_sha256: str | None = None
    replaced: tuple[str, ...] = ()
    """`replace <address>` / `delete <address>` planned (a run not applied)."""
    drifted: tuple[str, ...] = ()
    """Refresh-only runs: addresses changed outside terraform."""

    @property
    def ok(self) -> bool:
        return self.status in SUCCESS_STATUSES and not self.timed_out

    @property
    def summary(self) -> str:
        counts = f"+{self.additions} ~{self.changes} -{self.destructions}"
        if not self.has_changes:
            what = "no changes"
        elif self.applied:
            what = f"applied {counts}"
        else:
            what = f"plan {counts}"
        return f"{self.workspace}: {self.status} ({what}) {self.url}"

    def raise_for_status(self) -> RunOutcome:
        if not self.ok:
            raise RemoteRunFailed(self)
        return self


@dataclass(frozen=True, kw_only=True)
class Check:
    """One doctor finding; `detail` says what was found or what is missing and how to fix it."""

    name: str
    status: Literal["ok", "fail", "warn", "skip"]
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "warn", "skip")


# --------------------------------------------------------------------------------------------
# Log parsing
# --------------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SOURCE_CONTEXT = re.compile(r"^(with \S+,?$|on \S+ line \d+|\d+:)")


def error_from_log(log: str) -> str | None:
    """The `Error:` diagnostics of a plan or apply log (plain text or structured JSON lines).

    Keeps each error's summary and detail, drops the source-context lines (`with ...`, `on ...
    line N`, quoted code); at most 4000 characters.
    """
    found: list[str] = []
    block: list[str] | None = None

    def close() -> None:
        nonlocal block
        if block:
            found.append(" ".join(block))
        block = None

    for raw in _ANSI.sub("", log).splitlines():
        stripped = raw.strip()
        if stripped.startswith("{"):
            try:
                entry = json.loads(stripped)
            except json.JSONDecodeError:
                entry = None
            if isinstance(entry, dict):
                if entry.get("@level") == "error":
                    diag = entry.get("diagnostic") or {}
                    text = str(entry.get("@message", ""))
                    if diag.get("detail"):
                        text = f"{text}: {diag['detail']}"
                    found.append(text)
                continue
        if stripped.startswith("╵"):
            close()
            continue
        text = stripped.lstrip("│╷").strip()
        if text.startswith("Error:"):
            close()
            block = [text]
        elif block is not None and text and not _SOURCE_CONTEXT.match(text) and len(block) < 6:
            block.append(text)
    close()
    joined = "\n".join(dict.fromkeys(f for f in found if f))
    return joined[:4000] or None


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------

def _status(value: Any) -> str:
    return getattr(value, "value", value) or "unknown"


@contextmanager
def api_errors(workspace: str) -> Iterator[None]:
    """Any error of the SDK, the HTTP layer or a response the SDK cannot parse becomes a TfcError
    `<workspace>: <class>: <first line>`; tenantform's own errors pass unchanged."""
    try:
        yield
    except TenantformError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydantic, httpx, pytfe, KeyError on odd documents
        raise TfcError(f"{workspace}: {first_line(exc)} (`invoke tfc.doctor` checks the host, token and "
                       "permissions)") from exc


class TfcClient:
    """An authenticated connection to one organization/project; create once per command."""

    def __init__(self, settings: TfcSettings, *, environ: Mapping[str, str] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._token = read_token(settings.hostname, environ)
        self._sleep = sleep
        self.tfe = TFEClient(TFEConfig(address=settings.api_address, token=self._token,
                                       ca_bundle=settings.ca_bundle,
                                       user_agent_suffix="tenantform"))
        self.backoff = SharedBackoff(sleep=sleep)
        """The 429 pause shared by every thread using this client (tenantform/tfc_http.py)."""
        install_retry_policy(self.tfe, self.backoff)
        self._project_id: str | None = None
        self._varsets: dict[str, Any] | None = None

    def __repr__(self) -> str:  # never show the token
        return (f"TfcClient(organization={self.settings.organization!r}, "
                f"project={self.settings.project!r}, hostname={self.settings.hostname!r})")

    def __enter__(self) -> TfcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.tfe.close()

    # ---- lookups -----------------------------------------------------------------------

    def project_id(self) -> str:
        if self._project_id is None:
            self._project_id = _find_project(self.tfe, self.settings).id
        return self._project_id

    def _variable_sets(self) -> dict[str, Any]:
        if self._varsets is None:
            found = _find_variable_sets(self.tfe, self.settings)
            missing = [n for n in self.settings.variable_sets if n not in found]
            if missing:
                raise TfcError(f"variable set(s) not found in organization "
                               f"{self.settings.organization!r}: {', '.join(missing)}; "
                               "run `invoke tfc.doctor`")
            self._varsets = found
        return self._varsets

    def read_workspace(self, name: str) -> Workspace | None:
        with api_errors(name):
            try:
                return self.tfe.workspaces.read(name, organization=self.settings.organization)
            except NotFound:
                return None

    def resource_addresses(self, workspace: Workspace) -> list[str]:
        """Addresses of the resources the workspace's current state manages (for confirmations)."""
        with api_errors(workspace.name or workspace.id):
            return sorted(r.address for r in self.tfe.workspace_resources.list(workspace.id)
                          if r.address and not r.address.startswith("data.")
                          and ".data." not in r.address)

    def list_workspaces(self, *, tags: Mapping[str, str] | None = None) -> list[WorkspaceRef]:
        """Every workspace of the project, optionally only those carrying all `tags`."""
        opts = WorkspaceListOptions(
            project_id=self.project_id(),
            tag_bindings=[TagBinding(key=k, value=v) for k, v in (tags or {}).items()])
        return [WorkspaceRef(id=ws.id, name=ws.name or "",
                             url=self.settings.workspace_url(ws.name or ""))
                for ws in self.tfe.workspaces.list(self.settings.organization, opts)]

    # ---- workspaces --------------------------------------------------------------------

    def ensure_workspace(self, spec: WorkspaceSpec) -> WorkspaceRef:
        """Create the workspace or bring its settings, tags, variable sets and state access in line.

        Sets project, execution mode (+ agent pool), Terraform version, auto-apply off and the
        working directory; adds or updates the key/value tag bindings (other tags are left
        alone); attaches the configured variable sets unless already applied (directly, via
        the project, or globally); lets the workspace read `spec.remote_state_from`.
        """
        check_tags(spec.name, spec.tags)
        with api_errors(spec.name):
            return self._ensure_workspace(spec)

    def _ensure_workspace(self, spec: WorkspaceSpec) -> WorkspaceRef:
        s = self.settings
        project_id = self.project_id()
        overwrites = WorkspaceSettingOverwrites(execution_mode=True, agent_pool=True)
        common: dict[str, Any] = {
            "execution_mode": s.execution_mode,
            "agent_pool_id": s.agent_pool_id,
            "auto_apply": False,
            "working_directory": spec.working_directory,
            "description": spec.description or None,
            "setting_overwrites": overwrites,
            "project": Project(id=project_id),
        }
        if s.terraform_version:
            common["terraform_version"] = s.terraform_version
        bindings = [TagBinding(key=k, value=v) for k, v in sorted(spec.tags.items())]
        ws = self.read_workspace(spec.name)
        created = False
        changed: list[str] = []
        if ws is None:
            try:
                ws = self.tfe.workspaces.create(
                    s.organization, WorkspaceCreateOptions(name=spec.name, **common,
                                                           tag_bindings=bindings or None))
                created = True
            except TFEError as exc:
                if exc.status != 422:
                    raise TfcError(f"cannot create workspace {spec.name}: {exc}") from exc
                ws = self.read_workspace(spec.name)  # created concurrently
                if ws is None:
                    raise TfcError(f"cannot create workspace {spec.name}: {exc}") from exc
        if not created:
            changed = _workspace_drift(ws, s, spec, project_id)
            if changed:
                ws = self.tfe.workspaces.update_by_id(ws.id, WorkspaceUpdateOptions(**common))
            current = {b.key: b.value for b in self.tfe.workspaces.list_tag_bindings(ws.id)}
            if len(set(current) | set(spec.tags)) > MAX_TAGS:
                raise TfcError(f"{spec.name} would carry {len(set(current) | set(spec.tags))} "
                               f"key/value tags; HCP Terraform allows {MAX_TAGS} per workspace: "
                               f"remove some of {', '.join(sorted(set(current) - set(spec.tags)))}")
            stale = [b for b in bindings if current.get(b.key) != b.value]
            if stale:
                self.tfe.workspaces.add_tag_bindings(
                    ws.id, WorkspaceAddTagBindingsOptions(tag_bindings=stale))
                changed.append("tags:" + ",".join(b.key for b in stale))
        changed += self._attach_variable_sets(ws.id, project_id)
        changed += self._allow_state_reads(ws, spec.remote_state_from)
        return WorkspaceRef(id=ws.id, name=spec.name, url=s.workspace_url(spec.name),
                            created=created, changed=tuple(changed))

    def _attach_variable_sets(self, workspace_id: str, project_id: str) -> list[str]:
        if not self.settings.variable_sets:
            return []
        wanted = self._variable_sets()
        applied = {v.id for v in self.tfe.variable_sets.list_for_workspace(workspace_id)}
        attached = []
        for name, varset in wanted.items():
            if varset.id in applied or varset.global_:
                continue
            if any(p.id == project_id for p in varset.projects):
                continue
            self.tfe.variable_sets.apply_to_workspaces(
                varset.id, VariableSetApplyToWorkspacesOptions(
                    workspaces=[Workspace.model_construct(id=workspace_id)]))
            attached.append(f"variable-set:{name}")
        return attached

    def _allow_state_reads(self, ws: Workspace, sources: tuple[str, ...]) -> list[str]:
        added = []
        for name in sources:
            src = self.read_workspace(name)
            if src is None:
                raise TfcError(f"{ws.name} reads the state of workspace {name!r}, which does "
                               "not exist yet: apply it first")
            if src.global_remote_state:
                continue
            consumers = {c.id for c in self.tfe.workspaces.list_remote_state_consumers(src.id)}
            if ws.id in consumers:
                continue
            self.tfe.workspaces.add_remote_state_consumers(
                src.id, WorkspaceAddRemoteStateConsumersOptions(
                    workspaces=[Workspace.model_construct(id=ws.id)]))
            added.append(f"reads-state-of:{name}")
        return added

    def delete_workspace(self, name: str, *, force: bool = False) -> bool:
        """Delete a workspace (after its destroy run). Safe delete refuses one that still manages
        resources; `force` deletes anyway. False when it did not exist."""
        try:
            if force:
                self.tfe.workspaces.delete(name, organization=self.settings.organization)
            else:
                self.tfe.workspaces.safe_delete(name, organization=self.settings.organization)
        except NotFound:
            return False
        except TFEError as exc:
            raise TfcError(f"cannot delete workspace {name}: {exc} "
                           f"({self.settings.workspace_url(name)})") from exc
        return True

    # ---- runs --------------------------------------------------------------------------

    def run(self, workspace: str, *, root_dir: Path, base_dir: Path | None = None,
            message: str, plan_only: bool | None = None, destroy: bool = False,
            on_progress: Callable[[RunProgress], None] | None = None,
            approve: Callable[[PlanSummary], bool] | None = None,
            refresh_only: bool = False, override_policy: bool = False) -> RunOutcome:
        """Upload `root_dir` (+ its local modules) and run it remotely; see docs/tfc.md.

        `plan_only` (default: settings.plan_only) makes a speculative plan; `refresh_only` a
        refresh-only run that is never applied (a drift check: its plan lists what changed
        outside terraform). Otherwise a plan with changes is applied when `approve(summary)`
        returns True (default: always); a rejected plan is discarded. `override_policy`
        overrides a soft-failed policy check. Never raises for a failed run: check
        `outcome.ok` or call `outcome.raise_for_status()`. Any API or HTTP error is a TfcError
        naming the workspace (never a traceback).
        """
        with api_errors(workspace):
            archive = build_config_archive(root_dir, base_dir=base_dir, forbidden=[self._token])
            ws = self.read_workspace(workspace)
            if ws is None:
                raise TfcError(f"workspace {workspace} does not exist; ensure_workspace first")
            if (ws.working_directory or "") != archive.working_directory:
                ws = self.tfe.workspaces.update_by_id(
                    ws.id, WorkspaceUpdateOptions(working_directory=archive.working_directory))
            plan_only = self.settings.plan_only if plan_only is None else plan_only
            speculative = plan_only and not refresh_only
            cv_id = self._upload(ws, archive, speculative=speculative, on_progress=on_progress)
            return self._run(ws, cv_id=cv_id, message=message,
                             plan_only=plan_only and not refresh_only, destroy=destroy,
                             on_progress=on_progress, approve=approve,
                             config_sha256=archive.sha256, refresh_only=refresh_only,
                             override_policy=override_policy)

    def destroy(self, workspace: str, *, message: str, root_dir: Path | None = None,
                base_dir: Path | None = None,
                on_progress: Callable[[RunProgress], None] | None = None) -> RunOutcome | None:
        """A destroy run (offboarding); None when the workspace manages no resources.

        Without `root_dir` it reuses the configuration version of the workspace's newest applied
        run (newest by `created-at`, whatever order the API lists runs in; a fleet plan's
        speculative version could not be applied), so the local root may already be gone.
        """
        with api_errors(workspace):
            ws = self.read_workspace(workspace)
            if ws is None:
                raise TfcError(f"workspace {workspace} does not exist")
            if not ws.resource_count:
                return None
            if root_dir is not None:
                return self.run(workspace, root_dir=root_dir, base_dir=base_dir, message=message,
                                plan_only=False, destroy=True, on_progress=on_progress)
            cv_id = self._last_applied_configuration(ws.id)
            if cv_id is None:
                raise TfcError(f"{workspace} manages {ws.resource_count} resources but has no "
                               "applied configuration to destroy them with; pass root_dir "
                               f"({self.settings.workspace_url(workspace)})")
            return self._run(ws, cv_id=cv_id, message=message, plan_only=False,
                             destroy=True, on_progress=on_progress, approve=None,
                             config_sha256=None)

    def _last_applied_configuration(self, workspace_id: str) -> str | None:
        docs = get_json(self.tfe, f"/api/v2/workspaces/{workspace_id}/runs",
                        params={"page[size]": 100}).get("data") or []
        applied = [d for d in docs if (d.get("attributes") or {}).get("status") == "applied"
                   and not (d.get("attributes") or {}).get("is-destroy")]
        applied.sort(key=lambda d: str((d.get("attributes") or {}).get("created-at") or ""),
                     reverse=True)
        for doc in applied:
            cv = (((doc.get("relationships") or {}).get("configuration-version") or {})
                  .get("data") or {}).get("id")
            if cv:
                return str(cv)
        return None

    def _upload(self, ws: Workspace, archive: ConfigArchive, *, speculative: bool,
                on_progress: Callable[[RunProgress], None] | None) -> str:
        s = self.settings
        started = time.monotonic()
        cv = self.tfe.configuration_versions.create(
            ws.id, ConfigurationVersionCreateOptions(auto_queue_runs=False,
                                                     speculative=speculative))
        if not cv.upload_url:
            raise TfcError(f"{ws.name}: configuration version {cv.id} has no upload URL")
        self.tfe.configuration_versions.upload_tar_gzip(cv.upload_url, io.BytesIO(archive.data))
        url = s.workspace_url(ws.name or "")
        while True:
            attrs = (get_json(self.tfe, f"/api/v2/configuration-versions/{cv.id}").get("data")
                     or {}).get("attributes") or {}
            status = str(attrs.get("status") or "unknown")
            if on_progress:
                on_progress(RunProgress(workspace=ws.name or "", phase="upload", status=status,
                                        url=url, run_id=None,
                                        elapsed=time.monotonic() - started))
            if status == "uploaded":
                return cv.id
            if status == "errored":
                raise TfcError(f"{ws.name}: configuration upload {cv.id} errored: "
                               f"{attrs.get('error-message') or attrs.get('error') or 'no message'}")
            if time.monotonic() - started > s.run_timeout:
                raise TfcError(f"{ws.name}: configuration version {cv.id} still {status} "
                               f"after {s.run_timeout:.0f}s")
            self._sleep(s.poll_interval)

    def _run(self, ws: Workspace, **kwargs: Any) -> RunOutcome:
        """Create the run and follow it to its end (tenantform/tfc_runs.py, `follow`)."""
        from tenantform.tfc_runs import follow

        return follow(self, ws, **kwargs)


def _workspace_drift(ws: Workspace, s: TfcSettings, spec: WorkspaceSpec,
                     project_id: str) -> list[str]:
    changed = []
    if _status(ws.execution_mode) != s.execution_mode:
        changed.append("execution-mode")
    pool = getattr(ws.agent_pool, "id", None) if ws.agent_pool else None
    if s.execution_mode == "agent" and pool != s.agent_pool_id:
        changed.append("agent-pool")
    if s.terraform_version and ws.terraform_version != s.terraform_version:
        changed.append("terraform-version")
    if ws.auto_apply:
        changed.append("auto-apply")
    if (ws.working_directory or "") != spec.working_directory:
        changed.append("working-directory")
    if spec.description and (ws.description or "") != spec.description:
        changed.append("description")
    if (ws.project.id if ws.project else None) != project_id:
        changed.append("project")
    return changed


def _find_project(tfe: TFEClient, settings: TfcSettings) -> Project:
    for project in tfe.projects.list(settings.organization,
                                     ProjectListOptions(name=settings.project)):
        if project.name == settings.project:
            return project
    raise TfcError(f"project {settings.project!r} not found in organization "
                   f"{settings.organization!r}; run `invoke tfc.doctor`")


def _find_variable_sets(tfe: TFEClient, settings: TfcSettings) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in settings.variable_sets:
        for varset in tfe.variable_sets.list(settings.organization,
                                             VariableSetListOptions(query=name)):
            if varset.name == name:
                found[name] = varset
    return found


# --------------------------------------------------------------------------------------------
# Doctor
# --------------------------------------------------------------------------------------------

def doctor(settings: TfcSettings, *, environ: Mapping[str, str] | None = None) -> list[Check]:
    """Check token, account, organization, project, permissions, variable sets (and agent pool).

    Every check says what it found or exactly what is missing; later checks are skipped
    when an earlier one they depend on failed.
    """
    checks: list[Check] = []
    names = token_env_vars(settings.hostname)
    later = ["account", "organization", "project", "permissions", "variable-sets"]
    if settings.execution_mode == "agent":
        later.append("agent-pool")

    def skip_rest(reason: str) -> list[Check]:
        done = {c.name for c in checks}
        return checks + [Check(name=n, status="skip", detail=f"skipped: {reason}")
                         for n in later if n not in done]

    found = find_token(settings.hostname, environ)
    if found is None:
        checks.append(Check(name="token", status="fail",
                            detail=f"no API token: set {names[0]} or {names[-1]} "
                                   f"(a user or team token from https://{settings.hostname}"
                                   "/app/settings/tokens)"))
        return skip_rest("no token")
    checks.append(Check(name="token", status="ok", detail=f"found in ${found[0]}"))
    client = TfcClient(settings, environ={found[0]: found[1]})
    try:
        tfe = client.tfe
        try:
            user = tfe.users.read_current()
            kind = " (team/organization token)" if user.is_service_account else ""
            checks.append(Check(name="account", status="ok",
                                detail=f"authenticated as {user.username or user.id}{kind}"))
        except AuthError as exc:
            checks.append(Check(name="account", status="fail",
                                detail=f"{settings.hostname} rejected the token from "
                                       f"${found[0]} ({exc}): it is expired, revoked or for "
                                       "another host"))
            return skip_rest("the token is not valid")
        except TFEError as exc:
            checks.append(Check(name="account", status="fail",
                                detail=f"cannot reach {settings.api_address}: {exc}"))
            return skip_rest(f"{settings.hostname} is not reachable")
        try:
            org = tfe.organizations.read(settings.organization)
        except (NotFound, AuthError):
            checks.append(Check(name="organization", status="fail",
                                detail=f"organization {settings.organization!r} does not exist on "
                                       f"{settings.hostname} or this token cannot see it"))
            return skip_rest("organization not reachable")
        checks.append(Check(name="organization", status="ok",
                            detail=f"organization {settings.organization!r} reachable"))
        org_perms = org.permissions or {}
        projects = list(tfe.projects.list(settings.organization))
        project = next((p for p in projects if p.name == settings.project), None)
        if project is None:
            known = ", ".join(sorted(p.name or "" for p in projects)[:10]) or "none visible"
            checks.append(Check(name="project", status="fail",
                                detail=f"project {settings.project!r} not found in organization "
                                       f"{settings.organization!r} (visible: {known}); create it "
                                       "or set tfc.project"))
        else:
            checks.append(Check(name="project", status="ok",
                                detail=f"project {settings.project!r} ({project.id})"))
        proj_perms = ((project.model_extra or {}).get("permissions") or {}) if project else {}
        can_create = org_perms.get("can-create-workspace") or proj_perms.get("can-create-workspace")
        if can_create:
            where = "organization" if org_perms.get("can-create-workspace") else "project"
            checks.append(Check(name="permissions", status="ok",
                                detail=f"can create and manage workspaces ({where} permission)"))
        elif not org_perms and not proj_perms:
            checks.append(Check(name="permissions", status="warn",
                                detail="the API returned no permission flags; cannot tell whether "
                                       "this token may create workspaces"))
        else:
            checks.append(Check(name="permissions", status="fail",
                                detail=f"this token cannot create workspaces in "
                                       f"{settings.organization!r}/{settings.project!r}: use a team "
                                       "token of a team with 'Manage workspaces' on the "
                                       "organization or 'Admin'/'Maintain' on the project"))
        if not settings.variable_sets:
            checks.append(Check(name="variable-sets", status="warn",
                                detail="no variable sets configured: runs get cloud credentials "
                                       "only from dynamic credentials or variables set on the "
                                       "project/workspaces by you"))
        elif org_perms and org_perms.get("can-read-varsets") is False:
            checks.append(Check(name="variable-sets", status="fail",
                                detail="this token cannot read variable sets "
                                       "(needs 'Read variable sets' or 'Manage variable sets')"))
        else:
            present = _find_variable_sets(tfe, settings)
            missing = [n for n in settings.variable_sets if n not in present]
            if missing:
                checks.append(Check(name="variable-sets", status="fail",
                                    detail=f"variable set(s) not found in {settings.organization!r}: "
                                           f"{', '.join(missing)}; create them with your cloud "
                                           "credentials or remove them from tfc.variable_sets"))
            else:
                checks.append(Check(name="variable-sets", status="ok",
                                    detail="found: " + ", ".join(settings.variable_sets)))
        if settings.execution_mode == "agent":
            try:
                tfe.agent_pools.read(settings.agent_pool_id or "")
                checks.append(Check(name="agent-pool", status="ok",
                                    detail=f"agent pool {settings.agent_pool_id} exists"))
            except (NotFound, AuthError, TFEError, ValueError) as exc:
                checks.append(Check(name="agent-pool", status="fail",
                                    detail=f"agent pool {settings.agent_pool_id!r}: {exc}"))
        return checks
    finally:
        client.close()
