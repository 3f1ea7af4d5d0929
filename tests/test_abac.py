"""The pool's ABAC checker (tenantform/checks/abac.py) on policies written by hand.

Every document here is typed out literally, from the contract of issue 14 and the IAM and
DynamoDB documentation (session tags, `aws:RequestTag`, `aws:PrincipalTag`, `dynamodb:LeadingKeys`),
not produced by tenantform: a compliant set passes, and each way of breaking tenant scoping
fails with a message naming the statement. The synthesised platform is checked by `invoke check`
(tests/test_check_targets.py) and in tests/test_abac_platform.py.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tenantform.checks import abac
from tenantform.platform_config import PlatformConfig

ACCOUNT, REGION = "123456789012", "us-east-1"
SERVICE_ARN = f"arn:aws:iam::{ACCOUNT}:role/tenantform-pool-service"
ACCESS_ARN = f"arn:aws:iam::{ACCOUNT}:role/tenantform-pool-tenant-access"
PRODUCT = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Product"
ORDER = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Order"
CATALOGUE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/TenantCatalogue"
ITEM_ACTIONS = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
                "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                "dynamodb:UpdateItem"]

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "PoolServiceOnlyWithTenantTag",
        "Effect": "Allow",
        "Principal": {"AWS": SERVICE_ARN},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"Null": {"aws:RequestTag/tenant_id": "false"}},
    }],
}
ACCESS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "PooledTablesOwnPartitionOnly", "Effect": "Allow", "Action": ITEM_ACTIONS,
         "Resource": [PRODUCT, ORDER],
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/tenant_id}"]}}},
        {"Sid": "OwnFreezeFlag", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": CATALOGUE,
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": "${aws:PrincipalTag/tenant_id}#move"}}},
    ],
}
SERVICE = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "AssumeTenantAccess", "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
                   "Resource": ACCESS_ARN}],
}


def trust_problems(policy: dict[str, Any]) -> list[str]:
    return abac.tenant_access_trust_violations(policy, service_role_arn=SERVICE_ARN)


def access_problems(policy: dict[str, Any]) -> list[str]:
    return abac.tenant_access_policy_violations(policy, pooled_table_arns=[PRODUCT, ORDER], catalogue_table_arn=CATALOGUE)


def service_problems(policy: dict[str, Any]) -> list[str]:
    return abac.service_policy_violations(policy, tenant_access_role_arn=ACCESS_ARN)


def test_the_compliant_policies_pass() -> None:
    assert trust_problems(TRUST) == []
    assert access_problems(ACCESS) == []
    assert service_problems(SERVICE) == []


def test_a_trust_may_require_the_tag_with_a_string_condition() -> None:
    trust = copy.deepcopy(TRUST)
    trust["Statement"][0]["Condition"] = {"StringLike": {"aws:RequestTag/tenant_id": "?*"}}
    assert trust_problems(trust) == []


def _pooled(policy: dict[str, Any]) -> dict[str, Any]:
    return policy["Statement"][0]


def _freeze(policy: dict[str, Any]) -> dict[str, Any]:
    return policy["Statement"][1]


@pytest.mark.parametrize("breakage, statement, expected", [
    (lambda p: _pooled(p).pop("Condition"), "PooledTablesOwnPartitionOnly", "not bound to dynamodb:LeadingKeys"),
    (lambda p: _pooled(p)["Condition"]["ForAllValues:StringEquals"].__setitem__("dynamodb:LeadingKeys", ["acme"]),
     "PooledTablesOwnPartitionOnly", "not bound to dynamodb:LeadingKeys == ['${aws:PrincipalTag/tenant_id}']"),
    (lambda p: _pooled(p).__setitem__("Condition", {"StringLike": {"dynamodb:LeadingKeys": "*"}}),
     "PooledTablesOwnPartitionOnly", "condition StringLike on dynamodb:LeadingKeys"),
    (lambda p: _pooled(p).__setitem__("Condition", {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "*"}}),
     "PooledTablesOwnPartitionOnly", "not bound to dynamodb:LeadingKeys"),
    (lambda p: _pooled(p).__setitem__("Condition", {
        "ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": "${aws:PrincipalTag/tenant_id}"}}),
     "PooledTablesOwnPartitionOnly", "ForAnyValue"),
    (lambda p: _pooled(p)["Condition"].__setitem__(
        "ForAllValues:StringEqualsIfExists", {"dynamodb:LeadingKeys": "${aws:PrincipalTag/tenant_id}"}),
     "PooledTablesOwnPartitionOnly", "IfExists can be satisfied without the tenant's key"),
    (lambda p: _pooled(p)["Condition"]["ForAllValues:StringEquals"].__setitem__(
        "dynamodb:LeadingKeys", ["${aws:PrincipalTag/tenant_id}", "acme"]),
     "PooledTablesOwnPartitionOnly", "not bound"),
    (lambda p: _pooled(p)["Action"].append("dynamodb:Scan"), "PooledTablesOwnPartitionOnly",
     "dynamodb:Scan carries no leading key"),
    (lambda p: _pooled(p)["Action"].append("dynamodb:PartiQLSelect"), "PooledTablesOwnPartitionOnly",
     "dynamodb:PartiQLSelect carries no leading key"),
    (lambda p: _pooled(p)["Action"].append("dynamodb:DescribeTable"), "PooledTablesOwnPartitionOnly",
     "dynamodb:DescribeTable carries no leading key"),
    (lambda p: _pooled(p).__setitem__("Action", "dynamodb:*"), "PooledTablesOwnPartitionOnly", "wildcard action"),
    (lambda p: _pooled(p).__setitem__("Resource", "*"), "PooledTablesOwnPartitionOnly", "wildcard resource '*'"),
    (lambda p: _pooled(p)["Resource"].append(f"{PRODUCT}/index/by-name"), "PooledTablesOwnPartitionOnly",
     "is neither a pooled table"),
    (lambda p: _pooled(p)["Resource"].append(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/Order-acme"),
     "PooledTablesOwnPartitionOnly", "is neither a pooled table"),
    (lambda p: _pooled(p).__setitem__("NotResource", CATALOGUE), "PooledTablesOwnPartitionOnly",
     "NotResource allows everything"),
    (lambda p: _pooled(p).__setitem__("NotAction", "dynamodb:Scan"), "PooledTablesOwnPartitionOnly",
     "NotAction allows everything"),
    (lambda p: _freeze(p)["Condition"]["ForAllValues:StringEquals"].__setitem__(
        "dynamodb:LeadingKeys", "${aws:PrincipalTag/tenant_id}"), "OwnFreezeFlag",
     "not bound to dynamodb:LeadingKeys == ['${aws:PrincipalTag/tenant_id}#move']"),
    (lambda p: _freeze(p).__setitem__("Action", ["dynamodb:GetItem", "dynamodb:PutItem"]), "OwnFreezeFlag",
     "only dynamodb:GetItem of the freeze flag"),
    (lambda p: _pooled(p)["Resource"].append(CATALOGUE), "PooledTablesOwnPartitionOnly",
     "the catalogue and the pooled tables in one statement"),
    (lambda p: p["Statement"].append({"Sid": "Unconditioned", "Effect": "Allow", "Action": "dynamodb:GetItem",
                                      "Resource": PRODUCT}), "Unconditioned", "not bound to dynamodb:LeadingKeys"),
], ids=["no-condition", "literal-tenant", "string-like-star", "for-all-string-like", "for-any-value", "if-exists",
        "two-keys", "scan", "partiql", "table-level", "action-star", "resource-star", "index", "silo-table",
        "not-resource", "not-action", "freeze-key", "freeze-write", "catalogue-mixed", "extra-allow"])
def test_every_way_of_unbinding_the_tenant_access_policy_fails(breakage, statement: str, expected: str) -> None:
    broken = copy.deepcopy(ACCESS)
    breakage(broken)
    problems = access_problems(broken)
    assert any(p.startswith(f"statement {statement}:") and expected in p for p in problems), problems


def test_a_deny_statement_never_counts_against_the_policy() -> None:
    narrowed = copy.deepcopy(ACCESS)
    narrowed["Statement"].append({"Sid": "NoScan", "Effect": "Deny", "Action": "dynamodb:Scan", "Resource": "*"})
    assert access_problems(narrowed) == []


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s.__setitem__("Action", "sts:AssumeRole"), "does not allow sts:TagSession"),
    (lambda s: s.pop("Condition"), "does not require the request tag aws:RequestTag/tenant_id"),
    (lambda s: s.__setitem__("Condition", {"StringLikeIfExists": {"aws:RequestTag/tenant_id": "*"}}),
     "does not require the request tag"),
    (lambda s: s.__setitem__("Condition", {"Null": {"aws:RequestTag/tenant_id": "true"}}),
     "does not require the request tag"),
    (lambda s: s.__setitem__("Principal", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), "is not exactly the pool service"),
    (lambda s: s.__setitem__("Principal", "*"), "is not exactly the pool service"),
    (lambda s: s["Principal"].__setitem__("Service", "ec2.amazonaws.com"), "is not exactly the pool service"),
    (lambda s: s["Action"].append("sts:AssumeRoleWithWebIdentity"), "only sts:AssumeRole and sts:TagSession"),
    (lambda s: s.__setitem__("NotPrincipal", {"AWS": SERVICE_ARN}), "NotPrincipal"),
], ids=["no-tag-session", "no-tag-required", "tag-if-exists", "tag-absent", "account-root", "anyone",
        "extra-service", "web-identity", "not-principal"])
def test_every_widening_of_the_tenant_access_trust_fails(breakage, expected: str) -> None:
    broken = copy.deepcopy(TRUST)
    breakage(broken["Statement"][0])
    problems = trust_problems(broken)
    assert any(expected in p for p in problems), problems
    if expected != "does not allow sts:TagSession":  # that one is about the whole trust, not a statement
        assert any(p.startswith("statement PoolServiceOnlyWithTenantTag:") for p in problems), problems


@pytest.mark.parametrize("breakage, expected", [
    (lambda s: s["Action"].append("dynamodb:GetItem"), "the pool service role may only"),
    (lambda s: s.__setitem__("Action", "sts:*"), "the pool service role may only"),
    (lambda s: s.__setitem__("Resource", "*"), "only the tenant-access role"),
    (lambda s: s.__setitem__("Resource", f"arn:aws:iam::{ACCOUNT}:role/tenantform-*"), "only the tenant-access role"),
    (lambda s: s.__setitem__("Resource", [ACCESS_ARN, f"arn:aws:iam::{ACCOUNT}:role/acme-irsa"]),
     "only the tenant-access role"),
    (lambda s: s.__setitem__("NotResource", ACCESS_ARN), "NotResource"),
], ids=["extra-action", "sts-star", "any-role", "role-pattern", "silo-role", "not-resource"])
def test_the_service_role_may_only_assume_the_tenant_access_role(breakage, expected: str) -> None:
    broken = copy.deepcopy(SERVICE)
    breakage(broken["Statement"][0])
    problems = service_problems(broken)
    assert any(p.startswith("statement AssumeTenantAccess:") and expected in p for p in problems), problems


# -- finding the roles in a synthesised platform workspace (a hand-written Terraform JSON fragment) --------
def _document(sid: str, actions: list[str], resources: list[str], *, condition: list[dict[str, Any]] | None = None,
              principals: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"sid": sid, "effect": "Allow", "actions": actions}
    if resources:
        statement["resources"] = resources
    if condition:
        statement["condition"] = condition
    if principals:
        statement["principals"] = principals
    return {"statement": [statement]}


ISSUER = '${replace(aws_eks_cluster.eks.identity[0].oidc[0].issuer, "https://", "")}'


def fragment() -> dict[str, Any]:
    """What a platform stack with a pool synthesises, in Terraform JSON as CDKTF writes it (`$${` is
    Terraform's escape for a literal `${`, which IAM reads as a policy variable)."""
    leading = [{"test": "ForAllValues:StringEquals", "variable": "dynamodb:LeadingKeys",
                "values": ["$${aws:PrincipalTag/tenant_id}"]}]
    return {
        "data": {"aws_iam_policy_document": {
            "pool_access_trust": _document(
                "PoolServiceOnly", ["sts:AssumeRole", "sts:TagSession"], [],
                principals=[{"type": "AWS", "identifiers": ["${aws_iam_role.pool_service.arn}"]}],
                condition=[{"test": "Null", "variable": "aws:RequestTag/tenant_id", "values": ["false"]}]),
            "pool_access": {"statement": [
                {"sid": "PooledTables", "effect": "Allow", "actions": ITEM_ACTIONS,
                 "resources": ["${aws_dynamodb_table.product.arn}", "${aws_dynamodb_table.pooled_orders.arn}"],
                 "condition": leading},
                {"sid": "Freeze", "effect": "Allow", "actions": ["dynamodb:GetItem"],
                 "resources": ["${aws_dynamodb_table.catalogue.arn}"],
                 "condition": [{"test": "ForAllValues:StringEquals", "variable": "dynamodb:LeadingKeys",
                                "values": ["$${aws:PrincipalTag/tenant_id}#move"]}]},
            ]},
            "pool_service_trust": _document(
                "PoolServiceAccountOnly", ["sts:AssumeRoleWithWebIdentity"], [],
                principals=[{"type": "Federated", "identifiers": ["${aws_iam_openid_connect_provider.oidc.arn}"]}],
                condition=[{"test": "StringEquals", "variable": f"{ISSUER}:sub", "values": ["system:serviceaccount:pool:pool"]},
                           {"test": "StringEquals", "variable": f"{ISSUER}:aud", "values": ["sts.amazonaws.com"]}]),
            "pool_service": _document("AssumeTenantAccess", ["sts:AssumeRole", "sts:TagSession"],
                                      ["${aws_iam_role.pool_tenant_access.arn}"]),
        }},
        "resource": {
            "aws_iam_openid_connect_provider": {"oidc": {"url": "${aws_eks_cluster.eks.identity[0].oidc[0].issuer}"}},
            "aws_dynamodb_table": {"product": {"name": "Product"}, "pooled_orders": {"name": "Order"},
                                   "catalogue": {"name": "TenantCatalogue"}},
            "aws_iam_role": {
                "pool_service": {"name": "tenantform-pool-service",
                                 "assume_role_policy": "${data.aws_iam_policy_document.pool_service_trust.json}"},
                "pool_tenant_access": {"name": "tenantform-pool-tenant-access",
                                       "assume_role_policy": "${data.aws_iam_policy_document.pool_access_trust.json}"},
            },
            "aws_iam_role_policy": {
                "pool_access": {"name": "pooled-data", "role": "${aws_iam_role.pool_tenant_access.id}",
                                "policy": "${data.aws_iam_policy_document.pool_access.json}"},
                "pool_service": {"name": "assume", "role": "${aws_iam_role.pool_service.name}",
                                 "policy": "${data.aws_iam_policy_document.pool_service.json}"},
            },
        },
    }


def _platform(**changes: Any) -> Any:
    """A platform configuration for the fragment (pooled_tiers exists once issue 14's model is merged)."""
    from dataclasses import replace

    base = PlatformConfig()
    fields = PlatformConfig.__dataclass_fields__
    return replace(base, **{k: v for k, v in changes.items() if k in fields})


def test_the_fragment_is_read_as_iam_sees_it_and_passes() -> None:
    roles = abac.pool_roles(fragment(), platform_name="tenantform", region=REGION, account=ACCOUNT)
    assert roles is not None and roles.unreadable == []
    assert roles.trust["Statement"][0]["Principal"] == {"AWS": SERVICE_ARN}
    (access,) = roles.tenant_access_policies.values()
    assert access["Statement"][0]["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": "${aws:PrincipalTag/tenant_id}"}}
    assert access["Statement"][0]["Resource"] == [PRODUCT, ORDER]
    (service,) = roles.service_policies.values()
    assert service["Statement"][0]["Resource"] == ACCESS_ARN
    assert roles.service_trust["Statement"][0]["Principal"] == {"Federated": roles.oidc_provider_arn}
    assert abac.platform_abac_violations(fragment(), _platform(), account=ACCOUNT) == (4, [])


def test_the_service_role_is_assumable_only_by_the_pools_service_account() -> None:
    doc = fragment()
    doc["data"]["aws_iam_policy_document"]["pool_service_trust"]["statement"][0]["condition"][0]["values"] = [
        "system:serviceaccount:pool:*"]
    _, problems = abac.platform_abac_violations(doc, _platform(), account=ACCOUNT)
    assert any(p.startswith("pool service role trust: statement PoolServiceAccountOnly:") and ":sub must be exactly"
               in p for p in problems), problems


def test_a_fragment_whose_policy_does_not_bind_the_tag_fails() -> None:
    doc = fragment()
    doc["data"]["aws_iam_policy_document"]["pool_access"]["statement"][0]["condition"][0]["values"] = ["acme"]
    checked, problems = abac.platform_abac_violations(doc, _platform(), account=ACCOUNT)
    assert checked == 4
    assert [p for p in problems if "statement PooledTables:" in p and "not bound" in p], problems
    assert all(p.startswith("tenant-access role aws_iam_role_policy.pool_access: ") for p in problems), problems


def test_anything_else_attached_to_the_pool_roles_fails() -> None:
    doc = fragment()
    doc["resource"]["aws_iam_role_policy_attachment"] = {"extra": {
        "role": "${aws_iam_role.pool_service.name}", "policy_arn": "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"}}
    doc["resource"]["aws_iam_role"]["pool_tenant_access"]["inline_policy"] = [{"name": "more", "policy": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow", "Action": "dynamodb:Scan",
                                                 "Resource": "${aws_dynamodb_table.product.arn}"}]})}]
    _, problems = abac.platform_abac_violations(doc, _platform(), account=ACCOUNT)
    assert any("AmazonDynamoDBFullAccess" in p and p.startswith("unreadable policy") for p in problems), problems
    assert any("inline_policy[0]: statement All: dynamodb:Scan carries no leading key" in p for p in problems), problems


def test_a_platform_without_a_pool_is_skipped_and_a_missing_role_is_not() -> None:
    doc = fragment()
    del doc["resource"]["aws_iam_role"]["pool_tenant_access"]
    _, problems = abac.platform_abac_violations(doc, _platform(), account=ACCOUNT)
    assert "tenant-access role trust: missing or not readable as IAM JSON" in problems
    assert "tenant-access role: no permission policy found" in problems
    del doc["resource"]["aws_iam_role"]["pool_service"]
    assert abac.platform_abac_violations(doc, _platform(pooled_tiers=()), account=ACCOUNT) is None


def test_invoke_checks_abac_row_fails_on_a_violation_and_says_when_there_is_no_pool() -> None:
    from tenantform.checks.gate import abac_report

    said: list[str] = []
    skipped = abac_report(None, say=said.append)
    assert skipped.ok and skipped.checked == 0 and said == ["abac: no pool: skipped (no pooled_tiers and no pool "
                                                            "roles in the platform)"]
    assert abac_report((3, [])).ok and abac_report((3, [])).passed == 3
    failed = abac_report((3, ["tenant-access role x: statement S: not bound"]))
    assert not failed.ok and [f.message for f in failed.unexplained] == ["tenant-access role x: statement S: not bound"]


def test_policy_variables_are_not_unresolved_expressions_but_terraform_references_are() -> None:
    from tenantform.checks import run_parliament

    roles = abac.pool_roles(fragment(), platform_name="tenantform", region=REGION, account=ACCOUNT)
    (access,) = roles.tenant_access_policies.values()
    assert run_parliament({("platform", "pool_access"): access}).errors == []
    broken = copy.deepcopy(access)
    broken["Statement"][0]["Resource"] = "${aws_dynamodb_table.unknown.arn}"
    (error,) = run_parliament({("platform", "pool_access"): broken}).errors
    assert error.endswith("unresolved expression left in the rendered policy: ${aws_dynamodb_table.unknown.arn}")
