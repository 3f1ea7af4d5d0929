"""A tenant's data outside Terraform's reach, read and removed through the target's boto3 clients.

- Final on-demand backups (DynamoDB `CreateBackup`) of the tables that hold only this tenant's
  data (its `Order-<id>` table), named `tenantform-final-<id>-<yyyymmdd>`; an existing backup
  of that name for that table is reused, never duplicated.
- The tenant's rows in the pooled Product table: counted, exported to a JSON file (the pooled
  table cannot be backed up per tenant), deleted in batches with bounded retries of
  unprocessed items, and verified gone.
- After the destroy: what must be gone (catalogue entry, API key and its usage-plan keys, order
  table, user pool, IAM role) is read back from AWS, not taken from terraform's word.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from tenantform.atomic import write_atomic
from tenantform.errors import TenantformError
from tenantform.names import TenantNames

BATCH = 25  # BatchWriteItem's limit
RETRIES = 8  # attempts at one batch's unprocessed items before giving up
BACKUP_WAIT_SECONDS = 600.0
FAULT_ENV = "TENANTFORM_FAULT"
"""Tests only: `offboard:<step>` ends the process right after <step> is recorded (a crash);
`offboard:backup-error` makes the final backup fail as AWS would (see tests/test_offboarding.py)."""


def aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return response.get("Error", {}).get("Code", type(exc).__name__)


def table_exists(ddb: Any, table: str) -> bool:
    try:
        ddb.describe_table(TableName=table)
    except ddb.exceptions.ResourceNotFoundException:
        return False
    return True


def _backups_named(ddb: Any, table: str, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.list_backups(**kwargs)
        found += [b for b in page.get("BackupSummaries", [])
                  if b["BackupName"] == name and b.get("BackupStatus") != "DELETED"]
        if not page.get("LastEvaluatedBackupArn"):
            return found
        kwargs["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]


def final_backup(ddb: Any, table: str, name: str, *, say: Callable[[str], None],
                 wait_seconds: float = BACKUP_WAIT_SECONDS) -> tuple[str, bool]:
    """(backup ARN, reused): CreateBackup of `table`, or the existing one of that name taken of
    this table (not of an earlier table of that name: an id offboarded, onboarded again and
    offboarded the same day); waits until it is AVAILABLE. Any failure is a TenantformError
    saying nothing was destroyed."""
    try:
        created = ddb.describe_table(TableName=table)["Table"]["CreationDateTime"]
        existing = [b for b in _backups_named(ddb, table, name) if b["BackupCreationDateTime"] >= created]
        if existing:
            arn, reused = existing[0]["BackupArn"], True
        else:
            if os.environ.get(FAULT_ENV) == "offboard:backup-error":
                from botocore.exceptions import ClientError

                raise ClientError({"Error": {"Code": "LimitExceededException",
                                             "Message": f"injected by {FAULT_ENV}"}}, "CreateBackup")
            arn, reused = ddb.create_backup(TableName=table, BackupName=name)["BackupDetails"]["BackupArn"], False
        deadline = time.monotonic() + wait_seconds
        while True:
            status = ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
            if status == "AVAILABLE":
                return arn, reused
            if status != "CREATING" or time.monotonic() > deadline:
                raise TenantformError(f"backup {name} of table {table} is {status}, not AVAILABLE")
            say(f"waiting for backup {name} of {table} ({status})")
            time.sleep(5)
    except aws_errors() as exc:
        raise TenantformError(
            f"the final backup of table {table} failed ({_code(exc)}: {exc}); nothing was destroyed. "
            "Fix the cause and re-run, or pass --skip-backup to offboard without a final backup") from None


def unprotect_tables(ddb: Any, tables: list[str], *, say: Callable[[str], None]) -> list[str]:
    """Turn DynamoDB deletion protection off on those of `tables` that exist and have it on,
    just before a destroy (terraform's destroy refreshes first and then deletes). Returns them."""
    turned = []
    for table in tables:
        try:
            described = ddb.describe_table(TableName=table)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            continue
        if described.get("DeletionProtectionEnabled"):
            say(f"turning deletion protection off on table {table}")
            ddb.update_table(TableName=table, DeletionProtectionEnabled=False)
            turned.append(table)
    return turned


def write_batches(ddb: Any, table: str, requests: list[dict[str, Any]], *,
                  sleep: Callable[[float], None] = time.sleep, retries: int = RETRIES,
                  what: str = "items") -> None:
    """BatchWriteItem `requests` (Put or DeleteRequests) 25 at a time; unprocessed ones are
    retried with exponential backoff, `retries` times at most per batch."""
    for start in range(0, len(requests), BATCH):
        pending = {table: requests[start:start + BATCH]}
        for attempt in range(retries + 1):
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            if attempt == retries:
                raise TenantformError(f"{len(pending.get(table, []))} {what} in table {table} were still "
                                      f"unprocessed after {retries} retries; re-run to resume")
            sleep(min(0.05 * 2 ** attempt, 5.0))


# -- the pooled table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PooledTable:
    """The tenant's partition of one pooled table."""

    ddb: Any
    table: str
    tenant_id: str
    partition_key: str = "tenant_id"

    def _query(self, **extra: Any) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True,
                                  "KeyConditionExpression": "#p = :t",
                                  "ExpressionAttributeNames": {"#p": self.partition_key},
                                  "ExpressionAttributeValues": {":t": {"S": self.tenant_id}}, **extra}
        while True:
            page = self.ddb.query(**kwargs)
            yield page
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def exists(self) -> bool:
        return table_exists(self.ddb, self.table)

    def key_names(self) -> list[str]:
        schema = self.ddb.describe_table(TableName=self.table)["Table"]["KeySchema"]
        return [k["AttributeName"] for k in schema]

    def count(self) -> int:
        if not self.exists():
            return 0
        return sum(page.get("Count", 0) for page in self._query(Select="COUNT"))

    def items(self) -> list[dict[str, Any]]:
        if not self.exists():
            return []
        return [item for page in self._query() for item in page.get("Items", [])]

    def delete(self, items: list[dict[str, Any]], *, sleep: Callable[[float], None] = time.sleep,
               retries: int = RETRIES) -> int:
        """Delete `items` by key, 25 per BatchWriteItem; unprocessed items are retried with
        exponential backoff, `retries` times at most per batch. Returns how many were deleted."""
        if not items:
            return 0
        names = self.key_names()
        keys = [{name: item[name] for name in names} for item in items]
        write_batches(self.ddb, self.table, [{"DeleteRequest": {"Key": key}} for key in keys],
                      sleep=sleep, retries=retries, what=f"items of tenant {self.tenant_id}")
        return len(keys)


def export_rows(path: Path, *, table: str, tenant_id: str, items: list[dict[str, Any]],
                key_names: list[str]) -> int:
    """Merge `items` into the JSON export at `path` (atomic write, owner-only); returns its size.
    Items are kept in DynamoDB's attribute-value form, so BatchWriteItem can put them back."""
    try:
        known = json.loads(path.read_text(encoding="utf-8"))["items"]
    except (OSError, ValueError, KeyError):
        known = []

    def key(item: dict[str, Any]) -> str:
        return json.dumps([item.get(name) for name in key_names], sort_keys=True)

    merged = {key(item): item for item in known}
    merged.update({key(item): item for item in items})
    write_atomic(path, json.dumps({"table": table, "tenant_id": tenant_id, "key": key_names,
                                   "format": "DynamoDB attribute values, as Query returns them",
                                   "items": list(merged.values())}, indent=1, sort_keys=True), mode=0o600)
    return len(merged)


# -- verification after the destroy ---------------------------------------------------------------
def leftovers(client: Callable[[str], Any], names: TenantNames, *, catalogue_table: str) -> list[str]:
    """What is still in AWS of a destroyed tenant (`client(service)` gives a boto3 client): an
    empty list when it is all gone."""
    ddb, idp, iam, apigw = (client(s) for s in ("dynamodb", "cognito-idp", "iam", "apigateway"))
    left: list[str] = []
    if table_exists(ddb, catalogue_table):
        item = ddb.get_item(TableName=catalogue_table, Key={"tenant_id": {"S": names.tenant_id}},
                            ConsistentRead=True)
        if "Item" in item:
            left.append(f"catalogue entry {names.tenant_id} in {catalogue_table}")
    if table_exists(ddb, names.order_table):
        left.append(f"table {names.order_table}")
    for page in idp.get_paginator("list_user_pools").paginate(MaxResults=60):
        left += [f"user pool {p['Name']} ({p['Id']})" for p in page["UserPools"] if p["Name"] == names.user_pool]
    try:
        iam.get_role(RoleName=names.irsa_role)
        left.append(f"IAM role {names.irsa_role}")
    except iam.exceptions.NoSuchEntityException:
        pass
    for page in apigw.get_paginator("get_api_keys").paginate():
        left += [f"API key {k['name']} ({k['id']})" for k in page["items"] if k.get("name") == names.api_key]
    for page in apigw.get_paginator("get_usage_plans").paginate():
        for plan in page["items"]:
            for key_page in apigw.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan["id"]):
                left += [f"usage-plan key {k['name']} in plan {plan['name']}" for k in key_page["items"]
                         if k.get("name") == names.api_key]
    return left
