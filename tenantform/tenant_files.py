"""Load the tenants/ directory one file at a time: a malformed file is that tenant's failure, not everyone's.

`TenantRegistry.all()` stops at the first malformed file (right for commands about one tenant's
input). Fleet commands, `fleet.status` and `invoke tenants` instead load each file on its own and
report a broken one as a failed tenant, with the file's error, while the rest proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenantform.errors import TenantformError
from tenantform.tenant import Tenant, TenantRegistry, parse_tenant


@dataclass(frozen=True)
class BrokenTenant:
    tenant_id: str
    """The file's stem (what the id would be)."""
    message: str
    """The file's error, one line."""
    error_class: str


def load_each(registry: TenantRegistry, ids: list[str] | tuple[str, ...] | None = None
              ) -> tuple[list[Tenant], list[BrokenTenant]]:
    """(tenants that load, broken files) among `ids` (default: every `*.toml`), sorted by id."""
    if not registry.directory.is_dir():
        return [], []
    wanted = set(ids) if ids else None
    tenants: list[Tenant] = []
    broken: list[BrokenTenant] = []
    for path in sorted(registry.directory.glob("*.toml")):
        if wanted is not None and path.stem not in wanted:
            continue
        try:
            tenants.append(parse_tenant(path.read_text(encoding="utf-8"), source=str(path), expected_id=path.stem))
        except (TenantformError, OSError, UnicodeDecodeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            broken.append(BrokenTenant(path.stem, first, type(exc).__name__))
    return tenants, broken
