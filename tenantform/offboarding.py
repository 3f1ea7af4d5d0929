"""Offboarding one tenant: keep a final backup, remove everything else,
resume where an interrupted run stopped.

Steps, in order; each is recorded in a journal (`.tenantform/offboarding/<id>.json`) once done,
so a re-run skips it, and none fails because its work already happened:

  backup    CreateBackup of each table that holds only this tenant's data (`Order-<id>`), named
            `tenantform-final-<id>-<yyyymmdd>` (an existing one is reused), and the tenant's
            rows of the pooled Product table exported to `.tenantform/backups/<id>/`. A failure
            stops the offboarding before anything is destroyed. `--skip-backup` skips this step.
  products  the tenant's rows deleted from the pooled table, verified gone (Query returns 0).
  orders    the same for its rows of the pooled order table (a pooled tenant's orders; exported
            beside the products in the backup step).
  apps      the apps layer destroyed (when a cluster is configured; a pooled tenant has none).
  infra     deletion protection off (order table, premium/platinum user pool), infra destroyed.
  verify    catalogue entry, API key, usage-plan key, order table, user pool and role read back
            from AWS: any left is an error, and the state stays for a re-run.
  state     every version of the tenant's state objects deleted.
  forget    roots, records and the tenant file removed; then the journal.

The journal keeps the tenant's definition, so a run interrupted after the tenant file went
still resumes. The layer and state steps are the runner's (tenantform/runners/: terraform destroy and
the S3 state objects locally; destroy runs and workspace deletion on HCP Terraform).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tenantform import tenant_data
from tenantform.atomic import write_atomic
from tenantform.errors import TenantformError
from tenantform.names import INFRA, LAYERS, layers_of, tenant_names
from tenantform.project import Project, Say, _quiet
from tenantform.outcomes import LayerOutcome, Outcome
from tenantform.runners import Runner, runner_for
from tenantform.tenant import Tenant, parse_tenant, validate_tenant_id
from tenantform.workflows import Confirm, Report, forget_tenant

STEPS = ("backup", "products", "orders", "apps", "infra", "verify", "state", "forget")


@dataclass
class Journal:
    """What an offboarding has done so far; written after every step."""

    tenant_id: str
    tenant_toml: str
    started: str
    day: str
    """yyyymmdd of the first run: names the backups, so a re-run tomorrow reuses today's."""
    skip_backup: bool = False
    done: list[str] = field(default_factory=list)
    backups: list[dict[str, str]] = field(default_factory=list)
    export: str = ""
    exported: int = 0
    deleted: int = 0
    order_export: str = ""
    orders_exported: int = 0
    orders_deleted: int = 0

    @staticmethod
    def path(project: Project, tenant_id: str) -> Path:
        return project.settings.work_dir / "offboarding" / f"{validate_tenant_id(tenant_id)}.json"

    @classmethod
    def load(cls, project: Project, tenant_id: str) -> "Journal | None":
        path = cls.path(project, tenant_id)
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise TenantformError(f"{path} is not a readable offboarding journal ({exc}); "
                                  "move it away to start the offboarding from the beginning") from None

    @property
    def tenant(self) -> Tenant:
        return parse_tenant(self.tenant_toml, source=f"offboarding journal of {self.tenant_id}",
                            expected_id=self.tenant_id)

    def save(self, project: Project) -> None:
        path = self.path(project, self.tenant_id)
        write_atomic(path, json.dumps(asdict(self), indent=1))

    def finish(self, project: Project, step: str) -> None:
        if step not in self.done:
            self.done.append(step)
        self.save(project)
        if os.environ.get(tenant_data.FAULT_ENV) == f"offboard:{step}":  # tests: a crash right here
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(75)


def tenant_to_offboard(project: Project, tenant_id: str) -> Tenant:
    """The tenant file, or the journal of an offboarding that already removed it."""
    journal = Journal.load(project, tenant_id)
    if journal is not None:
        return journal.tenant
    return project.registry.get(tenant_id)


@dataclass
class Removal:
    tenant: Tenant
    resources: dict[str, list[str]]
    state_lines: list[str]
    files: list[str]
    backups: list[tuple[str, str]]
    """(table, backup name) to create."""
    pooled_table: str
    pooled_rows: int
    export: Path | None
    order_table: str
    pooled_orders: int
    order_export: Path | None
    skip_backup: bool
    resumed: list[str]
    kept: list[str]
    """Backups an interrupted run already took."""

    def describe(self) -> str:
        lines = [f"Offboarding tenant {self.tenant.id} ({self.tenant.tier}) removes:"]
        if self.resumed:
            lines.insert(0, f"Resuming an interrupted offboarding; done already: {', '.join(self.resumed)}")
        for workspace, resources in self.resources.items():
            lines.append(f"  {workspace}: {len(resources)} resources")
            lines += [f"    - {address}" for address in resources]
        lines.append(f"  {self.pooled_rows} products in the pooled table {self.pooled_table} "
                     f"(partition tenant_id = {self.tenant.id})")
        if self.pooled_orders:
            lines.append(f"  {self.pooled_orders} orders in the pooled table {self.order_table} "
                         f"(partition tenant_id = {self.tenant.id})")
        lines += self.state_lines
        lines += [f"  file: {path}" for path in self.files]
        if self.skip_backup:
            lines.append("  NO FINAL BACKUP (--skip-backup): "
                         + ", ".join([f"table {t}" for t, _ in self.backups]
                                     + [f"{self.pooled_rows} pooled products"]
                                     + ([f"{self.pooled_orders} pooled orders"] if self.pooled_orders else []))
                         + " are deleted for good")
        elif "backup" not in self.resumed:
            lines.append("It keeps, before anything is destroyed:")
            lines += [f"  - DynamoDB backup {name} of table {table}" for table, name in self.backups]
            lines.append(f"  - the {self.pooled_rows} pooled products, exported to {self.export}")
            if self.pooled_orders:
                lines.append(f"  - the {self.pooled_orders} pooled orders, exported to {self.order_export}")
        else:
            lines += ["Kept by the interrupted run:"] + [f"  - {kept}" for kept in self.kept]
        return "\n".join(lines)


OFFBOARDING_CALLS = "the final backup, the tenant's rows in the pooled table, the check that nothing is left"


def require_aws_credentials(project: Project, *, calls: str = OFFBOARDING_CALLS, job: str = "offboarding") -> None:
    """The data steps call AWS from this machine; on the local target the emulator's keys are used."""
    if not project.target.aws_credentials_needed:
        return
    try:
        why = "" if project.target.boto3_session().get_credentials() is not None else "none found"
    except tenant_data.aws_errors() as exc:
        why = str(exc)
    if why:
        raise TenantformError(
            f"{job} on the {project.target.kind.value} target makes AWS calls from this machine ({calls}) "
            f"and found no usable AWS credentials ({why}): set tenantform.aws_profile or the usual AWS_* environment. "
            "Nothing was removed")


def aws_client(project: Project, service: str) -> Any:
    """A boto3 client for the data steps. The tfc target keeps no AWS session for terraform (its
    credentials live in HCP variable sets); these calls use this machine's (tenantform.aws_profile)."""
    return project.target.data_client(service)


def plan(project: Project, tenant: Tenant, journal: Journal | None, layers: Runner, *,
         skip_backup: bool) -> Removal:
    """What a (resumed) offboarding will remove and keep. Reads; changes nothing in AWS."""
    project.target.prepare()
    require_aws_credentials(project)
    names = tenant_names(tenant.id, platform_name=project.platform.name)
    done = journal.done if journal else []
    own = layers_of(project.platform.deployment_of(tenant.tier))  # a pooled tenant has no apps workspace
    resources = layers.inventory(tenant, [layer for layer in LAYERS if layer not in done and layer in own])
    resources.update({names.workspace(layer): [] for layer in LAYERS if layer in done})
    ddb = aws_client(project, "dynamodb")
    day = journal.day if journal else datetime.now(timezone.utc).strftime("%Y%m%d")
    backups = []
    if "backup" not in done and tenant_data.table_exists(ddb, names.order_table):
        backups.append((names.order_table, f"tenantform-final-{tenant.id}-{day}"))
    pooled = tenant_data.PooledTable(ddb, project.platform.product_table_name, tenant.id)
    export = project.settings.work_dir / "backups" / tenant.id / f"{pooled.table}-{day}.json"
    orders = tenant_data.PooledTable(ddb, project.platform.pooled_order_table_name, tenant.id)
    path = project.registry.path(tenant.id)
    return Removal(tenant=tenant, resources=resources,
                   state_lines=[] if "state" in done else layers.state_lines(tenant),
                   files=[str(path)] if path.is_file() else [], backups=backups, pooled_table=pooled.table,
                   pooled_rows=0 if "products" in done else pooled.count(), export=export,
                   order_table=orders.table, pooled_orders=0 if "orders" in done else orders.count(),
                   order_export=export.with_name(f"{orders.table}-{day}.json"),
                   skip_backup=skip_backup, resumed=list(done), kept=_kept(journal))


def offboard(project: Project, *, tenant_id: str, confirm: Confirm, say: Say = _quiet,
             skip_backup: bool = False, layers: Runner | None = None) -> Report:
    try:
        return _offboard(project, tenant_id=tenant_id, confirm=confirm, say=say, skip_backup=skip_backup,
                         layers=layers if layers is not None else runner_for(project))
    except tenant_data.aws_errors() as exc:  # AccessDenied, throttling, no route: one line, then resume
        raise TenantformError(f"an AWS call of the offboarding of {tenant_id} failed ({exc}); "
                              "what is done is journaled: fix the cause and re-run") from None


def _offboard(project: Project, *, tenant_id: str, confirm: Confirm, say: Say, skip_backup: bool,
              layers: Runner) -> Report:
    started = time.monotonic()
    from tenantform.tenant_move import Journal as Move

    if Move.path(project, tenant_id).is_file():  # its orders may be in both deployments
        raise TenantformError(f"tenant {tenant_id} is being moved between pool and silo ({Move.path(project, tenant_id)}): "
                              "finish the move with the same `invoke update` first; nothing removed")
    journal = Journal.load(project, tenant_id)
    tenant = journal.tenant if journal else project.registry.get(tenant_id)
    removal = plan(project, tenant, journal, layers, skip_backup=skip_backup)
    if not confirm(removal.describe()):
        raise TenantformError("not confirmed: nothing removed")
    if journal is None:
        now = datetime.now(timezone.utc)
        journal = Journal(tenant_id=tenant.id, tenant_toml=tenant.to_toml(), started=now.isoformat(timespec="seconds"),
                          day=now.strftime("%Y%m%d"))
        journal.save(project)
    names = tenant_names(tenant.id, platform_name=project.platform.name)
    record = project.records.get(names.workspace(INFRA))
    report = Report(tenant=tenant, module_version=record.module_version if record else "")
    ddb = aws_client(project, "dynamodb")
    pooled = tenant_data.PooledTable(ddb, removal.pooled_table, tenant.id)
    orders = tenant_data.PooledTable(ddb, removal.order_table, tenant.id)

    if "backup" not in journal.done:
        journal.skip_backup = skip_backup  # this run's choice, until the step is done
        if skip_backup:
            say(f"NO FINAL BACKUP of tenant {tenant.id}: --skip-backup was given")
        else:
            taken = {backup["table"] for backup in journal.backups}  # by an interrupted run
            for table, name in [(t, n) for t, n in removal.backups if t not in taken]:
                say(f"final backup {name} of table {table}")
                arn, reused = tenant_data.final_backup(ddb, table, name, say=say)
                journal.backups.append({"table": table, "name": name, "arn": arn,
                                        "reused": "yes" if reused else "no"})
                journal.save(project)
            _export(pooled, removal.export, journal)
            _export_orders(orders, removal.order_export, journal)
        journal.finish(project, "backup")
    report.kept += _kept(journal)

    if "products" not in journal.done:
        items = pooled.items()
        if items and not journal.skip_backup:  # rows written since the export are kept too
            _export(pooled, removal.export, journal, items=items)
        say(f"deleting {len(items)} products of {tenant.id} from the pooled table {pooled.table}")
        journal.deleted += pooled.delete(items)
        left = pooled.count()
        if left:
            raise TenantformError(f"{left} products of tenant {tenant.id} are still in {pooled.table} "
                                  "after the delete (written meanwhile?); re-run to resume")
        journal.finish(project, "products")
    report.removed.append(f"{journal.deleted} products of {tenant.id} in the pooled table {pooled.table}")

    if "orders" not in journal.done:
        items = orders.items()
        if items and not journal.skip_backup:  # orders written since the export are kept too
            _export_orders(orders, removal.order_export, journal, items=items)
        if items:
            say(f"deleting {len(items)} orders of {tenant.id} from the pooled table {orders.table}")
        journal.orders_deleted += orders.delete(items)
        left = orders.count()
        if left:
            raise TenantformError(f"{left} orders of tenant {tenant.id} are still in {orders.table} "
                                  "after the delete (written meanwhile?); re-run to resume")
        journal.finish(project, "orders")
    if journal.orders_deleted:
        report.removed.append(f"{journal.orders_deleted} orders of {tenant.id} in the pooled table {orders.table}")

    for layer in reversed(LAYERS):  # workloads before the identities and tables they use
        workspace = names.workspace(layer)
        if layer not in layers_of(project.platform.deployment_of(tenant.tier)):  # a pooled tenant: no apps
            journal.finish(project, layer)
            continue
        if layer in journal.done:
            report.layers.append(LayerOutcome(workspace, Outcome.DESTROYED, note="destroyed by an earlier run"))
            continue
        if workspace not in removal.resources:
            report.layers.append(LayerOutcome(workspace, Outcome.ABSENT, note="never planned (no cluster)"))
        else:
            report.layers.append(layers.destroy(tenant, layer, removal.resources[workspace], say))
        journal.finish(project, layer)

    if "verify" not in journal.done:
        left = tenant_data.leftovers(lambda service: aws_client(project, service), names, catalogue_table=project.platform.catalogue_table_name)
        if left:
            raise TenantformError(f"after the destroy, tenant {tenant.id} still has: {'; '.join(left)}. "
                                  "Its state is kept: remove these or re-run `invoke offboard`")
        journal.finish(project, "verify")

    if "state" not in journal.done:
        report.removed += layers.remove_state(tenant)
        journal.finish(project, "state")
    forget_tenant(project, tenant, report)
    journal.finish(project, "forget")
    Journal.path(project, tenant.id).unlink(missing_ok=True)
    report.seconds = time.monotonic() - started
    return report


def _kept(journal: Journal | None) -> list[str]:
    if journal is None:
        return []
    kept = [f"backup {b['name']} of table {b['table']}: {b['arn']}" for b in journal.backups]
    if journal.export:
        kept.append(f"{journal.exported} pooled products of {journal.tenant_id} exported to {journal.export}")
    if journal.order_export:
        kept.append(f"{journal.orders_exported} pooled orders of {journal.tenant_id} exported to {journal.order_export}")
    if journal.skip_backup:
        kept.append("NO FINAL BACKUP: --skip-backup was given")
    return kept


def _export(pooled: tenant_data.PooledTable, path: Path | None, journal: Journal,
            items: list[dict[str, Any]] | None = None) -> None:
    if path is None or not pooled.exists():
        return
    rows = pooled.items() if items is None else items
    journal.exported = tenant_data.export_rows(path, table=pooled.table, tenant_id=pooled.tenant_id,
                                               items=rows, key_names=pooled.key_names())
    journal.export = str(path)


def _export_orders(orders: tenant_data.PooledTable, path: Path | None, journal: Journal,
                   items: list[dict[str, Any]] | None = None) -> None:
    """The tenant's rows of the pooled order table, exported like its products (none: no file)."""
    if path is None or not orders.exists():
        return
    rows = orders.items() if items is None else items
    if not rows and not path.exists():
        return
    journal.orders_exported = tenant_data.export_rows(path, table=orders.table, tenant_id=orders.tenant_id,
                                                      items=rows, key_names=orders.key_names())
    journal.order_export = str(path)
