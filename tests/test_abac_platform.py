"""The ABAC checker (tenantform/checks/abac.py) on the platform workspace as CDKTF synthesises it.

The two pool roles (created on every platform, with or without `pooled_tiers`) must pass; a copy of the synthesised document
tampered the ways issue 14 names (the tag binding replaced by a literal tenant, a Scan added, the
service role widened, TagSession dropped from the trust) must fail. `invoke check` runs the same function on cdktf.out (tests/test_check_targets.py).
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cdktf import Testing as CdktfTesting  # aliased: pytest would try to collect `Testing*`

from modules.platform.stack import PlatformStack
from tenantform.checks import abac
from tenantform.platform_config import PlatformConfig
from tenantform.project import Project
from tenantform.targets import Settings, TargetKind
from tenantform.tiers import Tier

POOLED = replace(PlatformConfig(), pooled_tiers=(Tier.BASIC,))


def synth(tmp: Path, platform: PlatformConfig) -> dict[str, Any]:
    config = Project(Settings(project_dir=tmp, target=TargetKind.AWS, state_bucket="tenantform-state"),
                     platform=platform).app_config()
    return json.loads(CdktfTesting.synth(PlatformStack(CdktfTesting.app(), "platform", platform=platform, config=config)))


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synth(tmp_path_factory.mktemp("pooled"), POOLED)


def problems_of(doc: dict[str, Any]) -> list[str]:
    outcome = abac.platform_abac_violations(doc, POOLED)
    assert outcome is not None
    return outcome[1]


def test_the_synthesised_pool_roles_pass(pooled: dict[str, Any]) -> None:
    checked, problems = abac.platform_abac_violations(pooled, POOLED)
    assert problems == [] and checked >= 4, problems
    roles = abac.pool_roles(pooled, platform_name=POOLED.name, region=POOLED.region)
    bound = [s for p in roles.tenant_access_policies.values() for s in p["Statement"]]
    assert bound and all("${aws:PrincipalTag/tenant_id}" in json.dumps(s["Condition"]) for s in bound)


def _tampered(doc: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    text = json.dumps(doc)
    assert old in text, f"{old!r} is not in the synthesised platform"
    return json.loads(text.replace(old, new))


def test_a_policy_that_does_not_bind_the_tag_fails(pooled: dict[str, Any]) -> None:
    problems = problems_of(_tampered(pooled, "$${aws:PrincipalTag/tenant_id}", "acme"))
    assert any(p.startswith("tenant-access role ") and "not bound to dynamodb:LeadingKeys" in p
               and ": statement " in p for p in problems), problems


def test_a_scan_added_to_the_tenant_access_policy_fails(pooled: dict[str, Any]) -> None:
    doc = copy.deepcopy(pooled)
    roles = abac.pool_roles(doc, platform_name=POOLED.name, region=POOLED.region)
    assert roles is not None and roles.tenant_access_policies
    for statement in (doc.get("data", {}).get("aws_iam_policy_document") or {}).values():
        for block in statement.get("statement", []):
            if "dynamodb:Query" in block.get("actions", []):
                block["actions"] = [*block["actions"], "dynamodb:Scan"]
    problems = problems_of(doc)
    assert any(p.startswith("tenant-access role ") and "dynamodb:Scan carries no leading key" in p
               for p in problems), problems


def test_a_widened_service_role_or_a_trust_without_tag_session_fails(pooled: dict[str, Any]) -> None:
    doc = copy.deepcopy(pooled)
    for body in (doc.get("data", {}).get("aws_iam_policy_document") or {}).values():
        for block in body.get("statement", []):
            if block.get("actions") and set(block["actions"]) <= {"sts:AssumeRole", "sts:TagSession"}:
                block["actions"] = ["sts:AssumeRole"] if block.get("principals") else ["sts:AssumeRole", "sts:*"]
    problems = problems_of(doc)
    assert any(p.startswith("pool service role ") and "the pool service role may only" in p for p in problems), problems
    assert any(p.startswith("tenant-access role trust: ") and "sts:TagSession" in p for p in problems), problems


def test_the_roles_exist_and_are_checked_even_without_pooled_tiers(tmp_path: Path) -> None:
    """The platform creates the pool roles whatever `pooled_tiers` says (modules/platform/pool.py):
    roles that exist are checked; "no pool: skipped" is only for a platform without them
    (tests/test_abac.py, on a fragment)."""
    assert PlatformConfig().pooled_tiers == ()
    assert abac.platform_abac_violations(synth(tmp_path, PlatformConfig()), PlatformConfig()) == (4, [])
