"""The product and order services over HTTP (in-process ASGI client) against moto's DynamoDB:
probes, the gateway's header contract, CRUD and body validation."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import common
from tests.services.support import SERVICES, VALID, headers, rows, service_environ, table_items, table_name, url
from tenantform.tiers import Tier

INVALID = {
    "product": [
        {},  # name and price_cents missing
        {"name": "", "price_cents": 1},
        {"name": "x" * 129, "price_cents": 1},
        {"name": "Anvil\n", "price_cents": 1},  # no trailing newline (fullmatch semantics)
        {"name": "Anvil", "price_cents": -1},
        {"name": "Anvil", "price_cents": "12"},  # strict: no string for a number
        {"name": "Anvil", "price_cents": 1.5},
        {"name": "Anvil", "price_cents": 1, "tenant_id": "acme"},  # keys are the server's
        {"name": "Anvil", "price_cents": 1, "product_id": str(uuid.uuid4())},
    ],
    "order": [
        {"name": "o"},
        {"name": "o", "lines": []},
        {"name": "o", "lines": [{"product_id": "not-an-id", "quantity": 1}]},
        {"name": "o", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 0}]},
        {"name": "o", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1, "tenant_id": "x"}]},
        {"name": "o", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}] * 51},
        {"name": "o", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}], "order_id": "x"},
    ],
}


def test_tiers_are_tenantforms() -> None:
    assert common.TIERS == tuple(t.value for t in Tier)


@pytest.mark.parametrize("tier", [t.value for t in Tier])
def test_every_tier_is_served(tier, clients) -> None:
    for service in SERVICES:
        response = clients[(service, "acme")].get(url(service), headers=headers("acme", tier))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("service", SERVICES)
def test_probes(service, clients, make_client) -> None:
    client = clients[(service, "acme")]
    assert client.get(common.LIVENESS_PATH).json() == {"status": "ok"}
    assert client.get(common.READINESS_PATH).status_code == 200
    missing = make_client(service, "acme", **{SERVICES[service].TABLE_ENV: "NoSuchTable"})
    assert missing.get(common.LIVENESS_PATH).status_code == 200
    not_ready = missing.get(common.READINESS_PATH)
    assert not_ready.status_code == 503 and not_ready.json()["status"] == "unavailable"
    # a route whose table fails answers one line, never a traceback
    failed = missing.get(url(service), headers=headers("acme"))
    assert (failed.status_code, failed.json()) == (503, {"detail": "the data store is unavailable"})


@pytest.mark.parametrize("variable", ["TENANT_ID", "PRODUCT_TABLE_NAME", "AWS_REGION"])
@pytest.mark.parametrize("value", [None, "", "acme\n"])
def test_incomplete_environment_refuses_to_start(variable, value, aws, moto_endpoint) -> None:
    environ = service_environ("product", "acme", moto_endpoint)
    if value is None:
        del environ[variable]
    else:
        environ[variable] = value
    with pytest.raises(common.ConfigurationError, match=variable):
        SERVICES["product"].create_app(environ=environ, session=aws)


@pytest.mark.parametrize("service", SERVICES)
def test_crud_round_trip(service, clients, dynamodb) -> None:
    client, h, id_field = clients[(service, "acme")], headers("acme"), SERVICES[service].ID_FIELD
    created = client.post(url(service), json=VALID[service], headers=h)
    assert created.status_code == 201, created.text
    item_id = created.json()[id_field]
    assert re.fullmatch(common.ID_PATTERN, item_id)
    assert created.json() == {id_field: item_id, **VALID[service]}
    assert client.get(url(service, item_id=item_id), headers=h).json() == created.json()
    assert client.get(url(service), headers=h).json() == {"items": [created.json()], "next": None}
    changed = {**VALID[service], "name": "renamed"}
    assert client.put(url(service, item_id=item_id), json=changed, headers=h).json() == {id_field: item_id, **changed}
    assert client.get(url(service, item_id=item_id), headers=h).json()["name"] == "renamed"
    assert client.delete(url(service, item_id=item_id), headers=h).status_code == 204
    assert client.get(url(service, item_id=item_id), headers=h).status_code == 404
    assert client.delete(url(service, item_id=item_id), headers=h).status_code == 404
    assert client.put(url(service, item_id=item_id), json=changed, headers=h).status_code == 404
    assert rows(dynamodb, service, "acme") == []


@pytest.mark.parametrize("service", SERVICES)
def test_pages(service, clients) -> None:
    client, h, id_field = clients[(service, "acme")], headers("acme"), SERVICES[service].ID_FIELD
    ids = {client.post(url(service), json=VALID[service], headers=h).json()[id_field] for _ in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(url(service), params=params, headers=h).json()
        assert len(page["items"]) <= 2
        seen += [item[id_field] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    for bad in ({"limit": 0}, {"limit": common.MAX_PAGE + 1}, {"cursor": "x"}, {"limit": "ten"}):
        assert client.get(url(service), params=bad, headers=h).status_code == 422


def _routes(service: str) -> list[tuple[str, str, dict | None]]:
    item = url(service, item_id=str(uuid.uuid4()))
    return [("GET", url(service), None), ("POST", url(service), VALID[service]), ("GET", item, None),
            ("PUT", item, VALID[service]), ("DELETE", item, None)]


HEADER_CASES = {
    "no headers": ([], 401),
    "no tenant": ([("X-Tenant-Tier", "basic")], 401),
    "no tier": ([("X-Tenant-Id", "acme")], 401),
    "empty tenant": ([("X-Tenant-Id", ""), ("X-Tenant-Tier", "basic")], 401),
    "unknown tier": ([("X-Tenant-Id", "acme"), ("X-Tenant-Tier", "gold")], 401),
    "tier with a space": ([("X-Tenant-Id", "acme"), ("X-Tenant-Tier", "basic ")], 401),
    "two tenant headers": ([("X-Tenant-Id", "acme"), ("X-Tenant-Id", "acme"), ("X-Tenant-Tier", "basic")], 401),
    "another tenant": ([("X-Tenant-Id", "globex"), ("X-Tenant-Tier", "basic")], 403),
    "tenant list": ([("X-Tenant-Id", "acme,globex"), ("X-Tenant-Tier", "basic")], 403),
    "tenant in capitals": ([("X-Tenant-Id", "ACME"), ("X-Tenant-Tier", "basic")], 403),
}


@pytest.mark.parametrize("case", HEADER_CASES)
@pytest.mark.parametrize("service", SERVICES)
def test_header_contract(service, case, clients, dynamodb) -> None:
    raw_headers, expected = HEADER_CASES[case]
    client = clients[(service, "acme")]
    for method, path, body in _routes(service):
        response = client.request(method, path, json=body, headers=raw_headers)
        assert response.status_code == expected, (method, path, response.text)
        assert "detail" in response.json()
    assert rows(dynamodb, service, "acme") == []


@pytest.mark.parametrize("service", SERVICES)
def test_path_tenant_must_be_the_callers(service, clients, dynamodb) -> None:
    client = clients[(service, "acme")]
    for method, path, body in _routes(service):
        other = path.replace("/acme/", "/globex/", 1)
        response = client.request(method, other, json=body, headers=headers("acme"))
        assert response.status_code == 403, (method, other, response.text)
        assert response.json() == {"detail": "the path's tenant is not the caller's tenant"}
    assert rows(dynamodb, service, "acme") == [] and rows(dynamodb, service, "globex") == []


@pytest.mark.parametrize("service", SERVICES)
def test_invalid_bodies_write_nothing(service, clients, dynamodb) -> None:
    client, h = clients[(service, "acme")], headers("acme")
    existing = client.post(url(service), json=VALID[service], headers=h).json()[SERVICES[service].ID_FIELD]
    before = table_items(dynamodb, table_name(service, "acme"))
    for body in INVALID[service]:
        for method, path in (("POST", url(service)), ("PUT", url(service, item_id=existing))):
            response = client.request(method, path, json=body, headers=h)
            assert response.status_code == 422, (body, response.text)
            detail = response.json()["detail"]
            assert isinstance(detail, str) and detail.startswith("body"), detail
    not_json = client.post(url(service), content=b"{not json", headers={**h, "content-type": "application/json"})
    assert not_json.status_code == 422
    assert table_items(dynamodb, table_name(service, "acme")) == before


def test_validation_names_the_field(clients) -> None:
    response = clients[("product", "acme")].post(
        url("product"), json={"name": "Anvil", "price_cents": -1}, headers=headers("acme"))
    assert response.json() == {"detail": "body.price_cents: Input should be greater than or equal to 0"}


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
JSON = st.recursive(SCALARS | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
FIELDS = ["name", "price_cents", "description", "lines", "product_id", "quantity", "tenant_id", "order_id"]
ANY_BODY = JSON | st.dictionaries(st.sampled_from(FIELDS), JSON | st.just(str(uuid.uuid4())), max_size=4)
NAMES = st.sampled_from(["Anvil", "x" * 128]) | st.sampled_from(["x" * 129, "Anvil\n", ""]) | st.text(max_size=130)
UUIDS = st.uuids(version=4).map(str)
PRICES = st.integers(0, 10**9) | st.sampled_from([-1, 10**9 + 1])
QUANTITIES = st.integers(1, 10_000) | st.sampled_from([0, 10_001])
SMUGGLED = {"tenant_id": st.sampled_from(["acme", "globex"]), "order_id": st.uuids().map(str)}
# Near-valid bodies too (alone, or with a key field smuggled in), so both outcomes are exercised.
NEAR_VALID = {
    "product": st.fixed_dictionaries({"name": NAMES, "price_cents": PRICES},
                                     optional={"description": st.text(max_size=20)}),
    "order": st.fixed_dictionaries({"name": NAMES, "lines": st.lists(st.fixed_dictionaries(
        {"product_id": UUIDS | UUIDS | UUIDS | st.text(max_size=4), "quantity": QUANTITIES}), min_size=1, max_size=3)}),
}
BODIES = {service: ANY_BODY | near | near | st.builds(lambda body, extra: {**body, **extra}, near,
                                                      st.fixed_dictionaries({}, optional=SMUGGLED))
          for service, near in NEAR_VALID.items()}


@pytest.fixture
def globex_row(service, clients) -> None:
    """One globex row, written once per test (fixtures run once for all of hypothesis' examples)."""
    response = clients[(service, "globex")].post(url(service, "globex"), json=VALID[service], headers=headers("globex"))
    assert response.status_code == 201


@pytest.mark.parametrize("service", SERVICES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_body_is_one_row_of_the_callers_or_nothing(service, data, clients, dynamodb, globex_row) -> None:
    """Whatever JSON a caller posts: 201 and exactly one new row, the caller's, or 422 and no write."""
    body = data.draw(BODIES[service], label="body")
    before = table_items(dynamodb, table_name(service, "acme"))
    globex_before = rows(dynamodb, service, "globex")
    assert len(globex_before) == 1
    response = clients[(service, "acme")].post(url(service), json=body, headers=headers("acme"))
    after = table_items(dynamodb, table_name(service, "acme"))
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert after == before
    else:
        new = [item for item in after if item not in before]
        assert len(new) == 1 and len(after) == len(before) + 1
        assert service == "order" or new[0]["tenant_id"] == "acme"
    assert rows(dynamodb, service, "globex") == globex_before
