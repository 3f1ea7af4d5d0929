"""The pool deployment model through the CLI against moto: a basic tenant onboarded into the pool,
its orders moved to a silo by `invoke update tier=standard` and back by `tier=basic`, a move
killed after every step and resumed, a failed verification that deletes nothing, fleet commands
that skip the apps workspace a pooled tenant does not have, and a pooled tenant's offboarding.

One module-scoped project (its own moto server, platform.toml with pooled_tiers = ["basic"]):
deploying a platform costs about 100 s. Orders are written into the tables with boto3 and read
back the same way: what is checked is what moto holds, not what the tool says.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest

from tenantform import tenant_data
from tenantform.item_copy import Side, digest
from tenantform.names import tenant_names
from tenantform.state_bucket import list_state_keys
from tenantform.tenant_move import STEPS
from tests.conftest import Cli, copy_project

pytestmark = pytest.mark.integration
POOLED_ORDERS = "Order"
CATALOGUE = "TenantCatalogue"


@pytest.fixture(scope="module")
def pool_project(tmp_path_factory: pytest.TempPathFactory, terraform: str) -> Iterator[Cli]:  # noqa: ARG001
    cli = Cli(copy_project(tmp_path_factory.mktemp("pool-project")))
    config = cli.project_dir / "platform.toml"
    text = config.read_text(encoding="utf-8")
    assert "\npooled_tiers = []\n" in text
    config.write_text(text.replace("\npooled_tiers = []\n", '\npooled_tiers = ["basic"]\n', 1), encoding="utf-8")
    try:
        cli.run("platform.deploy")
        yield cli
    finally:
        cli.run("local.down", "--yes", check=False)


class Tenant:
    """What moto holds of one tenant, read directly."""

    def __init__(self, cli: Cli, tenant_id: str) -> None:
        self.cli, self.id = cli, tenant_id
        self.project = cli.project()
        self.names = tenant_names(tenant_id, platform_name=self.project.platform.name)
        self.ddb = self.project.target.client("dynamodb")
        self.pool = Side(self.ddb, POOLED_ORDERS, tenant_id, pooled=True)
        self.silo = Side(self.ddb, self.names.order_table, tenant_id, pooled=False)

    def put_orders(self, count: int, *, partition: str | None = None) -> None:
        requests = [{"PutRequest": {"Item": {
            "tenant_id": {"S": partition or self.id}, "order_id": {"S": f"o-{n:04d}"}, "name": {"S": f"order {n}"},
            "lines": {"L": [{"M": {"product_id": {"S": f"p-{n % 5}"}, "quantity": {"N": str(n % 3 + 1)}}}]}}}}
            for n in range(count)]
        tenant_data.write_batches(self.ddb, POOLED_ORDERS, requests)

    def orders(self) -> dict[str, dict[str, Any]]:
        """order_id -> item without the tenant key, from whichever side holds it; an order held by
        both sides must be identical there."""
        found: dict[str, dict[str, Any]] = {}
        for side in (self.pool, self.silo):
            for page in side.pages():
                for item in page:
                    item = side.canonical(item)
                    key = item["order_id"]["S"]
                    assert found.setdefault(key, item) == item, f"order {key} differs between the sides"
        return found

    def silo_exists(self) -> bool:
        return tenant_data.table_exists(self.ddb, self.names.order_table)

    def role_exists(self) -> bool:
        iam = self.project.target.client("iam")
        try:
            iam.get_role(RoleName=self.names.irsa_role)
        except iam.exceptions.NoSuchEntityException:
            return False
        return True

    def catalogue(self, suffix: str = "") -> dict[str, Any] | None:
        return self.ddb.get_item(TableName=CATALOGUE, Key={"tenant_id": {"S": self.id + suffix}},
                                 ConsistentRead=True).get("Item")

    def state_keys(self) -> list[str]:
        """The tenant's state objects (its workspaces; change records live beside them)."""
        return [key for key in list_state_keys(self.project.target.client("s3"), self.project.target.state_bucket,
                                               f"tenants/{self.id}/") if key.endswith(".tfstate")]

    def tier(self) -> str:
        return self.cli.project().registry.get(self.id).tier.value

    def journal(self):  # noqa: ANN201
        return self.cli.project_dir / ".tenantform" / "moves" / f"{self.id}.json"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d")


def assert_pooled(tenant: Tenant, orders: dict[str, dict[str, Any]]) -> None:
    assert tenant.tier() == "basic"
    assert tenant.state_keys() == [f"tenants/{tenant.id}/infra.tfstate"]  # one workspace
    assert not tenant.silo_exists() and not tenant.role_exists()
    assert tenant.catalogue()["deployment"] == {"S": "pool"}
    assert tenant.orders() == orders and tenant.pool.count() == len(orders)
    assert tenant.catalogue("#move") is None and not tenant.journal().exists()


def assert_silo(tenant: Tenant, orders: dict[str, dict[str, Any]]) -> None:
    assert tenant.tier() == "standard"
    assert tenant.silo_exists() and tenant.role_exists()
    assert tenant.catalogue()["deployment"] == {"S": "silo"}
    assert tenant.orders() == orders and tenant.silo.count() == len(orders) and tenant.pool.count() == 0
    assert tenant.catalogue("#move") is None and not tenant.journal().exists()


def test_a_basic_tenant_onboards_into_the_pool_and_moves_to_a_silo_and_back(pool_project) -> None:  # noqa: ANN001
    cli = pool_project
    cli.run("onboard", "tenant=shop")
    shop = Tenant(cli, "shop")
    assert_pooled(shop, {})
    assert not shop.project.workspace_dir(shop.names.workspace("apps")).exists()
    listed = cli.run("tenants").stdout
    assert re.search(r"shop\s*│\s*basic\s*│\s*pool\s*│", listed), listed
    status = json.loads(cli.run("fleet.status", "--json").stdout)
    assert {t["tenant"]: t["deployment"] for t in status["tenants"]}["shop"] == "pool"

    shop.put_orders(120)
    shop.put_orders(5, partition="neighbour")  # another tenant's orders: never touched
    orders = shop.orders()
    before = digest(shop.pool)

    refused = cli.run("update", "tenant=shop", "tier=standard", check=False)  # no terminal, no --yes
    assert refused.returncode == 1 and "not confirmed: nothing changed" in refused.stderr
    assert not shop.journal().exists() and not shop.silo_exists()
    plan = refused.stdout
    assert "Moving tenant shop from the pool (basic) to the silo (standard): 120 orders in table Order " \
           "(partition tenant_id = shop), 0 in table Order-shop." in plan, plan
    for number, step in enumerate(STEPS, 1):
        assert f"{number:>2}. [    ] {step}" in plan
    assert "copy 120 orders from table Order (partition tenant_id = shop) to table Order-shop" in plan

    moved = cli.run("update", "tenant=shop", "tier=standard", "--yes")
    assert_silo(shop, orders)
    assert digest(shop.silo) == before
    assert Side(shop.ddb, POOLED_ORDERS, "neighbour", pooled=True).count() == 5
    exports = sorted((cli.project_dir / ".tenantform" / "backups" / "shop").glob("Order-move-*.json"))
    assert len(exports) == 1, exports  # its own name: an offboarding export of the same day never overwrites it
    export = exports[0]
    assert len(json.loads(export.read_text(encoding="utf-8"))["items"]) == 120
    assert f"kept 120 pooled orders of shop exported to {export}" in moved.stdout

    back = cli.run("update", "tenant=shop", "tier=basic", "--yes")
    assert_pooled(shop, orders)
    assert digest(shop.pool) == before
    backups = [b for b in shop.ddb.list_backups()["BackupSummaries"]
               if b["BackupName"] == f"tenantform-move-shop-{today()}"]
    assert len(backups) == 1 and backups[0]["TableName"] == "Order-shop"
    assert f"kept backup tenantform-move-shop-{today()} of table Order-shop" in back.stdout
    assert not shop.project.workspace_dir(shop.names.workspace("apps")).exists()


@pytest.mark.parametrize("direction", ["to-silo", "to-pool"])
def test_a_move_killed_after_every_step_resumes_without_losing_or_duplicating_an_order(pool_project, direction) -> None:  # noqa: ANN001
    cli = pool_project
    tenant_id = f"kill-{direction}"
    cli.run("onboard", f"tenant={tenant_id}", "tier=basic")
    tenant = Tenant(cli, tenant_id)
    tenant.put_orders(60)
    if direction == "to-pool":  # the orders in a silo first: moved there from the pool
        cli.run("update", f"tenant={tenant_id}", "tier=standard", "--yes")
        assert tenant.silo.count() == 60
    orders = tenant.orders()
    assert len(orders) == 60
    tier = "standard" if direction == "to-silo" else "basic"
    for number, step in enumerate(STEPS):
        crashed = cli.run("update", f"tenant={tenant_id}", f"tier={tier}", "--yes", check=False,
                          env_overrides={tenant_data.FAULT_ENV: f"move:{step}"})
        assert crashed.returncode == 75, (step, crashed.stdout[-3000:], crashed.stderr[-3000:])
        assert json.loads(tenant.journal().read_text(encoding="utf-8"))["done"] == list(STEPS[:number + 1])
        if number:
            assert f"done already: {', '.join(STEPS[:number])}" in crashed.stdout, crashed.stdout
        assert tenant.orders() == orders, step  # every order on one side at least, identical where on both
        frozen = tenant.catalogue("#move") is not None
        assert frozen == (STEPS.index("freeze") <= number < STEPS.index("unfreeze")), step
    final = cli.run("update", f"tenant={tenant_id}", f"tier={tier}", "--yes")
    assert f"done already: {', '.join(STEPS)}" in final.stdout
    (assert_silo if direction == "to-silo" else assert_pooled)(tenant, orders)


def test_a_failed_verification_switches_and_deletes_nothing(pool_project) -> None:  # noqa: ANN001
    cli = pool_project
    cli.run("onboard", "tenant=tampered")
    tenant = Tenant(cli, "tampered")
    tenant.put_orders(30)
    orders = tenant.orders()
    crashed = cli.run("update", "tenant=tampered", "tier=standard", "--yes", check=False,
                      env_overrides={tenant_data.FAULT_ENV: "move:copy"})
    assert crashed.returncode == 75
    tenant.ddb.put_item(TableName=tenant.names.order_table,
                        Item={**orders["o-0007"], "name": {"S": "changed behind the move's back"}})
    failed = cli.run("update", "tenant=tampered", "tier=standard", "--yes", check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert 'items 1 different ({"order_id": {"S": "o-0007"}})' in failed.stderr, failed.stderr
    assert "stopped before switching or deleting anything" in failed.stderr
    assert tenant.pool.count() == 30 and tenant.tier() == "basic"
    assert tenant.catalogue()["deployment"] == {"S": "pool"}
    cli.run("update", "tenant=tampered", "tier=standard", "--yes")  # copies again, verifies, finishes
    assert_silo(tenant, orders)


def test_fleet_skips_the_apps_workspace_a_pooled_tenant_lacks_and_offboarding_removes_its_pooled_orders(pool_project) -> None:  # noqa: ANN001
    cli = pool_project
    cli.run("onboard", "tenant=leaving")
    tenant = Tenant(cli, "leaving")
    planned = cli.run("fleet.plan", "tenants=leaving", "--force").stdout
    assert "tenant-leaving-infra" in planned and "tenant-leaving-apps" not in planned, planned
    tenant.put_orders(12)
    tenant.put_orders(3, partition="neighbour2")
    gone = cli.run("offboard", "tenant=leaving", "--yes")
    assert "12 orders in the pooled table Order (partition tenant_id = leaving)" in gone.stdout, gone.stdout
    assert "tenant-leaving-apps" not in gone.stdout
    export = cli.project_dir / ".tenantform" / "backups" / "leaving" / f"Order-{today()}.json"
    assert len(json.loads(export.read_text(encoding="utf-8"))["items"]) == 12
    assert f"kept 12 pooled orders of leaving exported to {export}" in gone.stdout
    assert tenant.pool.count() == 0 and Side(tenant.ddb, POOLED_ORDERS, "neighbour2", pooled=True).count() == 3
    assert tenant.state_keys() == [] and tenant.catalogue() is None
