"""Helpers of the pool tests: the pool deployment's environment and a recorder of what the services
put on the wire (botocore event hooks on the session the apps are given; nothing is replaced).

`Wire` pairs each AssumeRole request's tag with the access key STS returned for it, and checks
every DynamoDB request the way the tenant-access role's policy would (issue 14's contract): the
partition key of a Product / pooled Order item must equal the session's `tenant_id` tag, and the
catalogue key must be `<tag>#move`. moto does not evaluate IAM, so this is the test's own oracle,
written from the policy's text, not from the services' code.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

from tests.services.support import PLATFORM, POOLED_ORDER_TABLE, SERVICES

ACCOUNT = "123456789012"
ACCESS_ROLE = f"{PLATFORM.name}-pool-tenant-access"
ACCESS_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ACCESS_ROLE}"
POOL_TABLES = {"product": PLATFORM.product_table_name, "order": POOLED_ORDER_TABLE}


def pool_environ(service: str, endpoint: str, **overrides: str) -> dict[str, str]:
    """What the pool Deployment sets (issue 14's contract): no TENANT_ID."""
    return {"POOL": "true", "TENANT_ACCESS_ROLE_ARN": ACCESS_ROLE_ARN, SERVICES[service].TABLE_ENV: POOL_TABLES[service],
            "CATALOGUE_TABLE": PLATFORM.catalogue_table_name, "AWS_REGION": PLATFORM.region,
            "AWS_ENDPOINT_URL": endpoint, **overrides}


def pool_path(service: str, tenant: str, item_id: str | None = None) -> str:
    base = f"/pool/{tenant}/{SERVICES[service].COLLECTION}"
    return f"{base}/{item_id}" if item_id else base


@dataclass
class DynamoCall:
    access_key: str
    operation: str
    table: str
    leading_key: str | None


@dataclass
class Wire:
    assume_requests: list[dict[str, Any]] = field(default_factory=list)
    key_tags: dict[str, str] = field(default_factory=dict)  # access key id -> tenant_id tag it was issued for
    dynamo: list[DynamoCall] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, session: boto3.session.Session) -> None:
        session.events.register("before-call.sts.AssumeRole", self._before_assume)
        session.events.register("after-call.sts.AssumeRole", self._after_assume)
        session.events.register("before-send.dynamodb", self._before_send)

    def _before_assume(self, params: dict[str, Any], **_: Any) -> None:
        body = dict(params["body"])
        params["context"]["test_tag"] = tag_of(body)
        with self.lock:
            self.assume_requests.append(body)

    def _after_assume(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Credentials" in parsed:
            with self.lock:
                assert parsed["Credentials"]["AccessKeyId"] not in self.key_tags, "STS reissued an access key"
                self.key_tags[parsed["Credentials"]["AccessKeyId"]] = context["test_tag"]

    def _before_send(self, request: Any, **_: Any) -> None:
        authorization = request.headers["Authorization"]
        authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
        access_key = authorization.split("Credential=", 1)[1].split("/", 1)[0]
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[1]
        body = json.loads(request.body or b"{}")
        with self.lock:
            self.dynamo.append(DynamoCall(access_key, operation, body.get("TableName", ""), leading_key(body)))

    def violations(self) -> list[str]:
        """DynamoDB requests the tenant-access policy would refuse (or that used no assumed key)."""
        problems = []
        for call in self.dynamo:
            tag = self.key_tags.get(call.access_key)
            if tag is None:
                problems.append(f"{call.operation} on {call.table} signed with {call.access_key}, not an assumed key")
            elif call.table == PLATFORM.catalogue_table_name:
                if call.operation != "GetItem" or call.leading_key != f"{tag}#move":
                    problems.append(f"{call.operation} of catalogue key {call.leading_key!r} as {tag!r}")
            elif call.table in POOL_TABLES.values():
                if call.operation not in ("GetItem", "PutItem", "DeleteItem", "Query") or call.leading_key != tag:
                    problems.append(f"{call.operation} of {call.table} key {call.leading_key!r} as {tag!r}")
            else:
                problems.append(f"{call.operation} on table {call.table!r} outside the pool's tables")
        return problems

    def tenants_served(self) -> set[str]:
        return {self.key_tags[c.access_key] for c in self.dynamo if c.access_key in self.key_tags}


def tag_of(body: dict[str, Any]) -> str | None:
    """The value of the `tenant_id` session tag in an AssumeRole request (query protocol form)."""
    tags = {body[k]: body[k.replace(".Key", ".Value")] for k in body if k.startswith("Tags.member.") and k.endswith(".Key")}
    return tags.get("tenant_id")


def leading_key(body: dict[str, Any]) -> str | None:
    """The partition key value a DynamoDB JSON request names (what `dynamodb:LeadingKeys` sees)."""
    for part in ("Key", "Item"):
        if part in body:
            return body[part].get("tenant_id", {}).get("S")
    if "KeyConditionExpression" in body:
        names = body.get("ExpressionAttributeNames", {})
        expression = body["KeyConditionExpression"]
        name, _, placeholder = (s.strip() for s in expression.partition("="))
        assert names.get(name, name) == "tenant_id" and " " not in placeholder, expression
        return body["ExpressionAttributeValues"][placeholder]["S"]
    return None

