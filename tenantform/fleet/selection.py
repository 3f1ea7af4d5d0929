"""Which tenants and layers a fleet command covers: `tenants=a,b`, `tier=`, `layer=`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from tenantform.errors import InvalidInput
from tenantform.names import LAYERS
from tenantform.project import Project
from tenantform.tenant import Tenant, validate_tenant_id, validate_tier
from tenantform.tenant_files import BrokenTenant, load_each
from tenantform.tiers import Tier


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which tenants and layers a fleet command covers. Empty `tenants` means every tenant."""

    tenants: tuple[str, ...] = ()
    tier: Tier | None = None
    layers: tuple[str, ...] = LAYERS

    def describe(self) -> str:
        parts = [f"tenants={','.join(self.tenants)}" if self.tenants else "all tenants"]
        if self.tier is not None:
            parts.append(f"tier={self.tier.value}")
        parts.append("layer=" + ("all" if self.layers == LAYERS else ",".join(self.layers)))
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"tenants": list(self.tenants), "tier": self.tier.value if self.tier else None,
                "layers": list(self.layers)}


ALLOWED_LAYERS = "infra, apps or all"


def parse_selection(*, tenants: str | Sequence[str] | None = None, tier: str | None = None,
                    layer: str | None = None) -> Selection:
    """Validate `tenants=a,b`, `tier=premium`, `layer=infra|apps|all` words into a Selection."""
    if isinstance(tenants, str):
        ids = [part.strip() for part in tenants.split(",") if part.strip()]
    else:
        ids = list(tenants or [])
    seen: dict[str, None] = {}
    for tenant_id in ids:
        seen[validate_tenant_id(tenant_id, source="argument tenants")] = None
    chosen_tier = None
    if tier not in (None, ""):
        chosen_tier = validate_tier(str(tier).strip(), source="argument tier")
    layers = LAYERS
    if layer not in (None, "", "all"):
        if layer not in LAYERS:
            raise InvalidInput(field="layer", problem=f"is {layer!r}", allowed=ALLOWED_LAYERS,
                               source="argument layer")
        layers = (str(layer),)
    return Selection(tenants=tuple(seen), tier=chosen_tier, layers=layers)


def select_tenants(project: Project, selection: Selection, *, broken: list[BrokenTenant] | None = None) -> list[Tenant]:
    """The selected tenants, sorted by id. Unknown ids are an error naming them (nothing runs).

    With a `broken` list, a malformed tenant file is appended there instead of stopping the load."""
    if selection.tenants:
        known = set(project.registry.ids())
        unknown = [t for t in selection.tenants if t not in known]
        if unknown:
            raise InvalidInput(field="tenants", problem=f"names unknown tenant(s) {', '.join(unknown)}",
                               allowed="ids of files in tenants/ (" + (", ".join(sorted(known)[:20]) or "none")
                               + (", ..." if len(known) > 20 else "") + ")", source="argument tenants")
        if broken is None:
            tenants = [project.registry.get(t) for t in sorted(selection.tenants)]
        else:
            tenants, bad = load_each(project.registry, selection.tenants)
            broken += bad
    elif broken is not None:
        tenants, bad = load_each(project.registry)
        broken += bad
    else:
        tenants = project.registry.all()
    if selection.tier is not None:
        tenants = [t for t in tenants if t.tier is selection.tier]
    return tenants
