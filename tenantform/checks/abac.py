"""The pool's attribute-based access control, read independently of the code that builds it.

Pooled services hold no data permission of their own: their IRSA role `<platform>-pool-service`
may only `sts:AssumeRole` (with `sts:TagSession`) into `<platform>-pool-tenant-access`, tagging
the session with the gateway's verified tenant; that role's policy binds every item it can touch
to `dynamodb:LeadingKeys = ${aws:PrincipalTag/tenant_id}`. These checkers read the two roles'
policies as AWS will see them (IAM JSON, not the constructs) and return human-readable
violations naming the statement (empty: the pool is isolated):

- `tenant_access_trust_violations`: only the pool service role may assume the role, with
  `sts:TagSession`, and only with a `tenant_id` request tag;
- `tenant_access_policy_violations`: only item-level actions (each carries the partition key,
  so LeadingKeys constrains it) on the pooled tables, every Allow bound with
  `ForAllValues:StringEquals` to exactly `${aws:PrincipalTag/tenant_id}`; GetItem on the
  catalogue only for the key `${aws:PrincipalTag/tenant_id}#move` (the write freeze);
- `service_policy_violations`: the service role may do nothing but assume the tenant-access role,
  and (`isolation.trust_violations`) only the pool's service account may assume it.

`pool_roles` finds the two roles, by name, in a synthesised platform workspace (`cdk.tf.json`)
with every policy attached to them; `platform_abac_violations` puts it together for `invoke check`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from tenantform.checks.isolation import LEADING_KEY_ACTIONS, trust_violations
from tenantform.checks.policy_json import _has_wildcard, _statements, _unresolved, as_list
from tenantform.checks.rendering import ACCOUNT, literal, placeholder_resolver, render_policy_document

TENANT_TAG = "tenant_id"
PRINCIPAL_TAG = "${aws:PrincipalTag/tenant_id}"
FREEZE_KEY = PRINCIPAL_TAG + "#move"
LEADING_KEYS = "dynamodb:leadingkeys"  # condition keys are case-insensitive: compared lower-cased
REQUEST_TAG = f"aws:requesttag/{TENANT_TAG}"
ASSUME, TAG_SESSION = "sts:AssumeRole", "sts:TagSession"
SESSION_ACTIONS = frozenset({ASSUME, TAG_SESSION})
BINDING = "ForAllValues:StringEquals"
POOL_NAMESPACE = POOL_SERVICE_ACCOUNT = "pool"  # the contract of issue 14: namespace `pool`, service account `pool`
_NOT_KEYS = ("NotAction", "NotResource", "NotPrincipal")


def tenant_access_role_name(platform_name: str) -> str:
    return f"{platform_name}-pool-tenant-access"


def service_role_name(platform_name: str) -> str:
    return f"{platform_name}-pool-service"


def _where(statement: Mapping[str, Any], index: int) -> str:
    return f"statement {statement.get('Sid') or index}"


def _allows(policy: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, statement) of every Allow (a Deny only ever narrows)."""
    return [(_where(s, i), s) for i, s in enumerate(_statements(policy)) if s.get("Effect") == "Allow"]


def _conditions(statement: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`operator -> {condition key lower-cased: value}`."""
    return {test: {str(k).lower(): v for k, v in (body or {}).items()}
            for test, body in (statement.get("Condition") or {}).items()}


def _not_keys(where: str, statement: Mapping[str, Any]) -> list[str]:
    return [f"{where}: {key} allows everything it does not name" for key in _NOT_KEYS if key in statement]


# -- (a) who may assume the tenant-access role ------------------------------------------------------
def tenant_access_trust_violations(trust: Mapping[str, Any], *, service_role_arn: str) -> list[str]:
    """What in the tenant-access role's trust admits anyone but the pool service role, or lets it
    in without a `tenant_id` session tag (empty: nothing)."""
    problems: list[str] = []
    allows = _allows(trust)
    if not allows:
        problems.append("no Allow statement: the pool service role cannot assume the role at all")
    granted: set[str] = set()
    for where, statement in allows:
        problems += _not_keys(where, statement)
        principal = statement.get("Principal")
        if not isinstance(principal, Mapping) or set(principal) != {"AWS"} \
                or as_list(principal["AWS"]) != [service_role_arn]:
            problems.append(f"{where}: principal {principal!r} is not exactly the pool service role "
                            f"{service_role_arn!r}")
        actions = [str(a) for a in as_list(statement.get("Action"))]
        extra = [a for a in actions if a not in SESSION_ACTIONS]
        if extra or not actions:
            problems.append(f"{where}: actions {actions} (only {ASSUME} and {TAG_SESSION} are allowed)")
        granted.update(actions)
        if not _requires_request_tag(statement):
            problems.append(f"{where}: does not require the request tag aws:RequestTag/{TENANT_TAG} (Null = false, "
                            "or a String condition without IfExists): a session without a tenant could be created")
    for needed in sorted(SESSION_ACTIONS - granted):
        problems.append(f"the trust does not allow {needed} (tenant-scoped sessions need both "
                        f"{ASSUME} and {TAG_SESSION})")
    return problems


def _requires_request_tag(statement: Mapping[str, Any]) -> bool:
    for test, body in _conditions(statement).items():
        if REQUEST_TAG not in body:
            continue
        values = [str(v).lower() for v in as_list(body[REQUEST_TAG])]
        if test == "Null" and values == ["false"]:
            return True
        if test.startswith("String") and not test.endswith("IfExists") and values:
            return True  # a single-valued String condition is false when the key is absent
    return False


# -- (b) what the tenant-access role may touch ------------------------------------------------------
def tenant_access_policy_violations(policy: Mapping[str, Any], *, pooled_table_arns: Sequence[str],
                                    catalogue_table_arn: str) -> list[str]:
    """What in the tenant-access role's permissions reaches beyond the tagged tenant's own items
    (empty: nothing). Every Allow statement must name only pooled tables (item-level actions,
    LeadingKeys = the principal tag) or only the catalogue (GetItem, LeadingKeys = the tag + `#move`)."""
    problems: list[str] = []
    pooled = set(pooled_table_arns)
    allows = _allows(policy)
    if not allows:
        problems.append("no Allow statement: pooled services could read nothing")
    for where, statement in allows:
        problems += _not_keys(where, statement)
        actions = [str(a) for a in as_list(statement.get("Action"))]
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        if not actions:
            problems.append(f"{where}: no Action")
        if not resources:
            problems.append(f"{where}: no Resource")
        for action in actions:
            if _has_wildcard(action):
                problems.append(f"{where}: wildcard action {action!r}")
            elif action not in LEADING_KEY_ACTIONS:
                problems.append(f"{where}: {action} carries no leading key (it could read or change every "
                                "tenant's items) or is not an item-level DynamoDB action")
        catalogue = False
        for resource in resources:
            if _unresolved(resource):
                problems.append(f"{where}: unresolved resource {resource!r}")
            elif _has_wildcard(resource):
                problems.append(f"{where}: wildcard resource {resource!r}")
            elif resource == catalogue_table_arn:
                catalogue = True
            elif resource not in pooled:
                problems.append(f"{where}: resource {resource!r} is neither a pooled table {sorted(pooled)} "
                                f"nor the catalogue {catalogue_table_arn!r}")
        if catalogue and pooled.intersection(resources):
            problems.append(f"{where}: the catalogue and the pooled tables in one statement (their leading keys "
                            "differ: give the catalogue its own statement)")
        if catalogue:
            wider = [a for a in actions if a != "dynamodb:GetItem"]
            if wider:
                problems.append(f"{where}: on the catalogue only dynamodb:GetItem of the freeze flag is allowed "
                                f"(found {wider})")
        problems += _binding_violations(where, statement, FREEZE_KEY if catalogue else PRINCIPAL_TAG)
    return problems


def _binding_violations(where: str, statement: Mapping[str, Any], expected: str) -> list[str]:
    problems: list[str] = []
    conditions = _conditions(statement)
    bound = conditions.get(BINDING, {}).get(LEADING_KEYS)
    if as_list(bound) != [expected]:
        problems.append(f"{where}: not bound to dynamodb:LeadingKeys == [{expected!r}] with {BINDING} "
                        f"(found {bound!r})")
    for test, body in conditions.items():
        if test != BINDING and LEADING_KEYS in body and test != "Null":
            problems.append(f"{where}: condition {test} on dynamodb:LeadingKeys (only {BINDING} binds every key "
                            "of the request to the tenant)")
        if test.startswith("ForAnyValue") or test.endswith("IfExists"):
            problems.append(f"{where}: condition {test} can be satisfied without the tenant's key")
    present = conditions.get("Null", {}).get(LEADING_KEYS)
    if present is not None and [str(v).lower() for v in as_list(present)] != ["false"]:
        problems.append(f"{where}: Null dynamodb:LeadingKeys = {present!r} admits requests without a key")
    return problems


# -- (c) what the pool service role may do ----------------------------------------------------------
def service_policy_violations(policy: Mapping[str, Any], *, tenant_access_role_arn: str) -> list[str]:
    """What the pool service role may do besides assuming the tenant-access role (empty: nothing)."""
    problems: list[str] = []
    for where, statement in _allows(policy):
        problems += _not_keys(where, statement)
        actions = [str(a) for a in as_list(statement.get("Action"))]
        extra = [a for a in actions if a not in SESSION_ACTIONS]
        if extra or not actions:
            problems.append(f"{where}: actions {actions} (the pool service role may only {ASSUME} and "
                            f"{TAG_SESSION})")
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        if resources != [tenant_access_role_arn]:
            problems.append(f"{where}: resources {resources} (only the tenant-access role "
                            f"{tenant_access_role_arn!r})")
    return problems


# -- reading the two roles from a synthesised platform workspace -------------------------------------
@dataclass
class PoolRoles:
    """The two roles as AWS will see them: ARNs, the tenant-access trust, every permission policy."""

    tenant_access_arn: str
    service_arn: str
    trust: dict[str, Any] | None
    tenant_access_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    service_trust: dict[str, Any] | None = None
    """The service role's IRSA trust (judged by isolation.trust_violations for the pool's service account)."""
    oidc_provider_arn: str = ""
    """The cluster's OIDC provider, rendered (empty when the workspace has none or several)."""
    """Policies attached to either role that cannot be read (managed policy ARNs, computed JSON)."""


_DATA_JSON = re.compile(r"\$\{data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json\}")
_ROLE_REF = re.compile(r"\$\{aws_iam_role\.([A-Za-z0-9_-]+)\.(?:id|name)\}")
_POLICY_ARN = re.compile(r"\$\{aws_iam_policy\.([A-Za-z0-9_-]+)\.arn\}")


def platform_resolver(doc: Mapping[str, Any], *, region: str, account: str = ACCOUNT) -> Callable[[str], str]:
    """`placeholder_resolver` knowing the real names of the workspace's roles and tables, so that
    `${aws_iam_role.x.arn}` becomes the ARN of the role named in the resource."""
    resources = doc.get("resource") or {}
    known: dict[str, str] = {}
    for rid, body in (resources.get("aws_iam_role") or {}).items():
        if isinstance(body.get("name"), str) and not _unresolved(body["name"]):
            path = str(body.get("path") or "/").strip("/")
            known[f"${{aws_iam_role.{rid}.arn}}"] = f"arn:aws:iam::{account}:role/{path + '/' if path else ''}{body['name']}"
    for rid, body in (resources.get("aws_dynamodb_table") or {}).items():
        if isinstance(body.get("name"), str) and not _unresolved(body["name"]):
            known[f"${{aws_dynamodb_table.{rid}.arn}}"] = f"arn:aws:dynamodb:{region}:{account}:table/{body['name']}"
    return placeholder_resolver(region=region, account=account, known=known)


def _read_policy(doc: Mapping[str, Any], value: Any, resolve: Callable[[str], str]) -> dict[str, Any] | None:
    """A policy argument as IAM JSON: a rendered `aws_iam_policy_document`, or a literal JSON string."""
    if not isinstance(value, str):
        return None
    reference = _DATA_JSON.fullmatch(value.strip())
    if reference:
        body = (doc.get("data") or {}).get("aws_iam_policy_document", {}).get(reference.group(1))
        return None if body is None else render_policy_document(body, resolve)
    if value.lstrip().startswith("{"):
        try:
            return json.loads(literal(resolve(value)))
        except ValueError:
            return None
    return None


def pool_roles(doc: Mapping[str, Any], *, platform_name: str, region: str,
               account: str = ACCOUNT) -> PoolRoles | None:
    """The pool roles of a synthesised platform workspace, found by name; None when neither exists."""
    resources = doc.get("resource") or {}
    roles = resources.get("aws_iam_role") or {}
    wanted = {tenant_access_role_name(platform_name): "tenant_access", service_role_name(platform_name): "service"}
    found = {wanted[body.get("name")]: rid for rid, body in roles.items() if body.get("name") in wanted}
    if not found:
        return None
    resolve = platform_resolver(doc, region=region, account=account)
    arn = {kind: f"arn:aws:iam::{account}:role/{name}" for name, kind in wanted.items()}
    result = PoolRoles(arn["tenant_access"], arn["service"], None)
    by_kind = {"tenant_access": result.tenant_access_policies, "service": result.service_policies}

    def role_of(value: Any) -> str | None:
        reference = _ROLE_REF.fullmatch(str(value))
        rid = reference.group(1) if reference else next((r for r, b in roles.items() if b.get("name") == value), None)
        return next((kind for kind, found_id in found.items() if found_id == rid), None)

    def add(kind: str, name: str, value: Any) -> None:
        policy = _read_policy(doc, value, resolve)
        if policy is None:
            result.unreadable.append(f"{name}: policy {str(value)[:120]!r} cannot be read as IAM JSON")
        else:
            by_kind[kind][name] = policy

    for kind, rid in found.items():
        body = roles[rid]
        for index, inline in enumerate(as_list(body.get("inline_policy"))):
            if inline.get("policy"):
                add(kind, f"aws_iam_role.{rid}.inline_policy[{index}]", inline["policy"])
        for managed in as_list(body.get("managed_policy_arns")):
            result.unreadable.append(f"aws_iam_role.{rid}: managed policy {managed!r} attached")
        if kind == "tenant_access":
            result.trust = _read_policy(doc, body.get("assume_role_policy"), resolve)
        else:
            result.service_trust = _read_policy(doc, body.get("assume_role_policy"), resolve)
    providers = list(resources.get("aws_iam_openid_connect_provider") or {})
    if len(providers) == 1:
        result.oidc_provider_arn = resolve(f"${{aws_iam_openid_connect_provider.{providers[0]}.arn}}")
    for rid, body in (resources.get("aws_iam_role_policy") or {}).items():
        kind = role_of(body.get("role"))
        if kind:
            add(kind, f"aws_iam_role_policy.{rid}", body.get("policy"))
    policies = resources.get("aws_iam_policy") or {}
    attachments = [(f"aws_iam_role_policy_attachment.{rid}", [body.get("role")], body.get("policy_arn"))
                   for rid, body in (resources.get("aws_iam_role_policy_attachment") or {}).items()]
    attachments += [(f"aws_iam_policy_attachment.{rid}", as_list(body.get("roles")), body.get("policy_arn"))
                    for rid, body in (resources.get("aws_iam_policy_attachment") or {}).items()]
    for name, attached_roles, policy_arn in attachments:
        for kind in filter(None, map(role_of, attached_roles)):
            reference = _POLICY_ARN.fullmatch(str(policy_arn))
            if reference and reference.group(1) in policies:
                add(kind, f"{name} -> aws_iam_policy.{reference.group(1)}", policies[reference.group(1)].get("policy"))
            else:
                result.unreadable.append(f"{name}: policy {policy_arn!r} attached (not readable here)")
    return result


def abac_violations(roles: PoolRoles, *, pooled_table_arns: Sequence[str], catalogue_table_arn: str,
                    pool_namespace: str = POOL_NAMESPACE, pool_service_account: str = POOL_SERVICE_ACCOUNT) -> list[str]:
    """Every violation of the pool's ABAC contract by the two roles, prefixed with the role and policy;
    the service role's trust must admit only `system:serviceaccount:<pool ns>:<pool sa>` (IRSA)."""
    problems: list[str] = [f"unreadable policy: {u}" for u in roles.unreadable]
    access, service = "tenant-access role", "pool service role"
    if roles.trust is None:
        problems.append(f"{access} trust: missing or not readable as IAM JSON")
    else:
        problems += [f"{access} trust: {p}" for p in
                     tenant_access_trust_violations(roles.trust, service_role_arn=roles.service_arn)]
    if not roles.tenant_access_policies:
        problems.append(f"{access}: no permission policy found")
    for name, policy in roles.tenant_access_policies.items():
        problems += [f"{access} {name}: {p}" for p in tenant_access_policy_violations(
            policy, pooled_table_arns=pooled_table_arns, catalogue_table_arn=catalogue_table_arn)]
    if not roles.service_policies:
        problems.append(f"{service}: no permission policy found (it cannot assume the tenant-access role)")
    if roles.service_trust is None or ":oidc-provider/" not in roles.oidc_provider_arn:
        problems.append(f"{service} trust: missing, not readable as IAM JSON, or no single OIDC provider to trust")
    else:
        problems += [f"{service} trust: {p}" for p in trust_violations(
            roles.service_trust, oidc_provider_arn=roles.oidc_provider_arn,
            oidc_provider_url=roles.oidc_provider_arn.split(":oidc-provider/", 1)[1],
            namespace=pool_namespace, service_account=pool_service_account)]
    for name, policy in roles.service_policies.items():
        problems += [f"{service} {name}: {p}" for p in
                     service_policy_violations(policy, tenant_access_role_arn=roles.tenant_access_arn)]
    return problems


def platform_abac_violations(doc: Mapping[str, Any], platform: Any,
                             account: str = ACCOUNT) -> tuple[int, list[str]] | None:
    """(documents checked, violations) for a synthesised platform workspace, or None when the
    platform has no pool (no pooled tiers and neither role)."""
    region = platform.region
    roles = pool_roles(doc, platform_name=platform.name, region=region, account=account)
    pooled_tiers = tuple(getattr(platform, "pooled_tiers", ()) or ())
    if roles is None:
        if not pooled_tiers:
            return None
        return 0, [f"pooled_tiers is {[getattr(t, 'value', t) for t in pooled_tiers]} but neither "
                   f"{tenant_access_role_name(platform.name)} nor {service_role_name(platform.name)} is synthesised"]
    table = f"arn:aws:dynamodb:{region}:{account}:table/{{}}".format
    pooled = [table(platform.product_table_name), table(getattr(platform, "pooled_order_table_name", "Order"))]
    problems = abac_violations(roles, pooled_table_arns=pooled, catalogue_table_arn=table(platform.catalogue_table_name))
    checked = (int(roles.trust is not None) + int(roles.service_trust is not None) + len(roles.tenant_access_policies)
               + len(roles.service_policies))
    return checked, problems
