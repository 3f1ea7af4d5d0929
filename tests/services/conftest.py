"""Fixtures for the service tests: a real moto server on 127.0.0.1, the tables with the key
schema the modules synthesise (support.py parses it from their source), emptied before each
test, and in-process clients of the product and order services of two tenants, acme and globex
(silo deployments), and of the pool deployment with a recorder of what it sends (pool_support.Wire).

No environment variable of the test process is changed: each app gets its own environ mapping
and a boto3 session with moto's dummy credentials.
"""

from __future__ import annotations

from typing import Callable, Iterator

import boto3
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from tests.services.pool_support import ACCESS_ROLE, ACCESS_ROLE_ARN, Wire, pool_environ
from tests.services.support import (CATALOGUE_SCHEMA, ORDER_SCHEMA, PLATFORM, POOLED_ORDER_SCHEMA, POOLED_ORDER_TABLE,
                                    PRODUCT_SCHEMA, SERVICES, TENANTS, free_port, service_environ, table_items,
                                    table_name)

@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
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
    resource.create_table(TableName=PLATFORM.catalogue_table_name, BillingMode="PAY_PER_REQUEST", **CATALOGUE_SCHEMA)
    resource.create_table(TableName=POOLED_ORDER_TABLE, BillingMode="PAY_PER_REQUEST", **POOLED_ORDER_SCHEMA)
    for tenant in TENANTS:
        resource.create_table(TableName=table_name("order", tenant), BillingMode="PAY_PER_REQUEST", **ORDER_SCHEMA)
    return resource


@pytest.fixture(autouse=True)
def empty_tables(dynamodb) -> None:
    names = {table_name(s, t) for s in SERVICES for t in TENANTS} | {PLATFORM.catalogue_table_name, POOLED_ORDER_TABLE}
    for name in names:
        table = dynamodb.Table(name)
        keys = [k["AttributeName"] for k in table.key_schema]
        with table.batch_writer() as batch:
            for item in table_items(dynamodb, name):
                batch.delete_item(Key={k: item[k] for k in keys})


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


# -- the pool deployment (POOL=true) ------------------------------------------------------------------
TRUST = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],'
         ' "Principal": {"AWS": "arn:aws:iam::123456789012:role/tenantform-pool-service"}}]}')


@pytest.fixture(scope="session")
def access_role(aws, moto_endpoint) -> str:
    aws.client("iam", endpoint_url=moto_endpoint).create_role(RoleName=ACCESS_ROLE, AssumeRolePolicyDocument=TRUST)
    return ACCESS_ROLE_ARN


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def pool_session(wire) -> boto3.session.Session:
    """The pod's own (IRSA) identity, observed on the wire."""
    session = boto3.session.Session(aws_access_key_id="pod-role-key", aws_secret_access_key="testing",
                                    region_name=PLATFORM.region)
    wire.attach(session)
    return session


@pytest.fixture
def pool(pool_session, moto_endpoint, dynamodb, access_role) -> dict[str, TestClient]:
    """service -> a fresh pool deployment of it (its own credential cache)."""
    return {service: TestClient(SERVICES[service].create_app(environ=pool_environ(service, moto_endpoint),
                                                             session=pool_session)) for service in SERVICES}
