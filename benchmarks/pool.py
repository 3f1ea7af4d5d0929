"""Pool vs silo: resources and Terraform workspaces per tenant, onboarding time, and a whole move.

    python benchmarks/pool.py [--orders 10000]

In a temporary project copy with its own moto server and `pooled_tiers = ["basic"]`: deploys the
platform and synthesises the module version (onboarding a warm-up tenant; not timed), then

  onboarding   `invoke onboard` of a standard tenant (silo, the baseline) and of a basic tenant
               (pool), each timed as a whole, with the ratio pool / silo;
  footprint    per tenant: workspaces (state objects in the bucket), resources in their states,
               and what exists in moto of the tenant's own (order table, IAM role);
  move         `invoke update tier=standard --yes` of the pooled tenant holding `--orders`
               orders (written with BatchWriteItem first), then back with `tier=basic`: time and
               orders/s, against the same run's onboarding of a silo tenant (the terraform part a
               move cannot avoid: it creates or retires that footprint).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import Cli, copy_project  # noqa: E402

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def timed(cli: Cli, *args: str) -> float:
    started = time.monotonic()
    cli.run(*args)
    return time.monotonic() - started


def footprint(cli: Cli, tenant_id: str) -> tuple[int, int, list[str]]:
    from tenantform import tenant_data
    from tenantform.names import tenant_names
    from tenantform.state_bucket import list_state_keys

    project = cli.project()
    names = tenant_names(tenant_id, platform_name=project.platform.name)
    keys = [key for key in list_state_keys(project.target.client("s3"), project.target.state_bucket, f"tenants/{tenant_id}/")
            if key.endswith(".tfstate")]
    resources = 0
    for key in keys:
        workspace = names.workspace(key.rsplit("/", 1)[1].removesuffix(".tfstate"))
        resources += len([a for a in project.terraform(workspace).state_list()
                          if not a.startswith("data.") and ".data." not in a])
    own = []
    if tenant_data.table_exists(project.target.client("dynamodb"), names.order_table):
        own.append(f"table {names.order_table}")
    iam = project.target.client("iam")
    try:
        iam.get_role(RoleName=names.irsa_role)
        own.append(f"role {names.irsa_role}")
    except iam.exceptions.NoSuchEntityException:
        pass
    return len(keys), resources, own


def put_orders(cli: Cli, tenant_id: str, count: int) -> None:
    from tenantform.tenant_data import write_batches

    project = cli.project()
    requests = [{"PutRequest": {"Item": {
        "tenant_id": {"S": tenant_id}, "order_id": {"S": f"{n:08d}-4c1e-9a7b-{n:012d}"},
        "name": {"S": f"order number {n}"},
        "lines": {"L": [{"M": {"product_id": {"S": f"p-{n % 97}"}, "quantity": {"N": str(n % 9 + 1)}}}]}}}}
        for n in range(count)]
    write_batches(project.target.client("dynamodb"), project.platform.pooled_order_table_name, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tenantform-pool-bench-"))
    cli = Cli(copy_project(work / "project"))
    config = cli.project_dir / "platform.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("\npooled_tiers = []\n", '\npooled_tiers = ["basic"]\n', 1),
                      encoding="utf-8")
    try:
        print("setting up: platform deploy and module synthesis (not timed)", flush=True)
        cli.run("platform.deploy")
        cli.run("onboard", "tenant=warmup", "tier=standard")

        silo = timed(cli, "onboard", "tenant=silo-one", "tier=standard")
        pool = timed(cli, "onboard", "tenant=pool-one", "tier=basic")
        print("onboarding (invoke onboard, whole command):")
        print(f"  silo (standard, the baseline)  {silo:6.1f} s")
        print(f"  pool (basic)                   {pool:6.1f} s   ratio pool/silo {pool / silo:.2f}")
        print("footprint per tenant (workspaces = state objects; resources in their states; own tables/roles):")
        for label, tenant in (("silo", "silo-one"), ("pool", "pool-one")):
            workspaces, resources, own = footprint(cli, tenant)
            print(f"  {label}: {workspaces} workspace(s), {resources} resources, own: {', '.join(own) or 'none'}"
                  " (without a cluster the apps workspace of a silo is synthesised, not applied: its "
                  "Kubernetes resources are not counted)")

        put_orders(cli, "pool-one", args.orders)
        there = timed(cli, "update", "tenant=pool-one", "tier=standard", "--yes")
        back = timed(cli, "update", "tenant=pool-one", "tier=basic", "--yes")
        print(f"move of {args.orders} orders (invoke update --yes, whole command):")
        print(f"  pool -> silo  {there:6.1f} s  {args.orders / there:6.0f} orders/s   ratio to a silo onboarding "
              f"{there / silo:.2f}")
        print(f"  silo -> pool  {back:6.1f} s  {args.orders / back:6.0f} orders/s   ratio to a silo onboarding "
              f"{back / silo:.2f}")
    finally:
        cli.run("local.down", "--yes", check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
