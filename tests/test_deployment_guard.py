"""pooled_tiers changed while silo tenants of the tier exist: onboard and fleet.apply refuse to
apply the tenant's roots into the pool (tenantform/deployment_guard.py, the fleet's
stateful-replacement guard) and the silo order table keeps its orders; `invoke update` of the same
tier moves the tenant with its orders (tenant_move.source_deployment reads the catalogue).

One project (its own moto server, pooled_tiers = [] as shipped: one platform deploy), driven
through the CLI; the table is read back with boto3.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from tenantform import tenant_data
from tenantform.names import tenant_names
from tests.conftest import Cli, copy_project

pytestmark = pytest.mark.integration
POOLED = "Order"
ORDER = {"order_id": {"S": "o-1"}, "name": {"S": "an order that must survive"}}  # a silo item: no tenant_id


@pytest.fixture(scope="module")
def silo_project(tmp_path_factory: pytest.TempPathFactory, terraform: str) -> Iterator[Cli]:  # noqa: ARG001
    cli = Cli(copy_project(tmp_path_factory.mktemp("guard-project")))
    assert "\npooled_tiers = []\n" in (cli.project_dir / "platform.toml").read_text(encoding="utf-8")
    try:
        cli.run("platform.deploy")
        yield cli
    finally:
        cli.run("local.down", "--yes", check=False)


def test_a_silo_tenant_whose_tier_became_pooled_is_refused_by_onboard_and_fleet_and_moved_by_update(
        silo_project: Cli) -> None:
    cli = silo_project
    cli.run("onboard", "tenant=kept", "tier=basic")
    project = cli.project()
    table = tenant_names("kept", platform_name=project.platform.name).order_table
    ddb = project.target.client("dynamodb")
    ddb.put_item(TableName=table, Item=ORDER)
    config = cli.project_dir / "platform.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("\npooled_tiers = []\n", '\npooled_tiers = ["basic"]\n', 1), encoding="utf-8")

    refused = cli.run("onboard", "tenant=kept", check=False)
    assert refused.returncode == 1, (refused.stdout[-2000:], refused.stderr[-2000:])
    assert "Traceback" not in refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    assert ("tenant kept runs in the silo but tier basic is now deployed in the pool "
            "(pooled_tiers in platform.toml changed)") in lines[0], lines[0]
    assert "delete its order table with its orders" in lines[0] and "nothing was applied" in lines[0]
    assert "`invoke update tenant=kept`" in lines[0]
    assert "Apply complete" not in refused.stdout
    assert ddb.scan(TableName=table, ConsistentRead=True)["Items"] == [ORDER]

    fleet = cli.run("fleet.apply", "tenants=kept", "--force", "--yes", check=False)
    assert fleet.returncode == 1, (fleet.stdout[-3000:], fleet.stderr[-3000:])
    assert "refused" in fleet.stdout, fleet.stdout[-3000:]
    assert "module.tenant.aws_dynamodb_table.order_table[0]" in fleet.stdout, fleet.stdout[-3000:]
    assert "--allow-replace=aws_dynamodb_table" in fleet.stdout, fleet.stdout[-3000:]
    assert ddb.scan(TableName=table, ConsistentRead=True)["Items"] == [ORDER]

    def catalogue() -> dict:
        return ddb.get_item(TableName=project.platform.catalogue_table_name, Key={"tenant_id": {"S": "kept"}},
                            ConsistentRead=True)["Item"]

    assert catalogue()["deployment"] == {"S": "silo"}
    listed = cli.run("tenants", env_overrides={"COLUMNS": "300"})  # the catalogue's deployment beside the derived one
    row = next(line for line in listed.stdout.splitlines() if " kept " in line)
    assert "silo (tier says pool: `invoke update` moves it)" in row, listed.stdout
    moved = cli.run("update", "tenant=kept", "--yes")  # same tier: the move pooled_tiers asks for
    assert "Moving tenant kept from the silo (basic) to the pool (basic): 1 orders in table Order-kept" \
        in moved.stdout, moved.stdout[-3000:]
    assert ddb.get_item(TableName=POOLED, Key={"tenant_id": {"S": "kept"}, "order_id": {"S": "o-1"}},
                        ConsistentRead=True)["Item"] == {**ORDER, "tenant_id": {"S": "kept"}}
    assert not tenant_data.table_exists(ddb, table)
    assert catalogue()["deployment"] == {"S": "pool"}
    assert [b["TableName"] for b in ddb.list_backups()["BackupSummaries"]
            if b["BackupName"].startswith("tenantform-move-kept-")] == [table]
    assert cli.project().registry.get("kept").tier.value == "basic"
    again = cli.run("onboard", "tenant=kept")  # now where its tier says: nothing to refuse
    assert "Traceback" not in again.stderr
    row = next(line for line in cli.run("tenants", env_overrides={"COLUMNS": "300"}).stdout.splitlines() if " kept " in line)
    assert " pool " in row and "tier says" not in row, row

    # the reverse: basic no longer pooled. The fleet's plan destroys nothing here (it would create an
    # empty Order-kept and route the tenant to it): the deployment check refuses it all the same
    config.write_text(text, encoding="utf-8")
    report = cli.project_dir / "fleet-report.json"
    fleet = cli.run("fleet.apply", "tenants=kept", "--force", "--yes", f"report-file={report}", check=False)
    assert fleet.returncode == 1, (fleet.stdout[-3000:], fleet.stderr[-3000:])
    infra = [w for w in json.loads(report.read_text(encoding="utf-8"))["workspaces"]
             if w["workspace"] == "tenant-kept-infra"]
    assert [w["outcome"] for w in infra] == ["refused"], infra
    assert infra[0]["error"].startswith("tenant kept runs in the pool but tier basic is now deployed in the silo "
                                        "(pooled_tiers in platform.toml changed)"), infra
    assert not tenant_data.table_exists(ddb, table) and catalogue()["deployment"] == {"S": "pool"}
    back = cli.run("update", "tenant=kept", "--yes")
    assert "Moving tenant kept from the pool (basic) to the silo (basic)" in back.stdout, back.stdout[-3000:]
    assert ddb.scan(TableName=table, ConsistentRead=True)["Items"] == [ORDER]
    assert ddb.query(TableName=POOLED, KeyConditionExpression="tenant_id = :t",
                     ExpressionAttributeValues={":t": {"S": "kept"}}, ConsistentRead=True)["Items"] == []
    assert catalogue()["deployment"] == {"S": "silo"}
