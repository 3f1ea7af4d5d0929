"""The write freeze of a tier change (issue 14): while the catalogue holds `{"tenant_id":
"<tenant>#move"}`, the tenant's writes get 503 with Retry-After and change nothing; its reads go on;
other tenants are not affected; once the item is gone, writes work again. In both deployment
models: a silo deployment (its own role) and the pool (the tenant's assumed credentials).
The freeze item is written and removed here with boto3, as the mover (tenantform) does."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from services import common
from services.tenancy import WRITE_SETTLE_SECONDS
from tests.services.pool_support import POOL_TABLES, pool_path
from tests.services.support import PLATFORM, SERVICES, VALID, headers, table_items, table_name, url

MODELS = ("silo", "pool")


@pytest.fixture
def deployments(clients, pool, wire):
    """model -> (service, tenant) -> (client, path of the collection, table name), and the pool's wire."""
    return {
        "silo": {(s, t): (clients[(s, t)], url(s, t), table_name(s, t)) for s in SERVICES for t in ("acme", "globex")},
        "pool": {(s, t): (pool[s], pool_path(s, t), POOL_TABLES[s]) for s in SERVICES for t in ("acme", "globex")},
    }, wire


def freeze(dynamodb, tenant: str) -> None:
    dynamodb.Table(PLATFORM.catalogue_table_name).put_item(Item={
        "tenant_id": f"{tenant}#move", "frozen": True, "since": datetime.now(timezone.utc).isoformat()})


def unfreeze(dynamodb, tenant: str) -> None:
    dynamodb.Table(PLATFORM.catalogue_table_name).delete_item(Key={"tenant_id": f"{tenant}#move"})


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("model", MODELS)
def test_a_frozen_tenant_reads_but_cannot_write(model, service, deployments, dynamodb) -> None:
    by_model, wire = deployments
    client, path, table = by_model[model][(service, "acme")]
    h, id_field = headers("acme"), SERVICES[service].ID_FIELD
    created = client.post(path, json=VALID[service], headers=h)
    assert created.status_code == 201, created.text
    item_id = created.json()[id_field]

    freeze(dynamodb, "acme")
    before = table_items(dynamodb, table)
    for method, target, body in (("POST", path, VALID[service]), ("PUT", f"{path}/{item_id}", VALID[service]),
                                 ("DELETE", f"{path}/{item_id}", None)):
        response = client.request(method, target, json=body, headers=h)
        assert response.status_code == 503, (method, response.text)
        assert response.headers["Retry-After"] == str(WRITE_SETTLE_SECONDS)
        assert "acme is being moved" in response.json()["detail"]
    assert table_items(dynamodb, table) == before  # nothing written
    assert client.get(path, headers=h).json()["items"][0][id_field] == item_id
    assert client.get(f"{path}/{item_id}", headers=h).status_code == 200

    other, other_path, _ = by_model[model][(service, "globex")]
    assert other.post(other_path, json=VALID[service], headers=headers("globex")).status_code == 201

    unfreeze(dynamodb, "acme")
    assert client.post(path, json=VALID[service], headers=h).status_code == 201
    assert client.delete(f"{path}/{item_id}", headers=h).status_code == 204
    assert wire.violations() == []  # pool: the freeze was read with the tenant's own credentials


@pytest.mark.parametrize("model", MODELS)
def test_an_invalid_body_while_frozen_writes_nothing(model, deployments, dynamodb) -> None:
    by_model, _ = deployments
    client, path, table = by_model[model][("product", "acme")]
    freeze(dynamodb, "acme")
    response = client.post(path, json={"name": "", "price_cents": -1}, headers=headers("acme"))
    assert response.status_code == 503, response.text  # the freeze is checked before the body
    assert table_items(dynamodb, table) == []


def test_readiness_reads_the_freeze_key(clients, moto_endpoint, aws, dynamodb) -> None:
    """The silo probe reads `<tenant>#move` too: a catalogue the role cannot read means not ready;
    a frozen tenant is ready (its reads go on)."""
    assert clients[("order", "acme")].get(common.READINESS_PATH).status_code == 200
    freeze(dynamodb, "acme")
    assert clients[("order", "acme")].get(common.READINESS_PATH).status_code == 200
    missing = TestClient(SERVICES["order"].create_app(environ={
        **{"TENANT_ID": "acme", "ORDER_TABLE_NAME": table_name("order", "acme"), "CATALOGUE_TABLE": "NoSuchCatalogue",
           "AWS_REGION": PLATFORM.region, "AWS_ENDPOINT_URL": moto_endpoint}}, session=aws))
    assert missing.get(common.READINESS_PATH).status_code == 503
