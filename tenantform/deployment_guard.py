"""A tenant's deployment as it is, checked against the one derived from platform.toml.

The derived deployment (tier + `pooled_tiers`, PlatformConfig.deployment_of) is what a render
of the tenant's roots builds; the actual one is what its catalogue entry says (attribute
`deployment`, written from the infra module's `routing`; absent = silo). They differ when an
operator changed `pooled_tiers` while tenants of that tier exist: applying the derived roots
then would delete the silo order table with its orders (pool) or create an empty one while the
orders stay in the pooled table (silo). Only a move (tenantform/tenant_move.py) carries the data
over: `invoke update` moves such a tenant (tenant_move.source_deployment reads the catalogue),
and `invoke onboard` of an existing tenant refuses before anything is applied (docs/moves.md).
"""

from __future__ import annotations

from tenantform import tenant_data
from tenantform.errors import TenantformError
from tenantform.project import Project
from tenantform.tenant import Tenant
from tenantform.tiers import Deployment


def actual_deployment(project: Project, tenant_id: str) -> Deployment | None:
    """What the catalogue says of the tenant; None without a catalogue entry (never applied).
    The target must be prepared (the local target's server running)."""
    table = project.platform.catalogue_table_name
    try:
        ddb = project.target.data_client("dynamodb")
        if not tenant_data.table_exists(ddb, table):
            return None
        item = ddb.get_item(TableName=table, Key={"tenant_id": {"S": tenant_id}}, ConsistentRead=True).get("Item")
    except tenant_data.aws_errors() as exc:
        raise TenantformError(f"cannot read the catalogue entry of tenant {tenant_id} in {table} ({exc}); "
                              "nothing was applied") from None
    if item is None:
        return None
    value = item.get("deployment", {}).get("S", Deployment.SILO.value)
    try:
        return Deployment(value)
    except ValueError:
        raise TenantformError(f"the catalogue entry of tenant {tenant_id} in {table} has deployment {value!r} "
                              "(allowed: pool, silo); nothing was applied") from None


def catalogue_deployments(project: Project) -> dict[str, Deployment]:
    """tenant id -> what the catalogue says (one paginated Scan, for `invoke tenants`); empty when
    the target runs remotely (tfc), the catalogue does not exist yet or cannot be read."""
    if not project.target.runs_here:
        return {}
    table = project.platform.catalogue_table_name
    found: dict[str, Deployment] = {}
    try:
        ddb = project.target.data_client("dynamodb")
        if not tenant_data.table_exists(ddb, table):
            return {}
        pages = ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="tenant_id, deployment")
        for page in pages:
            for item in page["Items"]:
                value = item.get("deployment", {}).get("S", Deployment.SILO.value)
                if value in {d.value for d in Deployment}:  # a `<id>#move` freeze item has none: silo, ignored below
                    found[item["tenant_id"]["S"]] = Deployment(value)
    except (TenantformError, *tenant_data.aws_errors()):  # the emulator not running, no credentials: derived only
        return {}
    return found


def describe(derived: Deployment, actual: Deployment | None) -> str:
    """The deployment column of `invoke tenants`: the derived one, or both when they differ."""
    if actual is None or actual is derived:
        return derived.value
    return f"{actual.value} (tier says {derived.value}: `invoke update` moves it)"


def deployment_refusal(project: Project, tenant: Tenant) -> str | None:
    """Why the tenant's roots must not be applied outside a move (one line), or None: its catalogue
    entry says another deployment than its tier derives, or a move of it is journaled. Local and
    aws targets (this machine's AWS calls); on the tfc target the check is not made (docs/moves.md)."""
    from tenantform.tenant_move import Journal

    if not project.target.runs_here:
        return None
    journal = Journal.path(project, tenant.id)
    if journal.is_file():
        return (f"tenant {tenant.id} is being moved (journal {journal}): finish the move with "
                f"`invoke update tenant={tenant.id}` first; nothing was applied")
    derived = Deployment(project.platform.deployment_of(tenant.tier))
    actual = actual_deployment(project, tenant.id)
    if actual is None or actual is derived:
        return None
    return (f"tenant {tenant.id} runs in the {actual.value} but tier {tenant.tier.value} is now deployed in the "
            f"{derived.value} (pooled_tiers in platform.toml changed): applying it would "
            + ("delete its order table with its orders" if derived is Deployment.POOL
               else "create an empty order table while its orders stay in the pooled table")
            + f"; move it with its orders by `invoke update tenant={tenant.id}` (docs/moves.md), or restore "
            "pooled_tiers; nothing was applied")


def require_derived_deployment(project: Project, tenant: Tenant) -> None:
    """Refuse, before anything is applied, to render an existing tenant outside a move into a
    deployment other than the one it runs in (deployment_refusal)."""
    refusal = deployment_refusal(project, tenant)
    if refusal:
        raise TenantformError(refusal)
