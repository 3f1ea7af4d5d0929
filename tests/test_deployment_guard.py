"""pooled_tiers changed while tenants of the tier exist: onboard, update and fleet.apply refuse to
apply the tenant's roots into the other deployment (tenantform/deployment_guard.py, the fleet's
stateful-replacement guard), and the silo order table keeps its orders.

One project (its own moto server, pooled_tiers = [] as shipped: one platform deploy), driven
through the CLI; the table is read back with boto3.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from tenantform.names import tenant_names
from tests.conftest import Cli, copy_project

pytestmark = pytest.mark.integration
ORDER = {"tenant_id": {"S": "kept"}, "order_id": {"S": "o-1"}, "name": {"S": "an order that must survive"}}


@pytest.fixture(scope="module")
def silo_project(tmp_path_factory: pytest.TempPathFactory, terraform: str) -> Iterator[Cli]:  # noqa: ARG001
    cli = Cli(copy_project(tmp_path_factory.mktemp("guard-project")))
    assert "\npooled_tiers = []\n" in (cli.project_dir / "platform.toml").read_text(encoding="utf-8")
    try:
        cli.run("platform.deploy")
        yield cli
    finally:
        cli.run("local.down", "--yes", check=False)


def test_a_silo_tenant_whose_tier_became_pooled_is_refused_and_keeps_its_orders(silo_project: Cli) -> None:
    cli = silo_project
    cli.run("onboard", "tenant=kept", "tier=basic")
    project = cli.project()
    table = tenant_names("kept", platform_name=project.platform.name).order_table
    ddb = project.target.client("dynamodb")
    ddb.put_item(TableName=table, Item=ORDER)
    config = cli.project_dir / "platform.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("\npooled_tiers = []\n", '\npooled_tiers = ["basic"]\n', 1), encoding="utf-8")

    for args in (("update", "tenant=kept", "--yes"), ("onboard", "tenant=kept")):
        refused = cli.run(*args, check=False)
        assert refused.returncode == 1, (args, refused.stdout[-2000:], refused.stderr[-2000:])
        assert "Traceback" not in refused.stderr
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (args, refused.stderr)
        assert ("tenant kept runs in the silo but tier basic is now deployed in the pool "
                "(pooled_tiers in platform.toml changed)") in lines[0], (args, lines[0])
        assert "delete its order table with its orders" in lines[0] and "nothing was applied" in lines[0]
        assert "Apply complete" not in refused.stdout
        items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
        assert items == [ORDER], args
    assert cli.project().registry.get("kept").tier.value == "basic"

    fleet = cli.run("fleet.apply", "tenants=kept", "--force", "--yes", check=False)
    assert fleet.returncode == 1, (fleet.stdout[-3000:], fleet.stderr[-3000:])
    assert "refused" in fleet.stdout, fleet.stdout[-3000:]
    assert "module.tenant.aws_dynamodb_table.order_table[0]" in fleet.stdout, fleet.stdout[-3000:]
    assert "--allow-replace=aws_dynamodb_table" in fleet.stdout, fleet.stdout[-3000:]
    assert ddb.scan(TableName=table, ConsistentRead=True)["Items"] == [ORDER]
    catalogue = ddb.get_item(TableName=project.platform.catalogue_table_name, Key={"tenant_id": {"S": "kept"}},
                             ConsistentRead=True)["Item"]
    assert catalogue.get("deployment", {"S": "silo"}) == {"S": "silo"}
