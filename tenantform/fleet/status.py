"""fleet.status: which tenant runs which module version, whether it is up to date, the rollout."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tenantform.fleet.detection import Versions, detect
from tenantform.fleet.results import load_last_run
from tenantform.fleet.rollout import load_rollout
from tenantform.fleet.selection import Selection, select_tenants
from tenantform.names import INFRA
from tenantform.project import Project
from tenantform.tenant_files import BrokenTenant


@dataclass(frozen=True)
class TenantStatus:
    tenant: str
    tier: str
    version: str
    """The module version the tenant renders with (its record's, else the current one)."""
    infra: str
    """Status of the infra record: applied, failed, ..., or "never run"."""
    at: str
    pending: str
    """Why the next fleet.apply would plan it ("" when up to date)."""
    rollout: str = ""
    deployment: str = ""
    """pool or silo (derived from the tier and platform.toml's pooled_tiers)."""


@dataclass
class FleetStatus:
    current_version: str
    tenants: list[TenantStatus]
    rollout: dict[str, Any] | None
    last_run: dict[str, Any] | None

    @property
    def versions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.tenants:
            counts[row.version] = counts.get(row.version, 0) + 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"current_version": self.current_version, "versions": self.versions,
                "tenants": [asdict(t) for t in self.tenants], "rollout": self.rollout,
                "last_run": {k: v for k, v in (self.last_run or {}).items() if k != "results"} or None}


def fleet_status(project: Project, selection: Selection | None = None) -> FleetStatus:
    """Which tenant runs which module version, whether it is up to date, and the rollout's progress."""
    selection = selection or Selection(layers=(INFRA,))
    broken: list[BrokenTenant] = []
    tenants = select_tenants(project, selection, broken=broken)
    versions = Versions(project)
    rollout = load_rollout(project)
    in_rollout: dict[str, str] = {}
    if rollout is not None and rollout.active:
        for index, wave in enumerate(rollout.waves):
            for tenant_id in wave:
                state = ("done" if index < rollout.next_wave else
                         "pending retry" if tenant_id in rollout.pending and index == rollout.next_wave else
                         f"wave {index + 1}")
                in_rollout[tenant_id] = f"{rollout.target_version}: {state}"
    works = detect(project, tenants, (INFRA,), versions=versions)
    rows = []
    for work in works:
        record = work.previous
        rows.append(TenantStatus(tenant=work.tenant.id, tier=work.tenant.tier.value, version=work.version,
                                 infra=record.status if record else "never run", at=record.at if record else "",
                                 pending=work.reason, rollout=in_rollout.get(work.tenant.id, ""),
                                 deployment=project.platform.deployment_of(work.tenant.tier).value))
    rows += [TenantStatus(tenant=bad.tenant_id, tier="?", version="", infra="invalid tenant file", at="",
                          pending=bad.message) for bad in broken]
    rows.sort(key=lambda row: row.tenant)
    return FleetStatus(current_version=versions.current, tenants=rows,
                       rollout=rollout.to_dict() if rollout else None, last_run=load_last_run(project))
