"""Isolation in the pool: one deployment serves acme and globex, so the only thing between them is
the checked tenant and the credentials assumed for it. Every attempt of test_service_isolation
(globex's ids, globex in the path, query and body, table names, path tricks) is made as acme
against the pool's routes: each is refused or answers with acme's rows only, globex's rows (read
directly) never change, and every DynamoDB request went out signed with a key issued for the
tenant whose partition it names."""

from __future__ import annotations

import pytest

from tests.services.pool_support import POOL_TABLES, pool_path
from tests.services.support import PLATFORM, SERVICES, VALID, headers, table_items, table_name
from tests.services.test_service_isolation import SEEDED, attempts


def seed(client, service: str, tenant: str) -> list[dict]:
    created = []
    for n in range(SEEDED):
        response = client.post(pool_path(service, tenant), json={**VALID[service], "name": f"{tenant}-secret-{n}"},
                               headers=headers(tenant))
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def pool_rows(dynamodb, service: str, tenant: str) -> list[dict]:
    return [i for i in table_items(dynamodb, POOL_TABLES[service]) if i["tenant_id"] == tenant]


@pytest.mark.parametrize("service", SERVICES)
def test_acme_never_reads_or_changes_globex_in_the_pool(service, pool, wire, dynamodb) -> None:
    client, id_field = pool[service], SERVICES[service].ID_FIELD
    globex = seed(client, service, "globex")
    acme = seed(client, service, "acme")
    globex_ids = [item[id_field] for item in globex]
    acme_ids = {item[id_field] for item in acme}
    before = pool_rows(dynamodb, service, "globex")
    assert len(before) == SEEDED
    secrets = globex_ids + [item["name"] for item in globex]
    tables = (POOL_TABLES[service], table_name(service, "globex"), PLATFORM.catalogue_table_name)

    statuses: dict[int, int] = {}
    for method, path, query, body in attempts(service, globex_ids, acme[0][id_field], prefix="/pool", tables=tables):
        response = client.request(method, path, params=query, json=body, headers=headers("acme"))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert not any(secret in response.text for secret in secrets), (method, path, query, response.text)
        if response.is_success:
            assert response.status_code in (200, 201), (method, path, query)
            payload = response.json()
            returned = {i[id_field] for i in payload["items"]} if "items" in payload else {payload[id_field]}
            assert returned.isdisjoint(globex_ids), (method, path, query)
            if method in ("POST", "PUT"):
                acme_ids |= returned
            assert returned <= acme_ids, (method, path, query)
        else:
            assert response.status_code in (403, 404, 405, 422), (method, path, query, response.status_code)
        assert pool_rows(dynamodb, service, "globex") == before, (method, path, query)

    assert {i[id_field] for i in pool_rows(dynamodb, service, "acme")} == acme_ids
    assert {403, 404, 422} <= set(statuses), statuses
    assert wire.violations() == []
    assert wire.tenants_served() == {"acme", "globex"}
    listed = client.get(pool_path(service, "globex"), headers=headers("globex")).json()
    assert sorted(i[id_field] for i in listed["items"]) == sorted(globex_ids)
