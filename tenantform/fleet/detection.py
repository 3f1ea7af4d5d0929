"""Change detection without terraform: render each selected workspace's root and compare its
fingerprint (root JSON + module version) with the workspace's record."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Sequence

from tenantform.names import INFRA, LAYERS, layers_of, workspace_name
from tenantform.project import Project
from tenantform.records import Record
from tenantform.roots import dumps
from tenantform.tenant import Tenant


def root_text_and_fingerprint(doc: dict[str, Any], version: str) -> tuple[str, str]:
    """The root's file text and its fingerprint (identical to `roots.fingerprint`), serialised once."""
    text = dumps(doc)
    return text, hashlib.sha256((text + version).encode()).hexdigest()


def change_reason(record: Record | None, *, fingerprint: str, version: str, platform: str = "") -> str:
    """Why a workspace must be planned; "" when it is up to date with its last successful apply.

    `platform` is the digest of the platform outputs the root reads, now (tenantform/platform_inputs.py);
    it counts only when both it and the record's are known."""
    if record is None:
        return "never applied"
    if record.status != "applied":
        return f"last run {record.status}"
    if record.module_version != version:
        return f"module {record.module_version or '?'} -> {version}"
    if record.fingerprint != fingerprint:
        return "root or inputs changed"
    if platform and record.platform and record.platform != platform:
        return "platform outputs it reads changed"
    return ""


@dataclass(frozen=True)
class Work:
    """One selected workspace, rendered, with why it runs ("" = up to date)."""

    tenant: Tenant
    layer: str
    workspace: str
    version: str
    text: str
    fingerprint: str
    reason: str
    previous: Record | None = None


class Versions:
    """Which module version each tenant renders with: an override (a rollout's target), else the
    version its infra record names, else the current version (computed once, when first needed)."""

    def __init__(self, project: Project, overrides: dict[str, str] | None = None) -> None:
        self.project = project
        self.overrides = dict(overrides or {})
        self._current: str | None = None

    @property
    def current(self) -> str:
        if self._current is None:
            self._current = self.project.module_version()
        return self._current

    def of(self, tenant_id: str, infra_record: Record | None = None) -> str:
        if tenant_id in self.overrides:
            return self.overrides[tenant_id]
        if infra_record is not None and infra_record.module_version:
            return infra_record.module_version
        return self.current


def detect(project: Project, tenants: Sequence[Tenant], layers: Sequence[str], *, versions: Versions,
           force: bool | str = False, force_workspaces: frozenset[str] = frozenset()) -> list[Work]:
    """Render every selected workspace and decide which must run. Pure Python: no terraform.

    `force` (True, or the reason to show) runs up-to-date workspaces too; `force_workspaces` only those.
    """
    works = []
    for tenant in tenants:
        records = {layer: project.records.get(workspace_name(tenant.id, layer))
                   for layer in LAYERS if layer in layers or layer == INFRA}
        version = versions.of(tenant.id, records[INFRA])
        for layer in layers_of(project.platform.deployment_of(tenant.tier)):  # a pooled tenant: infra only
            if layer not in layers:
                continue
            workspace = workspace_name(tenant.id, layer)
            record = records[layer]
            text, print_ = root_text_and_fingerprint(project.render_root(tenant, layer, version), version)
            reason = change_reason(record, fingerprint=print_, version=version,
                                   platform=project.records.platform_digest(text) if record else "")
            if not reason and (force or workspace in force_workspaces):
                reason = force if isinstance(force, str) else "forced"
            works.append(Work(tenant, layer, workspace, version, text, print_, reason, record))
    return works
