"""A DynamoDB table over a boto3 client, with items as plain Python values. Clients are
thread-safe (boto3 resources are not), and FastAPI runs the handlers in a thread pool."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

# A page of items and the key to start the next one from (None after the last page).
Page = tuple[list[dict[str, Any]], dict[str, Any] | None]


class Table:
    """One table through one client (in pool mode, a client holding one tenant's credentials)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name
        self._to, self._from = TypeSerializer(), TypeDeserializer()

    def _dynamo(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._to.serialize(v) for k, v in item.items()}

    def _python(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._from.deserialize(v) for k, v in item.items()}

    def get(self, key: Mapping[str, str]) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.name, Key=self._dynamo(key), ConsistentRead=True).get("Item")
        return self._python(item) if item else None

    def put(self, item: Mapping[str, Any], *, id_field: str, exists: bool) -> None:
        """Write `item` if its key is (exists=True) or is not (exists=False) already there."""
        condition = "attribute_exists(#id)" if exists else "attribute_not_exists(#id)"
        self.client.put_item(TableName=self.name, Item=self._dynamo(item), ConditionExpression=condition,
                             ExpressionAttributeNames={"#id": id_field})

    def delete(self, key: Mapping[str, str], *, id_field: str) -> None:
        self.client.delete_item(TableName=self.name, Key=self._dynamo(key),
                                ConditionExpression="attribute_exists(#id)", ExpressionAttributeNames={"#id": id_field})

    def query(self, *, partition: tuple[str, str], limit: int, start: Mapping[str, str] | None) -> Page:
        """One page of one partition (`partition` = key name, value): the pooled table's only read
        of many items, which carries the partition key that `dynamodb:LeadingKeys` checks."""
        return self._page(self.client.query, limit, start, KeyConditionExpression="#pk = :pk",
                          ExpressionAttributeNames={"#pk": partition[0]},
                          ExpressionAttributeValues={":pk": self._to.serialize(partition[1])})

    def scan(self, *, limit: int, start: Mapping[str, str] | None) -> Page:
        """One page of the whole table: for a tenant's own (silo) order table only."""
        return self._page(self.client.scan, limit, start)

    def _page(self, call: Callable[..., Any], limit: int, start: Mapping[str, str] | None, **args: Any) -> Page:
        if start:
            args["ExclusiveStartKey"] = self._dynamo(start)
        response = call(TableName=self.name, Limit=limit, **args)
        last = response.get("LastEvaluatedKey")
        return [self._python(i) for i in response["Items"]], self._python(last) if last else None
