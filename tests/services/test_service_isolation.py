"""A request as acme never returns or changes globex's rows, in either table, through any route,
path or query parameter, or body field. Rows are written for both tenants through their own
deployments; globex's rows are then read directly with boto3 before and after every attempt."""

from __future__ import annotations

import itertools

import pytest

from tests.services.support import PATHS, SERVICES, VALID, headers, rows, table_items, table_name

SEEDED = 3


def seed(clients, service: str, tenant: str) -> list[dict]:
    client = clients[(service, tenant)]
    created = []
    for n in range(SEEDED):
        body = {**VALID[service], "name": f"{tenant}-secret-{n}"}
        response = client.post(f"/{tenant}/{PATHS[service]}", json=body, headers=headers(tenant))
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def attempts(service: str, globex_ids: list[str], acme_id: str, prefix: str = "",
             tables: tuple[str, ...] | None = None) -> list[tuple[str, str, dict, object]]:
    """(method, path, query, body) that a caller authenticated as acme might try; `prefix` is the
    deployment's route prefix ("" or "/pool"), `tables` the table names worth smuggling."""
    collection, body = PATHS[service], VALID[service]
    tables = tables or (table_name(service, "globex"),)
    query_tricks = [{}, {"tenant": "globex"}, {"tenant_id": "globex"}, {"X-Tenant-Id": "globex"},
                    *({"TableName": t} for t in tables), *({"table": t} for t in tables)]
    tries = []
    for globex_id in globex_ids:
        tries += [("GET", f"/acme/{collection}", {"cursor": globex_id}, None)]
        for method, payload in (("GET", None), ("PUT", body), ("DELETE", None)):
            tries += [(method, f"/acme/{collection}/{globex_id}", q, payload) for q in query_tricks]
            tries += [(method, f"/globex/{collection}/{globex_id}", q, payload) for q in query_tricks]
    for q in query_tricks:
        tries += [("GET", f"/acme/{collection}", q, None), ("GET", f"/globex/{collection}", q, None),
                  ("POST", f"/globex/{collection}", q, body), ("POST", f"/acme/{collection}", q, body)]
    for path in (f"/Globex/{collection}", f"/globex%2F/{collection}", f"/acme/../globex/{collection}",
                 f"//globex/{collection}", f"/acme/{collection}/../../globex/{collection}",
                 f"/acme/{collection}/{acme_id}/../{globex_ids[0]}"):
        tries += [("GET", path, {}, None), ("POST", path, {}, body)]
    smuggled = [{**body, "tenant_id": "globex"}, {**body, SERVICES[service].ID_FIELD: globex_ids[0]},
                *({**body, "TableName": t} for t in tables)]
    tries += [("POST", f"/acme/{collection}", {}, b) for b in smuggled]
    tries += [("PUT", f"/acme/{collection}/{acme_id}", {}, b) for b in smuggled]
    return [(method, prefix + path, query, payload) for method, path, query, payload in tries]


@pytest.mark.parametrize("service", SERVICES)
def test_acme_never_reads_or_changes_globex(service, clients, dynamodb) -> None:
    globex = seed(clients, service, "globex")
    acme = seed(clients, service, "acme")
    id_field = SERVICES[service].ID_FIELD
    globex_ids = [item[id_field] for item in globex]
    acme_id = acme[0][id_field]
    acme_ids = {item[id_field] for item in acme}
    before = rows(dynamodb, service, "globex")
    assert len(before) == SEEDED
    secrets = globex_ids + [item["name"] for item in globex]

    client = clients[(service, "acme")]
    statuses: dict[int, int] = {}
    for method, path, query, body in attempts(service, globex_ids, acme_id):
        response = client.request(method, path, params=query, json=body, headers=headers("acme"))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        text = response.text
        assert not any(secret in text for secret in secrets), (method, path, query, text)
        if response.is_success:
            # a success is acme's own list, read or new row: never a globex id (no DELETE here
            # names an acme row, so a 204 would be a deletion that must not happen)
            assert response.status_code in (200, 201), (method, path, query)
            payload = response.json()
            returned = {i[id_field] for i in payload["items"]} if "items" in payload else {payload[id_field]}
            assert returned.isdisjoint(globex_ids), (method, path, query)
            if method in ("POST", "PUT"):
                acme_ids |= returned  # acme's new row, in acme's partition (checked below)
            assert returned <= acme_ids, (method, path, query)
        else:
            assert response.status_code in (403, 404, 405, 422), (method, path, query, response.status_code)
        assert rows(dynamodb, service, "globex") == before, (method, path, query)

    assert {i[id_field] for i in rows(dynamodb, service, "acme")} == acme_ids
    # the attempts really reached every refusal the services have
    assert {403, 404, 422} <= set(statuses), statuses
    # and globex's own deployment still sees exactly its rows
    listed = clients[(service, "globex")].get(f"/globex/{PATHS[service]}", headers=headers("globex")).json()
    assert sorted(i[id_field] for i in listed["items"]) == sorted(globex_ids)


@pytest.mark.parametrize("service", SERVICES)
def test_globex_headers_never_reach_acmes_deployment(service, clients, dynamodb) -> None:
    """A request forwarded with globex's identity to acme's pods (a misrouted ingress) is refused
    on every route, whatever the path says."""
    acme = seed(clients, service, "acme")
    seed(clients, service, "globex")
    acme_before = table_items(dynamodb, table_name(service, "acme"))
    client = clients[(service, "acme")]
    item_id = acme[0][SERVICES[service].ID_FIELD]
    for tenant, (method, suffix) in itertools.product(
            ("acme", "globex"), (("GET", ""), ("POST", ""), ("GET", f"/{item_id}"), ("PUT", f"/{item_id}"),
                                 ("DELETE", f"/{item_id}"))):
        body = VALID[service] if method in ("POST", "PUT") else None
        response = client.request(method, f"/{tenant}/{PATHS[service]}{suffix}", json=body,
                                  headers=headers("globex", "platinum"))
        assert response.status_code == 403, (tenant, method, response.text)
        assert "acme-secret" not in response.text
    assert table_items(dynamodb, table_name(service, "acme")) == acme_before
