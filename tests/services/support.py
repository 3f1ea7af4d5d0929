"""Helpers of the service tests: the contract values parsed from the modules' source (the
modules import CDKTF, about 20 s), table names from tenantform's one naming function, request
helpers and direct reads of the tables."""

from __future__ import annotations

import ast
import socket
import uuid
from pathlib import Path
from typing import Any

from services.order import app as order_app
from services.product import app as product_app
from tenantform.names import tenant_names
from tenantform.platform_config import PlatformConfig

REPO = Path(__file__).resolve().parents[2]
PLATFORM = PlatformConfig()
TENANTS = ("acme", "globex")
SERVICES = {"product": product_app, "order": order_app}


def module_constants(path: Path) -> dict[str, Any]:
    """The literal module-level constants of a Python file, read without importing it."""
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
CATALOGUE_SCHEMA = synthesised_key_schema(REPO / "modules/platform/data.py", "catalogue_table")
# The pooled order table as issue 14's contract fixes it (platform.toml `pooled_order_table_name`,
# default "Order"; hash key tenant_id, range key order_id, both strings). Its construct is built in
# modules/platform (issue 14a); once it is there, parse it like the tables above.
POOLED_ORDER_TABLE = "Order"
POOLED_ORDER_SCHEMA = {"KeySchema": [{"AttributeName": "tenant_id", "KeyType": "HASH"},
                                     {"AttributeName": "order_id", "KeyType": "RANGE"}],
                       "AttributeDefinitions": [{"AttributeName": "tenant_id", "AttributeType": "S"},
                                                {"AttributeName": "order_id", "AttributeType": "S"}]}
ORDER_SCHEMA = synthesised_key_schema(REPO / "modules/tenant_infra.py", "order_table")


def table_name(service: str, tenant: str) -> str:
    if service == "product":
        return PLATFORM.product_table_name
    return tenant_names(tenant, platform_name=PLATFORM.name).order_table


def headers(tenant: str, tier: str = "basic") -> dict[str, str]:
    return {"X-Tenant-Id": tenant, "X-Tenant-Tier": tier}


def table_items(dynamodb, name: str) -> list[dict[str, Any]]:
    """Everything a table holds, read directly (the test's own Scan, not the service's)."""
    table = dynamodb.Table(name)
    response = table.scan(ConsistentRead=True)
    items = response["Items"]
    while "LastEvaluatedKey" in response:
        response = table.scan(ConsistentRead=True, ExclusiveStartKey=response["LastEvaluatedKey"])
        items += response["Items"]
    return sorted(items, key=repr)


def service_environ(service: str, tenant: str, endpoint: str, **overrides: str) -> dict[str, str]:
    return {"TENANT_ID": tenant, SERVICES[service].TABLE_ENV: table_name(service, tenant),
            "CATALOGUE_TABLE": PLATFORM.catalogue_table_name, "AWS_REGION": PLATFORM.region,
            "AWS_ENDPOINT_URL": endpoint, **overrides}


VALID = {
    "product": {"name": "Anvil", "price_cents": 1999, "description": "Drop-forged"},
    "order": {"name": "First order", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 2}]},
}
PATHS = {"product": "products", "order": "orders"}


def url(service: str, tenant: str = "acme", item_id: str | None = None) -> str:
    base = f"/{tenant}/{PATHS[service]}"
    return f"{base}/{item_id}" if item_id else base


def rows(dynamodb, service: str, tenant: str) -> list[dict]:
    items = table_items(dynamodb, table_name(service, tenant))
    return [i for i in items if service == "order" or i["tenant_id"] == tenant]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
