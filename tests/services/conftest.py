"""Fixtures for the service tests: a real moto server on 127.0.0.1, the tables with the key
schema the modules synthesise (parsed from their source, not copied), and in-process clients of
the product and order services of two tenants, acme and globex.

No environment variable of the test process is changed: each app gets its own environ mapping
and a boto3 session with moto's dummy credentials.
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from services.order import app as order_app
from services.product import app as product_app
from tenantform.names import tenant_names
from tenantform.platform_config import PlatformConfig

REPO = Path(__file__).resolve().parents[2]
PLATFORM = PlatformConfig()
TENANTS = ("acme", "globex")
SERVICES = {"product": product_app, "order": order_app}


def module_constants(path: Path) -> dict[str, Any]:
    """The literal module-level constants of a Python file, read without importing it (the
    modules import CDKTF, about 20 s)."""
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def synthesised_key_schema(path: Path, construct_id: str) -> dict[str, Any]:
    """KeySchema and AttributeDefinitions of the `DynamodbTable(self, construct_id, ...)` in a
    module, in CreateTable's form."""
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and _call_name(node) == "DynamodbTable" and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant) and node.args[1].value == construct_id):
            keywords = {k.arg: k.value for k in node.keywords}
            keys = [{"AttributeName": ast.literal_eval(keywords["hash_key"]), "KeyType": "HASH"}]
            if "range_key" in keywords:
                keys.append({"AttributeName": ast.literal_eval(keywords["range_key"]), "KeyType": "RANGE"})
            attributes = []
            for attribute in keywords["attribute"].elts:
                kw = {k.arg: ast.literal_eval(k.value) for k in attribute.keywords}
                attributes.append({"AttributeName": kw["name"], "AttributeType": kw["type"]})
            return {"KeySchema": keys, "AttributeDefinitions": attributes}
    raise AssertionError(f"no DynamodbTable {construct_id!r} in {path}")


PRODUCT_SCHEMA = synthesised_key_schema(REPO / "modules/platform/data.py", "product_table")
ORDER_SCHEMA = synthesised_key_schema(REPO / "modules/tenant_infra.py", "order_table")


def table_name(service: str, tenant: str) -> str:
    if service == "product":
        return PLATFORM.product_table_name
    return tenant_names(tenant, platform_name=PLATFORM.name).order_table


def headers(tenant: str, tier: str = "basic") -> dict[str, str]:
    return {"X-Tenant-Id": tenant, "X-Tenant-Tier": tier}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def aws() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=PLATFORM.region)


@pytest.fixture(scope="session")
def dynamodb(aws, moto_endpoint):
    resource = aws.resource("dynamodb", endpoint_url=moto_endpoint)
    resource.create_table(TableName=PLATFORM.product_table_name, BillingMode="PAY_PER_REQUEST", **PRODUCT_SCHEMA)
    for tenant in TENANTS:
        resource.create_table(TableName=table_name("order", tenant), BillingMode="PAY_PER_REQUEST", **ORDER_SCHEMA)
    return resource


def table_items(dynamodb, name: str) -> list[dict[str, Any]]:
    """Everything a table holds, read directly (the test's own Scan, not the service's)."""
    table = dynamodb.Table(name)
    response = table.scan(ConsistentRead=True)
    items = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ConsistentRead=True, ExclusiveStartKey=response["LastEvaluatedKey"])
        items += response["Items"]
    return sorted(items, key=repr)


@pytest.fixture(autouse=True)
def empty_tables(dynamodb) -> None:
    for name in {table_name(s, t) for s in SERVICES for t in TENANTS}:
        table = dynamodb.Table(name)
        keys = [k["AttributeName"] for k in table.key_schema]
        with table.batch_writer() as batch:
            for item in table_items(dynamodb, name):
                batch.delete_item(Key={k: item[k] for k in keys})


def service_environ(service: str, tenant: str, endpoint: str, **overrides: str) -> dict[str, str]:
    return {"TENANT_ID": tenant, SERVICES[service].TABLE_ENV: table_name(service, tenant),
            "AWS_REGION": PLATFORM.region, "AWS_ENDPOINT_URL": endpoint, **overrides}


@pytest.fixture(scope="session")
def make_client(aws, moto_endpoint) -> Callable[..., TestClient]:
    def make(service: str, tenant: str, **overrides: str) -> TestClient:
        environ = service_environ(service, tenant, moto_endpoint, **overrides)
        return TestClient(SERVICES[service].create_app(environ=environ, session=aws))
    return make


@pytest.fixture(scope="session")
def clients(make_client, dynamodb) -> dict[tuple[str, str], TestClient]:
    """(service, tenant) -> the client of that tenant's deployment of the service."""
    return {(service, tenant): make_client(service, tenant) for service in SERVICES for tenant in TENANTS}
