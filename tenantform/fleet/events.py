"""Reading terraform's JSON-lines plan output: which resources drifted."""

from __future__ import annotations

import json
from typing import Any, Iterator


def _events(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


def drifted_resources(stdout: str) -> list[str]:
    """Resources changed outside terraform that the plan would change back.

    `resource_drift` events alone are noisy (computed attributes that settle after an apply, such
    as a user pool's domain or a role's inline policies managed by another resource, show up after
    every apply, on AWS as on moto), so drift counts only where terraform would also act.
    """
    drift: set[str] = set()
    planned: set[str] = set()
    for event in _events(stdout):
        resource = (event.get("change") or {}).get("resource") or {}
        address = resource.get("addr")
        if not address:
            continue
        if event.get("type") == "resource_drift":
            drift.add(address)
        elif event.get("type") == "planned_change" and event["change"].get("action") != "read":
            planned.add(address)
    return sorted(drift & planned)
