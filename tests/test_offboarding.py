"""`invoke offboard` against moto: a final backup kept, the pooled rows gone, nothing of the
tenant left, an id reused with an empty footprint, an interrupted offboarding resumed after
every step, and a failing backup that destroys nothing.

Uses the session's `local_project` (platform deployed once, tests/conftest.py).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from tenantform import tenant_data
from tenantform.names import tenant_names
from tenantform.offboarding import STEPS

pytestmark = pytest.mark.integration
PRODUCTS = "Product"
CATALOGUE = "TenantCatalogue"


class Footprint:
    """What moto holds of one tenant, read directly."""

    def __init__(self, cli, tenant_id: str) -> None:  # noqa: ANN001
        self.cli = cli
        self.project = cli.project()
        self.names = tenant_names(tenant_id, platform_name=self.project.platform.name)
        self.ddb = self.project.target.client("dynamodb")
        self.pooled = tenant_data.PooledTable(self.ddb, PRODUCTS, tenant_id)

    def put_products(self, count: int, *, partition: str | None = None) -> None:
        for n in range(count):
            self.ddb.put_item(TableName=PRODUCTS, Item={
                "tenant_id": {"S": partition or self.names.tenant_id}, "product_id": {"S": f"p-{n:03d}"},
                "name": {"S": f"product {n}"}, "price": {"N": str(n + 1)}})

    def put_orders(self, count: int) -> None:
        for n in range(count):
            self.ddb.put_item(TableName=self.names.order_table, Item={"order_id": {"S": f"o-{n}"}})

    def orders(self) -> int:
        return self.ddb.scan(TableName=self.names.order_table, Select="COUNT")["Count"]

    def backups(self) -> list[dict]:
        return self.ddb.list_backups(TableName=self.names.order_table)["BackupSummaries"]

    def leftovers(self) -> list[str]:
        return tenant_data.leftovers(self.project.target.client, self.names, catalogue_table=CATALOGUE)

    def tenant_file(self):  # noqa: ANN201
        return self.cli.project_dir / "tenants" / f"{self.names.tenant_id}.toml"

    def journal(self):  # noqa: ANN201
        return self.cli.project_dir / ".tenantform" / "offboarding" / f"{self.names.tenant_id}.json"


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d")


def test_offboarding_keeps_a_backup_removes_pooled_rows_and_a_reused_id_starts_empty(local_project) -> None:  # noqa: ANN001
    cli = local_project
    cli.run("onboard", "tenant=acme", "tier=premium")
    acme = Footprint(cli, "acme")
    acme.put_products(30)
    acme.put_products(2, partition="neighbour")  # another tenant's rows: must survive
    acme.put_orders(3)

    # deletion protection where data lives (moto honours it on DynamoDB, not on Cognito)
    assert acme.ddb.describe_table(TableName="Order-acme")["Table"]["DeletionProtectionEnabled"] is True
    for table in (PRODUCTS, CATALOGUE):
        assert acme.ddb.describe_table(TableName=table)["Table"]["DeletionProtectionEnabled"] is True
    idp = acme.project.target.client("cognito-idp")
    (pool,) = [p for p in idp.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == "tenantform-acme"]
    assert idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]["DeletionProtection"] == "ACTIVE"

    in_state = [a for a in acme.project.terraform("tenant-acme-infra").state_list()
                if not a.startswith("data.") and ".data." not in a]
    gone = cli.run("offboard", "tenant=acme", "--yes")
    name = f"tenantform-final-acme-{today()}"
    # exactly what the state holds is listed, each once
    lines = gone.stdout.splitlines()
    start = lines.index(f"  tenant-acme-infra: {len(in_state)} resources")
    addresses = []
    for line in lines[start + 1:]:
        if not line.startswith("    - "):
            break
        addresses.append(line.removeprefix("    - "))
    assert addresses == in_state and len(in_state) >= 10
    # the confirmation lists what is removed and what is kept
    assert "30 products in the pooled table Product (partition tenant_id = acme)" in gone.stdout, gone.stdout
    assert f"  - DynamoDB backup {name} of table Order-acme" in gone.stdout
    assert "module.tenant.aws_cognito_user_pool.user_pool" in gone.stdout
    assert "module.tenant.aws_api_gateway_usage_plan_key.usage_plan_key" in gone.stdout
    (backup,) = acme.backups()
    assert backup["BackupName"] == name and backup["BackupStatus"] == "AVAILABLE"
    assert f"kept backup {name} of table Order-acme: {backup['BackupArn']}" in gone.stdout
    assert "removed 30 products of acme in the pooled table Product" in gone.stdout
    export = cli.project_dir / ".tenantform" / "backups" / "acme" / f"Product-{today()}.json"
    exported = json.loads(export.read_text(encoding="utf-8"))["items"]
    assert sorted(i["product_id"]["S"] for i in exported) == [f"p-{n:03d}" for n in range(30)]
    assert f"kept 30 pooled products of acme exported to {export}" in gone.stdout

    assert acme.pooled.count() == 0
    assert tenant_data.PooledTable(acme.ddb, PRODUCTS, "neighbour").count() == 2
    assert acme.leftovers() == []
    assert not acme.tenant_file().exists() and not acme.journal().exists()

    # the id again: a fresh, empty footprint
    cli.run("onboard", "tenant=acme", "tier=premium")
    assert acme.pooled.count() == 0
    assert acme.orders() == 0
    acme.put_orders(1)

    # the same day, --skip-backup: said loudly, no backup taken (the first one is not reused either)
    skipped = cli.run("offboard", "tenant=acme", "--yes", "--skip-backup")
    assert "NO FINAL BACKUP (--skip-backup): table Order-acme, 0 pooled products are deleted for good" in skipped.stdout
    assert "NO FINAL BACKUP of tenant acme" in skipped.stderr
    assert [b["BackupArn"] for b in acme.backups()] == [backup["BackupArn"]]
    assert acme.leftovers() == []
    for n in range(2):
        acme.ddb.delete_item(TableName=PRODUCTS, Key={"tenant_id": {"S": "neighbour"}, "product_id": {"S": f"p-{n:03d}"}})


def test_an_offboarding_interrupted_after_any_step_resumes(local_project) -> None:  # noqa: ANN001
    cli = local_project
    cli.run("onboard", "tenant=resumed", "tier=platinum")
    tenant = Footprint(cli, "resumed")
    tenant.put_products(3)
    tenant.put_orders(2)
    for number, step in enumerate(STEPS):
        crashed = cli.run("offboard", "tenant=resumed", "--yes", check=False,
                          env_overrides={tenant_data.FAULT_ENV: f"offboard:{step}"})
        assert crashed.returncode == 75, (step, crashed.stdout[-2000:], crashed.stderr[-2000:])
        assert json.loads(tenant.journal().read_text(encoding="utf-8"))["done"] == list(STEPS[:number + 1])
        if number:  # the re-run said what it resumes and did not redo it
            assert f"done already: {', '.join(STEPS[:number])}" in crashed.stdout, crashed.stdout
        assert len(tenant.backups()) == 1  # never a second backup
    assert not tenant.tenant_file().exists()  # `forget` ran: only the journal knows the tenant now
    final = cli.run("offboard", "tenant=resumed", "--yes")
    assert f"done already: {', '.join(STEPS)}" in final.stdout
    (backup,) = tenant.backups()
    assert f"kept backup tenantform-final-resumed-{today()} of table Order-resumed: {backup['BackupArn']}" in final.stdout
    assert tenant.pooled.count() == 0 and tenant.leftovers() == []
    assert not tenant.journal().exists()
    again = cli.run("offboard", "tenant=resumed", "--yes", check=False)
    assert again.returncode == 1 and "no tenant 'resumed'" in again.stderr


def test_a_failing_backup_destroys_nothing(local_project) -> None:  # noqa: ANN001
    cli = local_project
    cli.run("onboard", "tenant=nobackup")
    tenant = Footprint(cli, "nobackup")
    tenant.put_products(4)
    failed = cli.run("offboard", "tenant=nobackup", "--yes", check=False,
                     env_overrides={tenant_data.FAULT_ENV: "offboard:backup-error"})
    assert failed.returncode == 1
    assert re.search(r"the final backup of table Order-nobackup failed \(LimitExceededException.*nothing was "
                     r"destroyed.*--skip-backup", failed.stderr.replace("\n", " ")), failed.stderr
    assert "Traceback" not in failed.stderr
    assert tenant.ddb.describe_table(TableName="Order-nobackup")["Table"]["TableStatus"] == "ACTIVE"
    assert tenant.pooled.count() == 4 and tenant.tenant_file().exists() and tenant.backups() == []
    assert "Item" in tenant.ddb.get_item(TableName=CATALOGUE, Key={"tenant_id": {"S": "nobackup"}})
    skipped = cli.run("offboard", "tenant=nobackup", "--yes", "--skip-backup")
    assert "kept NO FINAL BACKUP: --skip-backup was given" in skipped.stdout
    assert tenant.backups() == [] and tenant.pooled.count() == 0 and tenant.leftovers() == []


def test_an_offboarding_killed_during_the_destroy_resumes(local_project, tmp_path) -> None:  # noqa: ANN001
    """A real interruption: SIGKILL of the whole `invoke` process group while terraform destroys
    the infra layer. terraform (its own session) finishes; the re-run resumes at `infra`."""
    import os
    import signal

    from tests.test_failure_safety import start, wait_for
    from tenantform.terraform import terraform_processes_in

    cli = local_project
    cli.run("onboard", "tenant=killed-off")
    tenant = Footprint(cli, "killed-off")
    tenant.put_products(2)
    workdir = tenant.project.workspace_dir(tenant.names.workspace("infra"))

    def destroying() -> bool:
        done = json.loads(tenant.journal().read_text(encoding="utf-8"))["done"] if tenant.journal().exists() else []
        return "apps" in done and bool(terraform_processes_in(workdir))

    proc = start(cli, "offboard", "tenant=killed-off", "--yes", log=tmp_path / "killed.log")
    try:
        wait_for(destroying, timeout=600, what="the infra destroy", proc=proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "infra" not in json.loads(tenant.journal().read_text(encoding="utf-8"))["done"]
    rerun = cli.run("offboard", "tenant=killed-off", "--yes")
    assert "done already: backup, products, orders, apps" in rerun.stdout, rerun.stdout
    assert len(tenant.backups()) == 1 and tenant.pooled.count() == 0 and tenant.leftovers() == []
    assert not tenant.tenant_file().exists() and not tenant.journal().exists()
