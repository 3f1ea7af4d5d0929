"""The local runner: terraform on this machine (targets local and aws), state in the S3 bucket.

Each workspace is a directory under `cdktf.out/stacks/` run by tenantform/terraform.py (its own
process session, `-lock-timeout`, logs under `.tenantform/logs/<workspace>/`). The Kubernetes
layer is only written, not planned, when no cluster is configured (the local target's default).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tenantform.errors import TenantformError
from tenantform.names import APPS, INFRA, PLATFORM_STATE_KEY, PLATFORM_WORKSPACE, tenant_names
from tenantform.outcomes import Changes, LayerOutcome, Mode, Outcome
from tenantform.runners.base import Confirm, Root, Say, write_tenant_root
from tenantform.state_bucket import delete_state_objects, list_state_keys
from tenantform.terraform import Result, Terraform, drifted_resources
from tenantform.tiers import profile

if TYPE_CHECKING:
    from tenantform.fleet import Runner as FleetRunner
    from tenantform.fleet import Work, WorkspaceResult
    from tenantform.project import Project
    from tenantform.tenant import Tenant

NO_CLUSTER = "no cluster configured"


def _managed(addresses: list[str]) -> list[str]:
    """Resource addresses without data sources."""
    return [a for a in addresses if not a.startswith("data.") and ".data." not in a]


class LocalRunner:
    """tenantform.runners.base.Runner with terraform on this machine."""

    plan_only = False

    def __init__(self, project: Project) -> None:
        self.project = project

    def prepare(self) -> None:
        self.project.target.prepare()

    # -- one tenant workspace -----------------------------------------------------------------------
    def init(self, root: Root, *, say: Say) -> None:
        say(f"{root.workspace}: terraform init")
        self.project.terraform(root.workspace).init()

    def _synthesised(self, root: Root) -> LayerOutcome | None:
        if root.layer != APPS or self.project.cluster_configured:
            return None
        self.project.records.record(root.workspace, Outcome.SYNTHESISED, version=root.version, message=NO_CLUSTER)
        return LayerOutcome(root.workspace, Outcome.SYNTHESISED, note=(
            f"root written to {root.directory}; not planned: no cluster is configured on the local target "
            "(set tenantform.kubeconfig to plan and apply it)"))

    def plan(self, root: Root, *, say: Say, timings: dict[str, float]) -> LayerOutcome:
        return self._run(root, say=say, timings=timings, plan_only=True)

    def apply(self, root: Root, *, say: Say, timings: dict[str, float],
              confirmed: LayerOutcome | None = None) -> LayerOutcome:
        return self._run(root, say=say, timings=timings, confirmed=confirmed)

    def _run(self, root: Root, *, say: Say, timings: dict[str, float], plan_only: bool = False,
             confirmed: LayerOutcome | None = None) -> LayerOutcome:
        skipped = self._synthesised(root)
        if skipped is not None:
            return skipped
        records, workspace, layer = self.project.records, root.workspace, root.layer
        tf = self.project.terraform(workspace)
        started = time.monotonic()
        say(f"{workspace}: terraform init")
        tf.init()
        timings[f"{layer} init"] = time.monotonic() - started
        try:
            if confirmed is not None and confirmed.changes.any:
                say(f"{workspace}: terraform apply of the confirmed plan ({confirmed.changes})")
                apply: Result = tf.apply()
                timings[f"{layer} apply"] = apply.seconds
                return self._applied(root, tf, apply, confirmed.changes)
            say(f"{workspace}: terraform plan")
            plan = tf.plan()
            timings[f"{layer} plan"] = plan.seconds
            if plan_only:
                records.record(workspace, Outcome.PLANNED, fingerprint=root.fingerprint, version=root.version,
                               log=str(plan.log))
                return LayerOutcome(workspace, Outcome.PLANNED, plan.changes, log=str(plan.log))
            if not plan.changes.any:
                outputs = tf.outputs()
                records.record(workspace, Outcome.UNCHANGED, fingerprint=root.fingerprint, version=root.version,
                               log=str(plan.log), count=lambda: len(tf.state_list()))
                return LayerOutcome(workspace, Outcome.UNCHANGED, plan.changes, outputs, str(plan.log))
            say(f"{workspace}: terraform apply ({plan.changes})")
            apply = tf.apply()
            timings[f"{layer} apply"] = apply.seconds
        except TenantformError as exc:
            records.record(workspace, Outcome.FAILED, version=root.version, message=str(exc).splitlines()[0])
            raise
        return self._applied(root, tf, apply, plan.changes)

    def _applied(self, root: Root, tf: Terraform, apply: Result, planned: Changes) -> LayerOutcome:
        outputs = tf.outputs()
        changes = apply.changes if apply.changes.any else planned
        changes.actions = planned.actions
        self.project.records.record(root.workspace, Outcome.APPLIED, fingerprint=root.fingerprint,
                                    version=root.version, log=str(apply.log), count=lambda: len(tf.state_list()))
        return LayerOutcome(root.workspace, Outcome.APPLIED, changes, outputs, str(apply.log))

    def outputs(self, workspace: str) -> dict[str, object]:
        return self.project.terraform(workspace).outputs()

    # -- removal ----------------------------------------------------------------------------------------
    def inventory(self, tenant: Tenant, layers: list[str]) -> dict[str, list[str]]:
        project = self.project
        version, _ = project.ensure_modules()
        found: dict[str, list[str]] = {}
        for layer in layers:
            if layer == APPS and not project.cluster_configured:
                continue
            root = write_tenant_root(project, tenant, layer, version)
            tf = project.terraform(root.workspace)
            tf.init()
            found[root.workspace] = _managed(tf.state_list())
        return found

    def destroy(self, tenant: Tenant, layer: str, resources: list[str], say: Say) -> LayerOutcome:
        project = self.project
        workspace = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
        if not resources:
            return LayerOutcome(workspace, Outcome.ABSENT, note="no resources in state")
        version, _ = project.ensure_modules(say)
        if layer == INFRA and profile(tenant.tier).enable_deletion_protection:
            say(f"{workspace}: turning deletion protection off before destroying (order table, user pool)")
            self.apply(write_tenant_root(project, tenant, INFRA, version, deletion_protection=False),
                       say=say, timings={})
        tf = project.terraform(workspace)
        say(f"{workspace}: terraform destroy")
        return LayerOutcome(workspace, Outcome.DESTROYED, *self._destroy(tf))

    @staticmethod
    def _destroy(tf: Terraform) -> tuple[Changes, dict[str, object], str]:
        planned = tf.plan(destroy=True)
        result = tf.apply(destroying=True) if planned.changes.any else planned
        return (result.changes if result.changes.any else planned.changes), {}, str(result.log)

    def state_lines(self, tenant: Tenant) -> list[str]:
        bucket = self.project.target.state_bucket
        keys = list_state_keys(self.project.target.client("s3"), bucket, f"tenants/{tenant.id}/")
        return [f"  state objects in s3://{bucket}: {', '.join(keys) or 'none'}"]

    def remove_state(self, tenant: Tenant) -> list[str]:
        bucket = self.project.target.state_bucket
        return [f"s3://{bucket}/{key}" for key in
                delete_state_objects(self.project.target.client("s3"), bucket, f"tenants/{tenant.id}/")]

    # -- a fleet run ---------------------------------------------------------------------------------------
    def _deployment_refusal(self, fleet: FleetRunner, work: Work) -> str | None:
        """pooled_tiers changed under the tenant: its move is `invoke update`'s (tenantform/deployment_guard.py)."""
        from tenantform.deployment_guard import deployment_refusal

        with fleet.init_lock:  # boto3's default session is not safe to build clients from in threads
            return deployment_refusal(self.project, work.tenant)

    def run_fleet_workspace(self, fleet: FleetRunner, work: Work) -> WorkspaceResult:
        from tenantform.fleet import WorkspaceResult, write_root_text

        started = time.monotonic()
        result = WorkspaceResult(work.workspace, work.tenant.id, work.layer, work.version, Outcome.FAILED,
                                 reason=work.reason)
        log_dir = self.project.settings.work_dir / "logs" / work.workspace
        records = self.project.records
        step = "render"
        try:
            write_root_text(self.project.workspace_dir(work.workspace), work.text)
            tf = self.project.terraform(work.workspace)
            step = "init"
            with fleet.init_lock:
                tf.init()
            step = "plan"
            result.planned = True
            plan = tf.plan()
            result.add, result.change, result.remove = plan.changes.add, plan.changes.change, plan.changes.remove
            result.actions = [f"{action} {address}" for action, address in plan.changes.actions if action != "read"]
            result.log = str(plan.log)
            if fleet.mode is Mode.DRIFT:
                result.drifted = drifted_resources(plan.stdout)
                if result.drifted:
                    result.outcome = Outcome.DRIFTED
                elif plan.changes.any:
                    result.outcome = Outcome.CHANGES
                    result.message = ("no drift; changes pending: " +
                                      ("the root changed since the last apply" if work.reason != "drift check" else
                                       "what the root reads (platform outputs, data sources) changed"))
                else:
                    result.outcome = Outcome.IN_SYNC
            elif not plan.changes.any:
                result.outcome = Outcome.NO_CHANGES
                records.record(work.workspace, Outcome.NO_CHANGES, fingerprint=work.fingerprint, version=work.version,
                               log=result.log, count=lambda: len(tf.state_list()))
            elif fleet.mode is Mode.PLAN:
                result.outcome = Outcome.CHANGES
            elif refusal := fleet.guard.refusal(result.actions):
                result.outcome, result.message = Outcome.REFUSED, refusal
            elif (work.layer == INFRA and _creates_or_deletes_order_table(result.actions)
                  and (refusal := self._deployment_refusal(fleet, work))):
                result.outcome, result.message = Outcome.REFUSED, refusal
            else:
                step = "apply"
                apply = tf.apply()
                result.log = str(apply.log)
                if apply.changes.any:
                    result.add, result.change, result.remove = (apply.changes.add, apply.changes.change,
                                                                apply.changes.remove)
                result.outcome = Outcome.APPLIED
                records.record(work.workspace, Outcome.APPLIED, fingerprint=work.fingerprint, version=work.version,
                               log=result.log, count=lambda: len(tf.state_list()))
        except Exception as exc:  # noqa: BLE001 - one workspace's failure must not stop the fleet
            result.outcome = Outcome.FAILED
            result.error_class = type(exc).__name__
            first = str(exc).strip().splitlines()
            detail = [line.strip() for line in first[1:] if line.strip()]
            result.message = (f"{step}: " + (detail[0] if detail else (first[0] if first else type(exc).__name__)))
            if not isinstance(exc, TenantformError):
                result.message = f"{step}: {type(exc).__name__}: {exc}"
            if fleet.interrupted:
                result.message = f"{step}: interrupted"
            log = log_dir / f"{step}.log"
            result.log = str(log) if log.is_file() else result.log
            if fleet.mode is Mode.APPLY and step != "render":
                records.record(work.workspace, Outcome.FAILED, version=work.version, log=result.log,
                               message=result.message[:500])
        result.seconds = time.monotonic() - started
        return result

    def before_fleet_threads(self) -> None:
        """Write the terraform CLI config (plugin cache, mirror) once, before the fleet's threads start."""
        self.project.target.terraform_env()

    # -- the platform ----------------------------------------------------------------------------------
    def platform_deployed(self) -> bool:
        s3 = self.project.target.client("s3")
        return bool(list_state_keys(s3, self.project.target.state_bucket, PLATFORM_STATE_KEY))

    def platform_missing(self) -> str:
        return "the platform is not deployed on this target: run `invoke platform.deploy` first"

    def deploy_platform(self, *, say: Say, plan_only: bool, with_k8s: bool) -> LayerOutcome:
        tf = self.project.terraform(PLATFORM_WORKSPACE)
        say("platform: terraform init")
        tf.init()
        say("platform: terraform plan")
        plan = tf.plan()
        if plan_only or not plan.changes.any:
            return LayerOutcome(PLATFORM_WORKSPACE, Outcome.PLANNED if plan_only else Outcome.UNCHANGED,
                                plan.changes, tf.outputs() if not plan_only else {}, str(plan.log))
        say(f"platform: terraform apply ({plan.changes})")
        apply = tf.apply()
        return LayerOutcome(PLATFORM_WORKSPACE, Outcome.APPLIED, apply.changes or plan.changes, tf.outputs(),
                            str(apply.log))

    def destroy_platform(self, *, confirm: Confirm, say: Say) -> LayerOutcome:
        project = self.project
        project.ensure_platform_synth(say, k8s=False)
        tf = project.terraform(PLATFORM_WORKSPACE)
        tf.init()
        resources = _managed(tf.state_list())
        shared_tables = [project.platform.product_table_name, project.platform.catalogue_table_name,
                         project.platform.pooled_order_table_name]
        description = "\n".join([f"Destroying the platform removes {len(resources)} resources and its state "
                                 f"object s3://{project.target.state_bucket}/{PLATFORM_STATE_KEY}:"]
                                + [f"  - {address}" for address in resources]
                                + [f"Deletion protection is turned off first on the tables {', '.join(shared_tables)} "
                                   "(every tenant's pooled data and the tenant catalogue; no backup is taken)"])
        if not confirm(description):
            raise TenantformError("not confirmed: nothing removed")
        from tenantform.tenant_data import unprotect_tables

        unprotect_tables(project.target.client("dynamodb"), shared_tables, say=say)
        say("platform: terraform destroy")
        changes, _, log = self._destroy(tf)
        delete_state_objects(project.target.client("s3"), project.target.state_bucket, PLATFORM_STATE_KEY)
        return LayerOutcome(PLATFORM_WORKSPACE, Outcome.DESTROYED, changes, log=log)


def _creates_or_deletes_order_table(actions: list[str]) -> bool:
    """Only a plan that creates or deletes the tenant's own order table can be a deployment change
    (pooled_tiers edited under the tenant): only then is the catalogue read (deployment_guard)."""
    return any(action.split(" ", 1)[0] in {"create", "delete"}  # a replace keeps it: not a deployment change
               and action.split(" ", 1)[-1].startswith("module.tenant.aws_dynamodb_table.order_table")
               for action in actions)
