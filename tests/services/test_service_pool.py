"""The pool deployment (POOL=true): one product and one order service for every pooled tenant,
in-process against moto, with per-request credentials assumed for the gateway's tenant.

What is observed is what the services send: every AssumeRole request (its role, duration and
`tenant_id` tag) and every DynamoDB request (the access key that signed it and the partition key it
names), through botocore event hooks on the session the apps get (pool_support.Wire). moto does
not evaluate IAM, so the tenant-access policy's rule (partition key == the session's tag) is
checked by the test on each DynamoDB request instead.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from services import common
from services.tenancy import REFRESH_MARGIN, SESSION_SECONDS, Endpoint, PoolTenancy
from tests.services.pool_support import ACCESS_ROLE_ARN, POOL_TABLES, pool_environ, pool_path, tag_of
from tests.services.support import PLATFORM, SERVICES, VALID, headers, service_environ, table_items

def crud_round(client: TestClient, service: str, tenant: str) -> str:
    """list, create, read, replace, list, the way a tenant uses the service; the new id."""
    h = headers(tenant)
    assert client.get(pool_path(service, tenant), headers=h).status_code == 200
    created = client.post(pool_path(service, tenant), json={**VALID[service], "name": f"{tenant}-item"}, headers=h)
    assert created.status_code == 201, created.text
    item_id = created.json()[SERVICES[service].ID_FIELD]
    assert client.get(pool_path(service, tenant, item_id), headers=h).json()["name"] == f"{tenant}-item"
    replaced = client.put(pool_path(service, tenant, item_id), json={**VALID[service], "name": f"{tenant}-v2"}, headers=h)
    assert replaced.status_code == 200, replaced.text
    assert [i["name"] for i in client.get(pool_path(service, tenant), headers=h).json()["items"]] == [f"{tenant}-v2"]
    return item_id


@pytest.mark.parametrize("service", SERVICES)
def test_interleaved_tenants_get_credentials_tagged_for_themselves(service, pool, wire) -> None:
    client = pool[service]
    for tenant in ("acme", "globex", "acme", "globex"):
        item_id = crud_round(client, service, tenant)
        assert client.delete(pool_path(service, tenant, item_id), headers=headers(tenant)).status_code == 204

    # the AssumeRole requests: the configured role, 15 minutes, one tag `tenant_id` per caller
    assert sorted(tag_of(body) for body in wire.assume_requests) == ["acme", "globex"]  # cached after the first
    for body in wire.assume_requests:
        tenant = tag_of(body)
        assert body["RoleArn"] == ACCESS_ROLE_ARN and body["DurationSeconds"] == SESSION_SECONDS
        assert [k for k in body if k.startswith("Tags.member.")] == ["Tags.member.1.Key", "Tags.member.1.Value"]
        assert tenant in body["RoleSessionName"] and len(body["RoleSessionName"]) <= 64
    # every DynamoDB request: signed with a key issued for the tenant whose partition it names
    assert wire.violations() == []
    assert wire.tenants_served() == {"acme", "globex"}
    assert {c.operation for c in wire.dynamo} == {"GetItem", "PutItem", "DeleteItem", "Query"}  # never Scan
    assert "pod-role-key" not in {c.access_key for c in wire.dynamo}  # the pod's own role never reads a table


@pytest.mark.parametrize("service", SERVICES)
def test_concurrent_tenants_never_share_credentials(service, pool, wire, dynamodb) -> None:
    """Requests of four tenants at once, from eight threads: each DynamoDB call still carries the
    key issued for the partition it names, and each tenant's list holds only its own items."""
    client, tenants = pool[service], ("acme", "globex", "initech", "umbrella")

    def post(tenant: str) -> tuple[str, str]:
        response = client.post(pool_path(service, tenant), json={**VALID[service], "name": tenant},
                               headers=headers(tenant))
        assert response.status_code == 201, response.text
        return tenant, response.json()[SERVICES[service].ID_FIELD]

    with ThreadPoolExecutor(max_workers=8) as executor:
        created = list(executor.map(post, [t for _, t in zip(range(32), itertools.cycle(tenants))]))
    assert wire.violations() == []
    assert wire.tenants_served() == set(tenants)
    for tenant in tenants:
        listed = client.get(pool_path(service, tenant), headers=headers(tenant)).json()["items"]
        id_field = SERVICES[service].ID_FIELD
        assert sorted(i[id_field] for i in listed) == sorted(i for t, i in created if t == tenant)
        assert {i["name"] for i in listed} == {tenant}
    stored = table_items(dynamodb, POOL_TABLES[service])
    assert sorted((i["tenant_id"], i[SERVICES[service].ID_FIELD]) for i in stored) == sorted(created)


def test_pooled_orders_are_the_writers_only(pool, wire, dynamodb) -> None:
    client = pool["order"]
    acme_ids = [client.post(pool_path("order", "acme"), json=VALID["order"], headers=headers("acme")).json()["order_id"]
                for _ in range(3)]
    stored = table_items(dynamodb, POOL_TABLES["order"])
    assert sorted(i["order_id"] for i in stored) == sorted(acme_ids)
    assert {i["tenant_id"] for i in stored} == {"acme"}

    as_globex = headers("globex")
    assert client.get(pool_path("order", "globex"), headers=as_globex).json() == {"items": [], "next": None}
    for order_id in acme_ids:
        assert client.get(pool_path("order", "globex", order_id), headers=as_globex).status_code == 404
        assert client.put(pool_path("order", "globex", order_id), json=VALID["order"],
                          headers=as_globex).status_code == 404
        assert client.delete(pool_path("order", "globex", order_id), headers=as_globex).status_code == 404
        for path in (pool_path("order", "acme", order_id), pool_path("order", "acme")):  # acme's path, globex's token
            assert client.get(path, headers=as_globex).status_code == 403
    assert table_items(dynamodb, POOL_TABLES["order"]) == stored
    # paging walks acme's partition only, in pages of one
    seen, cursor = [], None
    while True:
        page = client.get(pool_path("order", "acme"), params={"limit": 1, **({"cursor": cursor} if cursor else {})},
                          headers=headers("acme")).json()
        seen += [i["order_id"] for i in page["items"]]
        if not (cursor := page["next"]):
            break
    assert sorted(seen) == sorted(acme_ids)
    assert wire.violations() == []


@pytest.mark.parametrize("service", SERVICES)
def test_routes_of_each_model(service, pool, clients) -> None:
    collection = SERVICES[service].COLLECTION
    pooled, silo = pool[service], clients[(service, "acme")]
    for path in (f"/acme/{collection}", f"/silo/acme/{collection}", f"/pool/pool/acme/{collection}"):
        assert pooled.get(path, headers=headers("acme")).status_code == 404, path
    assert pooled.get(f"/pool/acme/{collection}", headers=headers("acme")).status_code == 200
    for path in (f"/acme/{collection}", f"/silo/acme/{collection}"):
        assert silo.get(path, headers=headers("acme")).status_code == 200, path
    assert silo.get(f"/pool/acme/{collection}", headers=headers("acme")).status_code == 404
    # the path's tenant is checked against the header in the pool too
    response = pooled.get(f"/pool/globex/{collection}", headers=headers("acme"))
    assert response.status_code == 403 and response.json() == {"detail": "the path's tenant is not the caller's tenant"}


@pytest.mark.parametrize("tenant", ["ACME", "acme#move", "_readiness", "acme globex", "-acme", "a" * 33, "acme,globex"])
def test_pool_refuses_a_header_that_is_not_a_tenant_id(tenant, pool, wire) -> None:
    """The header becomes a session tag: it must be a tenant id, whatever the path says."""
    response = pool["product"].get("/pool/acme/products", headers={"X-Tenant-Id": tenant, "X-Tenant-Tier": "basic"})
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "X-Tenant-Id must be a tenant id (lower-case letters, digits, '-')"}
    assert wire.assume_requests == []


@pytest.mark.parametrize("service", SERVICES)
def test_pool_readiness_assumes_a_tag_no_tenant_has(service, pool, wire, moto_endpoint, pool_session) -> None:
    assert pool[service].get(common.READINESS_PATH).json() == {"status": "ok", "table": POOL_TABLES[service]}
    assert [tag_of(body) for body in wire.assume_requests] == [common.PROBE_TENANT]
    assert not common.TENANT_PATTERN.fullmatch(common.PROBE_TENANT)
    assert wire.violations() == []
    broken = TestClient(SERVICES[service].create_app(
        environ=pool_environ(service, moto_endpoint, **{SERVICES[service].TABLE_ENV: "NoSuchTable"}),
        session=pool_session))
    assert broken.get(common.READINESS_PATH).status_code == 503


def test_credentials_are_reassumed_a_minute_before_they_expire(pool_session, wire, moto_endpoint, access_role) -> None:
    now = [time.time()]
    tenancy = PoolTenancy(session=pool_session, endpoint=Endpoint(PLATFORM.region, moto_endpoint),
                          role_arn=access_role, table_name=PLATFORM.product_table_name,
                          catalogue_name=PLATFORM.catalogue_table_name, clock=lambda: now[0])
    first = tenancy.data("acme")
    assert tenancy.data("acme") is first and len(wire.assume_requests) == 1
    globex = tenancy.data("globex")
    assert globex.table.client is not first.table.client and globex.tenant_id == "globex"
    now[0] += SESSION_SECONDS - REFRESH_MARGIN + 1
    renewed = tenancy.data("acme")
    assert renewed is not first and renewed.tenant_id == "acme"
    assert [tag_of(body) for body in wire.assume_requests] == ["acme", "globex", "acme"]


@pytest.mark.parametrize("overrides,message", [
    ({"TENANT_ID": "acme"}, "TENANT_ID is set, but a pool deployment"),
    ({"TENANT_ACCESS_ROLE_ARN": ""}, "TENANT_ACCESS_ROLE_ARN is not set"),
    ({"TENANT_ACCESS_ROLE_ARN": "tenantform-pool-tenant-access"}, "must be an IAM role ARN"),
    ({"TENANT_ACCESS_ROLE_ARN": ACCESS_ROLE_ARN + "\n"}, "surrounding whitespace"),
    ({"POOL": "yes"}, "POOL must be true or false"),
    ({"CATALOGUE_TABLE": ""}, "CATALOGUE_TABLE is not set"),
])
def test_pool_configuration_is_checked_at_start(overrides, message, moto_endpoint) -> None:
    with pytest.raises(common.ConfigurationError, match=message):
        SERVICES["product"].create_app(environ=pool_environ("product", moto_endpoint, **overrides))


def test_silo_needs_the_catalogue_for_its_freeze(moto_endpoint) -> None:
    with pytest.raises(common.ConfigurationError, match="CATALOGUE_TABLE is not set"):
        SERVICES["order"].create_app(environ=service_environ("order", "acme", moto_endpoint, CATALOGUE_TABLE=""))

