"""Platform-aware change detection through the real `invoke` command line, with real terraform on moto.

Two tenants of different tiers are applied on the session's `local_project` (platform deployed
once). Then one tier's usage plan id changes in the platform's real state object in the (moto)
state bucket, as a platform deploy that replaced that tier's usage plan would leave it, and
`fleet.plan` selects exactly the tenant whose root reads that tier's plan; the other tenant,
which reads the same platform state but not that value, is not planned. The original state
object is put back afterwards (other modules share the platform).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Cli

pytestmark = pytest.mark.integration

TIERS = {"pin-basic": "basic", "pin-std": "standard"}
SELECT = "tenants=" + ",".join(TIERS)
PLATFORM_STATE_KEY = "platform/aws.tfstate"


@pytest.fixture(scope="module")
def applied(local_project: Cli) -> Iterator[Cli]:
    project_dir = local_project.project_dir
    for tenant_id, tier in TIERS.items():
        (project_dir / "tenants" / f"{tenant_id}.toml").write_text(
            f'id = "{tenant_id}"\ncompany_name = "{tenant_id} Inc"\n'
            f'admin_email = "admin@{tenant_id}.example.com"\ntier = "{tier}"\n')
    try:
        local_project.run("fleet.apply", SELECT, "parallel=2", "--yes")
        yield local_project
    finally:  # leave the shared project as other modules expect it
        for tenant_id in TIERS:
            (project_dir / "tenants" / f"{tenant_id}.toml").unlink(missing_ok=True)
            for layer in ("infra", "apps"):
                (project_dir / ".tenantform" / "records" / f"tenant-{tenant_id}-{layer}.json").unlink(missing_ok=True)
                shutil.rmtree(project_dir / "cdktf.out" / "workspaces" / f"tenant-{tenant_id}-{layer}",
                              ignore_errors=True)
        for name in ("last-run.json",):
            (project_dir / ".tenantform" / "fleet" / name).unlink(missing_ok=True)


def test_a_usage_plan_change_plans_exactly_the_tenants_of_that_tier(applied: Cli) -> None:
    target = applied.project().target
    s3, bucket = target.client("s3"), target.state_bucket
    original = s3.get_object(Bucket=bucket, Key=PLATFORM_STATE_KEY)["Body"].read()
    state = json.loads(original)
    plans = state["outputs"]["usage_plan_ids"]["value"]
    assert {"basic", "standard"} <= set(plans)
    state["outputs"]["usage_plan_ids"]["value"] = {**plans, "standard": "replacedplan"}
    state["serial"] += 1
    s3.put_object(Bucket=bucket, Key=PLATFORM_STATE_KEY, Body=json.dumps(state).encode())
    try:
        proc = applied.run("fleet.plan", SELECT, check=False)
    finally:
        s3.put_object(Bucket=bucket, Key=PLATFORM_STATE_KEY, Body=original)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # -detailed-exitcode: changes
    run = json.loads((applied.project_dir / ".tenantform" / "fleet" / "last-run.json").read_text())
    infra = {r["workspace"]: (r["outcome"], r["reason"]) for r in run["results"] if r["layer"] == "infra"}
    assert infra == {"tenant-pin-basic-infra": ("up to date", ""),
                     "tenant-pin-std-infra": ("changes", "platform outputs it reads changed")}
    log = Path(next(r["log"] for r in run["results"] if r["workspace"] == "tenant-pin-std-infra"))
    planned = {(c["change"]["resource"]["resource_type"], c["change"]["action"])
               for c in (json.loads(line) for line in log.read_text().splitlines() if line.startswith("{"))
               if c.get("type") == "planned_change"}
    assert planned == {("aws_api_gateway_usage_plan_key", "replace")}  # the key moves to the new plan
