"""Failure safety against moto: an onboard killed mid-apply, a terraform killed while it holds
the state lock, and two onboards of one tenant at once. Each ends with exactly one of every
resource, every resource in the state, and a plan with no changes.

terraform runs in its own session with its output in files (tenantform/terraform.py), so killing
`invoke` (even its whole process group with SIGKILL) never kills terraform half-way: it finishes
the apply, writes the state and releases its lock; the next run waits for the lock and resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tenantform.names import INFRA, tenant_names
from tenantform.terraform import terraform_processes_in

pytestmark = pytest.mark.integration
INFRA_RESOURCES = {
    "module.tenant.aws_cognito_user.admin_user", "module.tenant.aws_cognito_user_pool.user_pool_g2",
    "module.tenant.aws_cognito_user_pool_client.app_client", "module.tenant.aws_cognito_user_pool_domain.user_pool_domain",
    "module.tenant.aws_dynamodb_table.order_table[0]", "module.tenant.aws_dynamodb_table_item.catalogue_entry",
    "module.tenant.aws_iam_role.irsa_role[0]", "module.tenant.aws_iam_role_policy.data_access_policy[0]",
    "module.tenant.aws_api_gateway_api_key.api_key", "module.tenant.aws_api_gateway_usage_plan_key.usage_plan_key",
}


def start(cli, *args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen:  # noqa: ANN001
    """`invoke ...` in its own process group, output to a file (never a pipe we might not drain)."""
    handle = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=cli.project_dir,
                            env={**cli.env(), **(env or {})}, stdout=handle, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)


def wait_for(condition, *, timeout: float, what: str, proc: subprocess.Popen | None = None) -> Any:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Inventory:
    """What moto and the tenant's state hold for one tenant."""

    def __init__(self, cli, tenant_id: str) -> None:  # noqa: ANN001
        self.project = cli.project()
        self.names = tenant_names(tenant_id, platform_name=self.project.platform.name)
        self.workspace = self.names.workspace(INFRA)

    def pools(self) -> list[str]:
        pools = self.project.target.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]
        return [p["Id"] for p in pools if p["Name"] == self.names.user_pool]

    def tables(self) -> list[str]:
        return [t for t in self.project.target.client("dynamodb").list_tables()["TableNames"]
                if t == self.names.order_table]

    def roles(self) -> list[str]:
        roles = self.project.target.client("iam").list_roles()["Roles"]
        return [r["RoleName"] for r in roles if r["RoleName"] == self.names.irsa_role]

    def api_keys(self) -> list[str]:
        keys = self.project.target.client("apigateway").get_api_keys()["items"]
        return [k["id"] for k in keys if k["name"] == self.names.api_key]

    def usage_plan_keys(self) -> list[str]:
        apigw, ours = self.project.target.client("apigateway"), set(self.api_keys())
        return [f"{plan['name']}/{key['id']}" for plan in apigw.get_usage_plans()["items"]
                for key in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"] if key["id"] in ours]

    def lock_object(self) -> bool:
        s3 = self.project.target.client("s3")
        key = self.names.state_key(INFRA) + ".tflock"
        return bool(s3.list_objects_v2(Bucket=self.project.target.state_bucket, Prefix=key).get("KeyCount"))

    def state(self) -> list[str]:
        return self.project.terraform(self.workspace).state_list()

    def assert_exactly_one_of_everything(self) -> None:
        assert len(self.pools()) == 1, self.pools()
        assert self.tables() == [self.names.order_table]
        assert self.roles() == [self.names.irsa_role]
        assert len(self.api_keys()) == 1, self.api_keys()
        assert len(self.usage_plan_keys()) == 1, self.usage_plan_keys()
        state = self.state()
        assert len(state) == len(set(state))
        assert INFRA_RESOURCES <= set(state), sorted(INFRA_RESOURCES - set(state))
        assert not self.lock_object()


def test_onboard_killed_mid_apply_resumes_without_lost_or_duplicated_resources(local_project, tmp_path: Path) -> None:
    tenant = "killed-apply"
    inventory = Inventory(local_project, tenant)
    proc = start(local_project, "onboard", f"tenant={tenant}", log=tmp_path / "first.log")
    try:
        wait_for(inventory.pools, timeout=600, what="the first resource of the apply", proc=proc)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole `invoke` process group, no chance to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    workdir = inventory.project.workspace_dir(inventory.workspace)
    # terraform runs in its own session: killing `invoke` left it running, to finish the apply (the
    # pool is the first of the layer's resources; the client, domain, user and entry still follow)
    survivors = terraform_processes_in(workdir)
    assert survivors, "terraform died with invoke (or had already finished: nothing was tested)"
    rerun = local_project.run("onboard", f"tenant={tenant}")
    assert "Done in" in rerun.stdout, rerun.stdout
    wait_for(lambda: not terraform_processes_in(workdir), timeout=120, what="terraform to finish")
    inventory.assert_exactly_one_of_everything()
    again = local_project.run("onboard", f"tenant={tenant}")
    assert "No changes" in again.stdout, again.stdout


def test_terraform_killed_while_holding_the_lock_is_released_and_resumed(local_project, tmp_path: Path) -> None:
    """SIGKILL of terraform itself (an OOM kill, say) leaves the S3 lock object: the next run proves
    the holder dead (its process record, same host, nothing running in the directory), releases
    the lock and completes. A lock held by a live run is never released (next test)."""
    tenant = "killed-lock"
    inventory = Inventory(local_project, tenant)
    local_project.run("onboard", f"tenant={tenant}")
    workdir = inventory.project.workspace_dir(inventory.workspace)
    proc = start(local_project, "onboard", f"tenant={tenant}", log=tmp_path / "held.log")
    try:
        wait_for(inventory.lock_object, timeout=300, what="terraform to take the state lock", proc=proc)
        for pid in wait_for(lambda: terraform_processes_in(workdir), timeout=30, what="the terraform process"):
            os.kill(pid, signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert inventory.lock_object(), "the killed terraform left no lock: nothing to test"
    env = {**local_project.env(), "INVOKE_TENANTFORM_LOCK_TIMEOUT": "5s"}
    rerun = subprocess.run([sys.executable, "-m", "invoke", "onboard", f"tenant={tenant}"], cwd=local_project.project_dir,
                           env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "released the stale state lock" in rerun.stderr, rerun.stderr
    inventory.assert_exactly_one_of_everything()


def test_a_lock_held_by_a_live_run_is_reported_not_released(local_project, tmp_path: Path) -> None:
    """Another host (here: another terraform process, outside tenantform's records) holds the lock:
    the command fails after the lock timeout with a message naming the lock and how to release it."""
    tenant = "held-lock"
    inventory = Inventory(local_project, tenant)
    local_project.run("onboard", f"tenant={tenant}")  # its own tenant: no dependency on another test
    project = inventory.project
    tf = project.terraform(inventory.workspace)
    holder = subprocess.Popen([tf.binary, "console", "-no-color"], cwd=tf.workdir, env=tf.env,  # console holds the lock
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(inventory.lock_object, timeout=60, what="terraform console to take the lock")
        env = {**local_project.env(), "INVOKE_TENANTFORM_LOCK_TIMEOUT": "3s"}
        proc = subprocess.run([sys.executable, "-m", "invoke", "onboard", f"tenant={tenant}"],
                              cwd=local_project.project_dir, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=600)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "the state is locked" in output and "terraform is still running" in output, output[-3000:]
        assert inventory.lock_object(), "a live holder's lock was released"
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert not inventory.lock_object()


def test_two_onboards_of_one_tenant_at_once(local_project, tmp_path: Path) -> None:
    tenant = "raced"
    inventory = Inventory(local_project, tenant)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start(local_project, "onboard", f"tenant={tenant}", log=log) for log in logs]
    codes = [proc.wait(timeout=900) for proc in procs]
    outputs = [log.read_text(encoding="utf-8") for log in logs]
    assert codes == [0, 0], outputs
    assert any("waiting for another tenantform run on tenant raced" in out for out in outputs), outputs
    assert sum("No changes" in out for out in outputs) == 1, outputs  # the second found the work done
    inventory.assert_exactly_one_of_everything()
