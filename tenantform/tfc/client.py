"""TfcClient: an authenticated connection to one organization/project (workspaces and runs)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytfe import TFEClient, TFEConfig
from pytfe.errors import NotFound, TFEError
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

from tenantform.errors import TenantformError
from tenantform.tfc.archive import ConfigArchive, build_config_archive
from tenantform.tfc.blocks import MAX_TAGS, check_tags
from tenantform.tfc.errors import TfcError
from tenantform.tfc.http import SharedBackoff, first_line, get_json, install_retry_policy
from tenantform.tfc.runs import follow
from tenantform.tfc.models import PlanSummary, RunOutcome, RunProgress, WorkspaceRef, WorkspaceSpec
from tenantform.tfc.settings import TfcSettings, read_token


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
        """The 429 pause shared by every thread using this client (tenantform/tfc/http.py)."""
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
        """Create the run and follow it to its end (tenantform/tfc/runs.py, `follow`)."""
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

