"""A tier change that moves a tenant between the pool and a silo, with its orders.

`invoke update tenant=acme tier=standard` on a pooled (basic) tenant hands over here from
workflows.update when the tier's deployment differs (PlatformConfig.deployment_of); so does the
reverse. Products need no move: the Product table is pooled for every tenant. Steps, in order;
each is recorded in a journal (`.tenantform/moves/<id>.json`) once done, so a re-run skips it,
and none fails because its work already happened:

  plan       what moves: the item counts, every step below; confirmed (or --yes), journaled.
  footprint  the target's footprint beside the source's: the infra layer applied with
             deployment=silo (the tenant's own order table and IRSA role exist during a move,
             whichever way it goes) and routing=<source>; for a silo target, also its apps layer
             (planned and applied only with a cluster; synthesised otherwise, as onboarding does).
  freeze     the catalogue item `<id>#move` (frozen, since): the services refuse the tenant's
             writes (503 + Retry-After) while it exists, reads go on. With a cluster, the move
             then waits FREEZE_SETTLE_SECONDS for writes already past the check to land.
  copy       the tenant's orders, source -> target (tenantform/item_copy.py; idempotent).
  verify     item count and content checksum of both sides; a difference stops the move here,
             before anything is deleted or switched.
  switch     the infra layer with the new tier and routing=<target> (the catalogue attribute
             `deployment` the authorizer forwards), the tenant file rewritten with the new tier.
  cleanup    the source's items: first kept (a silo table: an on-demand backup
             `tenantform-move-<id>-<day>`; the pooled partition: exported to
             `.tenantform/backups/<id>/`, as offboarding keeps pooled products), then deleted,
             each only if the target holds it identically.
  unfreeze   the freeze item deleted: writes go on, to the target.
  retire     the infra layer applied as derived (deployment=<target>: a pool target drops the
             silo order table and role); a pool target's apps workspace destroyed, its state
             object and records removed.
  done       the journal removed.

Moves run on the local and aws targets (terraform here, data calls from this machine); the tfc
target refuses them before anything changes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tenantform import item_copy, tenant_data
from tenantform.deployment_guard import actual_deployment
from tenantform.errors import TenantformError
from tenantform.names import APPS, INFRA, tenant_names
from tenantform.project import Project, Say, _quiet
from tenantform.state_bucket import delete_state_objects
from tenantform.tenant import Tenant, parse_tenant, validate_tenant_id
from tenantform.tiers import Deployment, Tier, profile
from tenantform.workflows import Confirm, LayerOutcome, Report, apply_layer, tenant_module_version, updated_tenant

STEPS = ("plan", "footprint", "freeze", "copy", "verify", "switch", "cleanup", "unfreeze", "retire", "done")
FAULT_PREFIX = "move:"
"""Tests only: TENANTFORM_FAULT=move:<step> ends the process right after <step> is journaled."""
FREEZE_SUFFIX = "#move"
FREEZE_SETTLE_SECONDS = 30.0
ROUTING_SETTLE_SECONDS = 300.0 + 30.0
"""How long a request may still be routed by the tenant's old `deployment` after the switch: the
gateway caches the authorizer's decision (modules/platform/authorizer.py RESULT_TTL_SECONDS) and
the authorizer caches the catalogue entry (services/authorizer/catalogue.py, 30 s). The freeze is
kept that long after the switch, so no write lands in the source after its items were deleted
(tests/test_pool_synth.py checks the two figures)."""
"""services/tenancy.py WRITE_SETTLE_SECONDS: a write that passed the freeze check lands within it."""

DESCRIPTIONS = {
    "plan": "record this move (a re-run resumes it)",
    "footprint": "create the target's footprint: {footprint}",
    "freeze": "freeze the tenant's writes (catalogue item {id}#move; the services answer 503 + Retry-After)",
    "copy": "copy {count} orders from {source} to {target}",
    "verify": "verify item count and checksum on both sides (a difference stops here; nothing deleted)",
    "switch": "switch routing and the catalogue entry to {to}, tier {tier} (tenants/{id}.toml rewritten)",
    "cleanup": "keep {keep}, then delete the {count} orders from {source}",
    "unfreeze": "unfreeze the tenant's writes",
    "retire": "retire the source's footprint: {retire}",
    "done": "remove the journal",
}


@dataclass
class Journal:
    """What a move has done so far; written after every step."""

    tenant_id: str
    source: str
    """pool or silo: where the tenant's orders are when the move starts."""
    target: str
    before_toml: str
    after_toml: str
    started: str
    day: str
    """yyyymmdd of the first run: names the backup and the export."""
    done: list[str] = field(default_factory=list)
    source_items: int = 0
    copied: int = 0
    verified: dict[str, Any] = field(default_factory=dict)
    deleted: int = 0
    kept: str = ""
    frozen_at: str = ""
    switched_at: str = ""

    @staticmethod
    def path(project: Project, tenant_id: str) -> Path:
        return project.settings.work_dir / "moves" / f"{validate_tenant_id(tenant_id)}.json"

    @classmethod
    def load(cls, project: Project, tenant_id: str) -> "Journal | None":
        path = cls.path(project, tenant_id)
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise TenantformError(f"{path} is not a readable move journal ({exc}); "
                                  "look at both deployments' tables before moving it away") from None

    @property
    def before(self) -> Tenant:
        return parse_tenant(self.before_toml, source=f"move journal of {self.tenant_id}", expected_id=self.tenant_id)

    @property
    def after(self) -> Tenant:
        return parse_tenant(self.after_toml, source=f"move journal of {self.tenant_id}", expected_id=self.tenant_id)

    def save(self, project: Project) -> None:
        path = self.path(project, self.tenant_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")
        tmp.replace(path)

    def finish(self, project: Project, step: str) -> None:
        if step not in self.done:
            self.done.append(step)
        self.save(project)
        if os.environ.get(tenant_data.FAULT_ENV) == f"{FAULT_PREFIX}{step}":  # tests: a crash right here
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(75)


def deployment_of(project: Project, tier: Tier) -> Deployment:
    return Deployment(project.platform.deployment_of(tier))


def source_deployment(project: Project, tenant: Tenant) -> Deployment:
    """Where the tenant's orders are: what its catalogue entry says (on the targets that run here;
    it differs from its tier's after a change of pooled_tiers), else what its tier derives."""
    if project.target.runs_here:
        project.target.prepare()
        actual = actual_deployment(project, tenant.id)
        if actual is not None:
            return actual
    return deployment_of(project, tenant.tier)


def wants_move(project: Project, tenant_id: str, tier: str | None) -> bool:
    """Whether `invoke update` must move the tenant: a move of it is journaled, or the new tier's
    deployment differs from where the tenant runs (a tier change, or pooled_tiers changed)."""
    if Journal.path(project, tenant_id).is_file():
        return True
    current = project.registry.get(tenant_id)
    wanted = updated_tenant(project, tenant_id, tier=tier)
    return source_deployment(project, current) is not deployment_of(project, wanted.tier)


# -- the two sides ---------------------------------------------------------------------------------
def side(project: Project, ddb: Any, tenant_id: str, deployment: str) -> item_copy.Side:
    if deployment == Deployment.POOL.value:
        return item_copy.Side(ddb, project.platform.pooled_order_table_name, tenant_id, pooled=True)
    return item_copy.Side(ddb, tenant_names(tenant_id, platform_name=project.platform.name).order_table,
                          tenant_id, pooled=False)


def _ddb(project: Project) -> Any:
    from tenantform.offboarding import aws_client

    return aws_client(project, "dynamodb")


def describe(project: Project, journal: Journal, *, source_count: int, target_count: int) -> str:
    names = tenant_names(journal.tenant_id, platform_name=project.platform.name)
    ddb = _ddb(project)
    source, target = side(project, ddb, journal.tenant_id, journal.source), side(project, ddb, journal.tenant_id, journal.target)
    to_silo = journal.target == Deployment.SILO.value
    values = {
        "id": journal.tenant_id, "count": source_count, "source": source.describe(), "target": target.describe(),
        "to": journal.target, "tier": journal.after.tier.value,
        "footprint": (f"table {names.order_table} and IAM role {names.irsa_role} "
                      f"({names.workspace(INFRA)}), then {names.workspace(APPS)}" if to_silo
                      else f"the pooled table {target.table} (the platform's) is there already"),
        "keep": (f"the {source_count} orders exported to {_export_path(project, journal)}" if to_silo
                 else f"an on-demand backup tenantform-move-{journal.tenant_id}-{journal.day} of {names.order_table}"),
        "retire": ("nothing of the tenant's own in the pool" if to_silo
                   else f"table {names.order_table}, IAM role {names.irsa_role} and its policy "
                        f"({names.workspace(INFRA)}); workspace {names.workspace(APPS)} destroyed and forgotten"),
    }
    before, after = journal.before, journal.after
    lines = [f"Moving tenant {journal.tenant_id} from the {journal.source} ({before.tier}) "
             f"to the {journal.target} ({after.tier}): {source_count} orders in {source.describe()}, "
             f"{target_count} in {target.describe()}."]
    if journal.done:
        lines.insert(0, f"Resuming an interrupted move; done already: {', '.join(journal.done)}")
    for number, step in enumerate(STEPS, 1):
        mark = "done" if step in journal.done else "    "
        lines.append(f"  {number:>2}. [{mark}] {step:<9} {DESCRIPTIONS[step].format(**values)}")
    return "\n".join(lines)


def _export_path(project: Project, journal: Journal) -> Path:
    """Named after the move's start: a second move, or an offboarding export, never overwrites it."""
    started = journal.started.replace("-", "").replace(":", "")[:15]  # yyyymmddThhmmss
    return (project.settings.work_dir / "backups" / journal.tenant_id
            / f"{project.platform.pooled_order_table_name}-move-{started}.json")


# -- the move ----------------------------------------------------------------------------------------
def move(project: Project, *, tenant_id: str, tier: str | None, email: str | None = None, name: str | None = None,
         say: Say = _quiet, confirm: Confirm | None = None) -> Report:
    if not project.target.runs_here:  # HCP Terraform: remote runs (the move drives terraform here)
        raise TenantformError(f"moving tenant {tenant_id} between pool and silo runs on the local and aws targets "
                              "only (the tfc target cannot yet); nothing changed")
    try:
        return _move(project, tenant_id=tenant_id, tier=tier, email=email, name=name, say=say, confirm=confirm)
    except tenant_data.aws_errors() as exc:  # AccessDenied, throttling, no route: one line, then resume
        raise TenantformError(f"an AWS call of the move of {tenant_id} failed ({exc}); "
                              "what is done is journaled: fix the cause and re-run the same update") from None


def _new_journal(project: Project, tenant_id: str, tier: str | None, email: str | None,
                 name: str | None) -> Journal:
    current = project.registry.get(tenant_id)
    wanted = updated_tenant(project, tenant_id, tier=tier, email=email, name=name)
    now = datetime.now(timezone.utc)
    return Journal(tenant_id=tenant_id, source=source_deployment(project, current).value,
                   target=deployment_of(project, wanted.tier).value, before_toml=current.to_toml(),
                   after_toml=wanted.to_toml(), started=now.isoformat(timespec="seconds"), day=now.strftime("%Y%m%d"))


def _move(project: Project, *, tenant_id: str, tier: str | None, email: str | None, name: str | None,
          say: Say, confirm: Confirm | None) -> Report:
    started = time.monotonic()
    journal = Journal.load(project, tenant_id)
    if journal is not None and tier is not None and tier != journal.after.tier.value:
        raise TenantformError(f"tenant {tenant_id} is being moved to tier {journal.after.tier} "
                              f"(journal {Journal.path(project, tenant_id)}, done: {', '.join(journal.done)}): "
                              f"finish it first with `invoke update tenant={tenant_id} tier={journal.after.tier}`")
    fresh = journal is None
    if journal is None:
        journal = _new_journal(project, tenant_id, tier, email, name)
    project.target.prepare()
    from tenantform.offboarding import require_aws_credentials

    require_aws_credentials(project, calls="the item copy, its verification, the freeze", job="a move")
    ddb = _ddb(project)
    source = side(project, ddb, tenant_id, journal.source)
    target = side(project, ddb, tenant_id, journal.target)
    source_count, target_count = source.count(), target.count()
    if fresh and target_count:
        raise TenantformError(f"{target.describe()} already holds {target_count} orders of tenant {tenant_id} "
                              "before the move: move them away or delete them, then re-run; nothing changed")
    if fresh:
        pooled = project.platform.pooled_order_table_name
        if not tenant_data.table_exists(ddb, pooled):
            raise TenantformError(f"the pooled order table {pooled} does not exist: deploy the platform "
                                  "(`invoke platform.deploy`) first; nothing changed")
        journal.source_items = source_count
    if confirm is not None and not confirm(describe(project, journal, source_count=source_count,
                                                    target_count=target_count)):
        raise TenantformError("not confirmed: nothing changed")
    journal.finish(project, "plan")

    before, after = journal.before, journal.after
    names = tenant_names(tenant_id, platform_name=project.platform.name)
    version, _ = tenant_module_version(project, tenant_id, say)
    report = Report(tenant=after, module_version=version)
    silo, pool = Deployment.SILO, Deployment.POOL
    to_silo = journal.target == silo.value

    if "footprint" not in journal.done:
        report.layers.append(apply_layer(project, before, INFRA, version, say=say, timings=report.timings,
                                         deployment=silo, routing=Deployment(journal.source)))
        if to_silo:
            report.layers.append(apply_layer(project, after, APPS, version, say=say, timings=report.timings))
        journal.finish(project, "footprint")

    if "freeze" not in journal.done:
        journal.frozen_at = journal.frozen_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
        say(f"freezing the writes of {tenant_id} (catalogue item {tenant_id}{FREEZE_SUFFIX})")
        ddb.put_item(TableName=project.platform.catalogue_table_name,
                     Item={"tenant_id": {"S": f"{tenant_id}{FREEZE_SUFFIX}"}, "frozen": {"BOOL": True},
                           "since": {"S": journal.frozen_at}})
        journal.finish(project, "freeze")

    if "copy" not in journal.done:
        _settle(project, journal, say)
        say(f"copying the orders of {tenant_id}: {source.describe()} -> {target.describe()}")
        journal.copied = item_copy.copy_items(source, target)
        journal.finish(project, "copy")

    if "verify" not in journal.done:
        try:
            digest = item_copy.verify(source, target)
        except item_copy.VerificationFailed as exc:  # the re-run copies again (puts overwrite) and verifies
            journal.done.remove("copy")
            journal.save(project)
            raise TenantformError(f"{exc}. The move stopped before switching or deleting anything: look at "
                                  f"both tables, then re-run the same update to copy again and verify") from None
        say(f"verified: {digest} on both sides")
        journal.verified = digest.as_dict()
        journal.finish(project, "verify")

    if "switch" not in journal.done:
        report.layers.append(apply_layer(project, after, INFRA, version, say=say, timings=report.timings,
                                         deployment=silo, routing=Deployment(journal.target)))
        project.registry.save(after)
        journal.switched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        journal.finish(project, "switch")

    if "cleanup" not in journal.done:
        if source.exists():
            if not journal.kept:
                journal.kept = _keep(project, journal, source, say)
                journal.save(project)
            say(f"deleting the {journal.source} copy of the orders of {tenant_id} ({source.describe()})")
            journal.deleted += item_copy.delete_source(source, target)
        journal.finish(project, "cleanup")
    if journal.kept:
        report.kept.append(journal.kept)

    if "unfreeze" not in journal.done:
        _drain_routing(project, journal, say)
        say(f"unfreezing the writes of {tenant_id}")
        ddb.delete_item(TableName=project.platform.catalogue_table_name,
                        Key={"tenant_id": {"S": f"{tenant_id}{FREEZE_SUFFIX}"}})
        journal.finish(project, "unfreeze")

    if "retire" not in journal.done:
        if not to_silo and profile(after.tier).enable_deletion_protection:  # a protected table is not deleted
            say(f"turning deletion protection off on {names.order_table} before it is retired")
            apply_layer(project, after, INFRA, version, say=say, deployment=silo, routing=pool,
                        deletion_protection=False)
        report.layers.append(apply_layer(project, after, INFRA, version, say=say, timings=report.timings))
        if not to_silo:
            report.layers.append(_retire_apps(project, after, say))
            report.removed.append(f"table {names.order_table}, IAM role {names.irsa_role} (silo footprint)")
        journal.finish(project, "retire")

    report.removed.append(f"{journal.deleted} orders of {tenant_id} from {source.describe()} "
                          f"(moved to {target.describe()}, verified: {journal.verified.get('count', 0)} items)")
    for earlier in report.layers[:-1]:  # each workspace's outputs once: after its last apply
        if any(later.workspace == earlier.workspace for later in report.layers[report.layers.index(earlier) + 1:]):
            earlier.outputs = {}
    journal.finish(project, "done")
    Journal.path(project, tenant_id).unlink(missing_ok=True)
    report.seconds = time.monotonic() - started
    return report


def _settle(project: Project, journal: Journal, say: Say) -> None:
    """With a cluster, services may be writing: wait until a write that passed the freeze check
    before the freeze item existed has landed. Without one (the local target), nothing writes."""
    if not project.cluster_configured:
        return
    since = datetime.fromisoformat(journal.frozen_at)
    left = FREEZE_SETTLE_SECONDS - (datetime.now(timezone.utc) - since).total_seconds()
    if left > 0:
        say(f"waiting {left:.0f} s for writes already accepted before the freeze")
        time.sleep(left)


def _drain_routing(project: Project, journal: Journal, say: Say) -> None:
    """With a cluster, requests may still reach the source deployment for ROUTING_SETTLE_SECONDS
    after the switch (cached authorizer decisions): the freeze refuses their writes until then."""
    if not project.cluster_configured or not journal.switched_at:
        return
    left = ROUTING_SETTLE_SECONDS - (datetime.now(timezone.utc)
                                     - datetime.fromisoformat(journal.switched_at)).total_seconds()
    if left > 0:
        say(f"keeping the freeze {left:.0f} s more: cached routing may still reach the old deployment")
        time.sleep(left)


def _keep(project: Project, journal: Journal, source: item_copy.Side, say: Say) -> str:
    """The source's items kept before they are deleted: a backup of a silo table, an export of a
    pooled partition. Returns what was kept, for the report."""
    if source.pooled:
        path = _export_path(project, journal)
        items = [item for page in source.pages() for item in page]
        count = tenant_data.export_rows(path, table=source.table, tenant_id=journal.tenant_id, items=items,
                                        key_names=source.key_names())
        return f"{count} pooled orders of {journal.tenant_id} exported to {path}"
    backup = f"tenantform-move-{journal.tenant_id}-{journal.day}"
    say(f"backup {backup} of table {source.table}")
    try:
        arn, _ = tenant_data.final_backup(source.ddb, source.table, backup, say=say)
    except TenantformError as exc:
        raise TenantformError(f"{str(exc).split('; nothing was destroyed')[0]}; the move stopped before deleting "
                              "any order (they are in both tables): fix the cause and re-run") from None
    return f"backup {backup} of table {source.table}: {arn}"


def _retire_apps(project: Project, tenant: Tenant, say: Say) -> LayerOutcome:
    """A pooled tenant has no apps workspace: destroy it (with a cluster), remove its state
    object, root and records."""
    from tenantform.runners import runner_for  # the local runner: a move refuses the tfc target

    layers = runner_for(project)
    names = tenant_names(tenant.id, platform_name=project.platform.name)
    workspace = names.workspace(APPS)
    found = layers.inventory(tenant, [APPS])
    outcome = (layers.destroy(tenant, APPS, found[workspace], say) if workspace in found
               else LayerOutcome(workspace, "absent", note="no cluster: nothing was planned or applied"))
    delete_state_objects(project.target.client("s3"), project.target.state_bucket, names.state_key(APPS))
    shutil.rmtree(project.workspace_dir(workspace), ignore_errors=True)
    project.records.remove(workspace)
    return outcome
