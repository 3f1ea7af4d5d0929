"""Reading IAM policy JSON: the small helpers every policy checker shares."""

from __future__ import annotations

from typing import Any, Mapping


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _statements(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in as_list(policy.get("Statement"))]


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


def _unresolved(value: str) -> bool:
    return "${" in value

