"""Change records on the tfc target: one tag on each tenant workspace (docs/tfc.md, "Change records").

On tfc the state lives in HCP Terraform, so the record of a successful apply goes onto the
workspace itself, as one single-value tag (HCP's "tag-names", beside the key/value tags
managed-by, layer, tenant, tier, module-version that tenantform.tfc.workspace_tags sets):

    tenantform-record:applied:<module version, '.' as '_'>:<fingerprint>:<platform digest or none>:<UTC time>

Single-value tags are returned in the workspace list's attributes, so detection reads the whole
fleet with one paginated `GET /organizations/:org/workspaces?filter[project][id]=...
&filter[tagged][0][key]=managed-by` (100 workspaces a page), no request per tenant. The key/value
tags are not: a list does not carry them, and their limit is 10 per workspace. A single-value
tag is 1-255 characters of letters, digits, ':', '-', '_' (no '.'), which is why the module
version's dots are written as '_' (a module version never contains '_').

After a successful apply the new tag is added, then the workspace's other record tags are
removed; the workspace's run queue already serialises applies of one workspace, and operators
applying different tenants touch different workspaces. Deleting the workspace (offboarding)
deletes its record. When the API cannot be read the store answers "no records": everything
plans, never a wrong "up to date".

Platform-aware detection (tenantform/platform_inputs.py) reads the platform workspace's outputs
with one `GET /workspaces/:id/current-state-version-outputs` per command (`tfc_outputs`); the
workspace's id comes from the listing above. That endpoint returns sensitive outputs with value
null: no output of the contract is sensitive, and should a sensitive one appear, the outputs
count as unknown (no platform digest, detection by root and module version alone) rather than
a digest of nulls that never changes.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tenantform.names import PLATFORM_WORKSPACE
from tenantform.remote_records import _WORKSPACE, RemoteEntry

if TYPE_CHECKING:
    from tenantform.platform_inputs import OutputsSource
    from tenantform.records import Record
    from tenantform.tfc_target import TfcTarget

TAG_PREFIX = "tenantform-record:"
_TAG = re.compile(TAG_PREFIX + r"applied:(?P<version>[a-z0-9_-]+):(?P<fingerprint>[0-9a-f]{64}):"
                  r"(?P<platform>[0-9a-f]{16}|none):(?P<at>\d{8}t\d{6}z)")
PAGE_SIZE = 100


def record_tag(record: Record, at: datetime | None = None) -> str | None:
    """The tag of an applied record; None when its values cannot be written as a tag."""
    version = record.module_version
    if not re.fullmatch(r"[a-z0-9.-]+", version) or not re.fullmatch(r"[0-9a-f]{64}", record.fingerprint):
        return None
    platform = record.platform if re.fullmatch(r"[0-9a-f]{16}", record.platform) else "none"
    stamp = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dt%H%M%Sz")
    tag = f"{TAG_PREFIX}applied:{version.replace('.', '_')}:{record.fingerprint}:{platform}:{stamp}"
    return tag if len(tag) <= 255 else None


def parse_tag(tag: str) -> RemoteEntry | None:
    m = _TAG.fullmatch(tag)
    if m is None:
        return None
    at = datetime.strptime(m["at"], "%Y%m%dt%H%M%Sz").replace(tzinfo=timezone.utc)
    return RemoteEntry(key=tag, module_version=m["version"].replace("_", "."), fingerprint=m["fingerprint"],
                       platform="" if m["platform"] == "none" else m["platform"],
                       modified=at.isoformat(timespec="seconds"))


class TfcRecordStore:
    """Records as workspace tags; the project's workspace listing is read once per command."""

    def __init__(self, target: TfcTarget) -> None:
        self.target = target
        self._entries: dict[str, RemoteEntry] | None = None
        self._lock = threading.Lock()
        self.listings = 0
        """Workspace listings read (for tests)."""
        self.platform_workspace_id: str | None = None
        """Id of the platform workspace, seen in the listing."""

    def _tfe(self) -> Any:
        return self.target.tfc_client().tfe

    def load(self) -> dict[str, RemoteEntry]:
        with self._lock:
            if self._entries is None:
                self._entries = self._list()
            return self._entries

    def _list(self) -> dict[str, RemoteEntry]:
        from pytfe.models import TagBinding, WorkspaceListOptions

        entries: dict[str, RemoteEntry] = {}
        try:
            client = self.target.tfc_client()
            opts = WorkspaceListOptions(project_id=client.project_id(), page_size=PAGE_SIZE,
                                        tag_bindings=[TagBinding(key="managed-by", value="tenantform")])
            for ws in client.tfe.workspaces.list(self.target.tfc.organization, opts):
                if ws.name == PLATFORM_WORKSPACE:
                    self.platform_workspace_id = ws.id
                found = [e for e in map(parse_tag, ws.tag_names or []) if e is not None]
                if found and ws.name:
                    entries[ws.name] = max(found, key=lambda e: e.modified)
            self.listings += 1
        except Exception:  # noqa: BLE001 - unreachable API, no token: no records, so everything plans
            return {}
        return entries

    @staticmethod
    def holds(workspace: str) -> bool:
        """Only tenant workspaces carry records (the platform's stay local)."""
        return _WORKSPACE.fullmatch(workspace) is not None

    def get(self, workspace: str) -> RemoteEntry | None:
        return self.load().get(workspace)

    def put(self, record: Record) -> str | None:
        """Tag the workspace with the record of its applied root; the tag (None when not a tenant's)."""
        from pytfe.models import Tag, WorkspaceAddTagsOptions, WorkspaceRemoveTagsOptions

        tag = record_tag(record)
        if tag is None or not self.holds(record.workspace):
            return None
        ws = self.target.tfc_client().read_workspace(record.workspace)
        if ws is None:
            return None
        tfe = self._tfe()
        tfe.workspaces.add_tags(ws.id, WorkspaceAddTagsOptions(tags=[Tag(name=tag)]))
        stale = [t for t in (ws.tag_names or []) if t.startswith(TAG_PREFIX) and t != tag]
        if stale:
            tfe.workspaces.remove_tags(ws.id, WorkspaceRemoveTagsOptions(tags=[Tag(name=t) for t in stale]))
        with self._lock:
            if self._entries is not None:
                entry = parse_tag(tag)
                if entry is not None:
                    self._entries[record.workspace] = entry
        return tag

    def remove(self, workspace: str) -> None:
        """Forget the record (the workspace itself is deleted by offboarding)."""
        from pytfe.models import Tag, WorkspaceRemoveTagsOptions

        try:
            ws = self.target.tfc_client().read_workspace(workspace)
            stale = [t for t in (ws.tag_names or []) if t.startswith(TAG_PREFIX)] if ws is not None else []
            if ws is not None and stale:
                self._tfe().workspaces.remove_tags(
                    ws.id, WorkspaceRemoveTagsOptions(tags=[Tag(name=t) for t in stale]))
        except Exception:  # noqa: BLE001 - the workspace is being deleted anyway
            pass
        with self._lock:
            if self._entries is not None:
                self._entries.pop(workspace, None)


def tfc_outputs(store: TfcRecordStore) -> OutputsSource:
    """The platform workspace's current state version outputs (None when unreadable or sensitive)."""

    def read() -> dict[str, Any] | None:
        from pytfe.models import StateVersionOutputsListOptions

        try:
            store.load()
            client = store.target.tfc_client()
            workspace_id = store.platform_workspace_id
            if workspace_id is None:
                ws = client.read_workspace(PLATFORM_WORKSPACE)
                if ws is None:
                    return None
                workspace_id = ws.id
            outputs = list(client.tfe.state_version_outputs.read_current(
                workspace_id, StateVersionOutputsListOptions(page_size=PAGE_SIZE)))
        except Exception:  # noqa: BLE001 - not deployed or unreachable: no platform information
            return None
        if not outputs or any(o.sensitive for o in outputs):
            return None
        return {o.name: o.value for o in outputs}

    return read
