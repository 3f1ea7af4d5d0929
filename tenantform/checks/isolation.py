"""The tenant isolation checkers: pure functions over a silo tenant's policy JSON and Kubernetes
manifests, each returning human-readable violations (empty when the input is isolated).

`invoke check` runs them on the rendered module per tier; the tests run them on synthesised and
applied (moto) policies, and on broken inputs to prove they can fail.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from tenantform.checks.policy_json import _has_wildcard, _statements, _unresolved, as_list

# -- the tenant isolation contract -----------------------------------------------------------------
# Item-level DynamoDB actions whose requests always carry the partition key, so that
# `dynamodb:LeadingKeys` constrains them. Every other DynamoDB action on a pooled table (Scan,
# PartiQL, DescribeTable, exports, streams, ...) carries no leading key and is refused.
LEADING_KEY_ACTIONS = frozenset({
    "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
    "dynamodb:UpdateItem",
})
IRSA_ACTION = "sts:AssumeRoleWithWebIdentity"
IRSA_AUDIENCE = "sts.amazonaws.com"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def data_policy_violations(policy: Mapping[str, Any], *, tenant_id: str, order_table_arn: str,
                           pooled_table_arns: Sequence[str], catalogue_table_arn: str | None = None) -> list[str]:
    """What in a tenant role's permissions policy breaks tenant isolation (empty: nothing).

    Allowed: the tenant's own order table, and the pooled tables only through item-level actions
    whose leading key is exactly the tenant id and present; with `catalogue_table_arn`, GetItem of
    the tenant's write-freeze key `<tenant>#move` there. No wildcards, no NotAction/NotResource.
    """
    problems: list[str] = []
    pooled = set(pooled_table_arns)
    freeze = {catalogue_table_arn} if catalogue_table_arn else set()
    for index, statement in enumerate(_statements(policy)):
        where = f"statement {statement.get('Sid') or index}"
        if statement.get("Effect") != "Allow":
            continue  # a Deny only ever narrows
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in statement:
                problems.append(f"{where}: {key} allows everything it does not name")
        actions = [str(a) for a in as_list(statement.get("Action"))]
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        if not resources:
            problems.append(f"{where}: no Resource")
        for action in actions:
            if _has_wildcard(action):
                problems.append(f"{where}: wildcard action {action!r}")
            elif not action.startswith("dynamodb:"):
                problems.append(f"{where}: action {action!r} is not a DynamoDB data action")
        for resource in resources:
            if _unresolved(resource):
                problems.append(f"{where}: unresolved resource {resource!r}")
            elif _has_wildcard(resource):
                problems.append(f"{where}: wildcard resource {resource!r}")
            elif resource != order_table_arn and resource not in pooled and resource not in freeze:
                problems.append(f"{where}: resource {resource!r} is neither the tenant's order table "
                                f"{order_table_arn!r} nor a pooled table")
        if freeze.intersection(resources):  # the write-freeze flag: one key, read only
            expected_key, allowed_actions = f"{tenant_id}#move", ("dynamodb:GetItem",)
        elif pooled.intersection(resources):
            expected_key, allowed_actions = tenant_id, LEADING_KEY_ACTIONS
        else:
            continue
        for action in actions:
            if not _has_wildcard(action) and action not in allowed_actions:
                problems.append(f"{where}: {action} on a pooled table carries no leading key "
                                "(it could read or change every tenant's items)")
        conditions = statement.get("Condition") or {}
        keys = {test: {k.lower(): v for k, v in (body or {}).items()} for test, body in conditions.items()}
        leading = keys.get("ForAllValues:StringEquals", {}).get("dynamodb:leadingkeys")
        if as_list(leading) != [expected_key]:
            problems.append(f"{where}: pooled table access is not bound to dynamodb:LeadingKeys == "
                            f"[{expected_key!r}] with ForAllValues:StringEquals (found {leading!r})")
        present = keys.get("Null", {}).get("dynamodb:leadingkeys")
        if [str(v).lower() for v in as_list(present)] != ["false"]:
            problems.append(f"{where}: pooled table access does not require the leading key to be present "
                            "(Null dynamodb:LeadingKeys = false): a keyless request would pass ForAllValues")
        for test, body in keys.items():
            if test.startswith("ForAnyValue") or test.endswith("IfExists"):
                problems.append(f"{where}: condition {test} can be satisfied without the tenant's key")
    return problems


def trust_violations(policy: Mapping[str, Any], *, oidc_provider_arn: str, oidc_provider_url: str,
                     namespace: str, service_account: str) -> list[str]:
    """What in an IRSA trust policy admits anyone but `system:serviceaccount:<ns>:<sa>` (empty: nothing)."""
    problems: list[str] = []
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    sub_key, aud_key = f"{oidc_provider_url}:sub", f"{oidc_provider_url}:aud"
    allows = [s for s in _statements(policy) if s.get("Effect") == "Allow"]
    if not allows:
        problems.append("no Allow statement: the role cannot be assumed at all")
    for index, statement in enumerate(allows):
        where = f"statement {statement.get('Sid') or index}"
        for key in ("NotAction", "NotPrincipal"):
            if key in statement:
                problems.append(f"{where}: {key} admits everything it does not name")
        actions = [str(a) for a in as_list(statement.get("Action"))]
        if actions != [IRSA_ACTION]:
            problems.append(f"{where}: actions {actions} (only {IRSA_ACTION} is allowed)")
        principal = statement.get("Principal")
        if not isinstance(principal, Mapping) or set(principal) != {"Federated"} \
                or as_list(principal["Federated"]) != [oidc_provider_arn]:
            problems.append(f"{where}: principal {principal!r} is not exactly the cluster's OIDC provider "
                            f"{oidc_provider_arn!r}")
        conditions = statement.get("Condition") or {}
        equals = dict(conditions.get("StringEquals") or {})
        if as_list(equals.get(sub_key)) != [subject]:
            problems.append(f"{where}: {sub_key} must be exactly [{subject!r}] under StringEquals "
                            f"(found {equals.get(sub_key)!r})")
        if as_list(equals.get(aud_key)) != [IRSA_AUDIENCE]:
            problems.append(f"{where}: {aud_key} must be exactly [{IRSA_AUDIENCE!r}] (found {equals.get(aud_key)!r})")
        for test, body in conditions.items():
            if test != "StringEquals" and any(k in (sub_key, aud_key) for k in (body or {})):
                problems.append(f"{where}: {test} on the token's subject or audience widens the trust")
    return problems


def _object_namespace(manifest: Mapping[str, Any]) -> str | None:
    return (manifest.get("metadata") or {}).get("namespace")


def namespace_violations(manifests: Sequence[Mapping[str, Any]], *, namespace: str,
                         allowed_namespaces: Iterable[str] = ("kube-system", "ingress-nginx")) -> list[str]:
    """What a tenant's Kubernetes objects lack for isolation (empty: nothing).

    Required: every object in the tenant's namespace; a default-deny NetworkPolicy (all pods,
    Ingress and Egress, no rule); no policy peer in another namespace except the allowed
    platform namespaces, by name; ipBlocks that exclude every private range; a ResourceQuota
    capping cpu and memory requests and limits; a LimitRange defaulting every container.
    """
    problems: list[str] = []
    allowed = set(allowed_namespaces)
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for manifest in manifests:
        by_kind.setdefault(manifest.get("kind", "?"), []).append(manifest)
        name = (manifest.get("metadata") or {}).get("name")
        if manifest.get("kind") == "Namespace":
            if name != namespace:
                problems.append(f"Namespace {name!r} is not the tenant's namespace {namespace!r}")
        elif _object_namespace(manifest) != namespace:
            problems.append(f"{manifest.get('kind')} {name!r} is in namespace {_object_namespace(manifest)!r}")
    policies = by_kind.get("NetworkPolicy", [])
    default_deny = [p for p in policies
                    if p["spec"].get("podSelector") == {}
                    and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes", []))
                    and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    if not default_deny:
        problems.append("no default-deny NetworkPolicy for ingress and egress of every pod")
    import ipaddress

    for policy in policies:
        pname, spec = policy["metadata"].get("name"), policy["spec"]
        for direction, peer_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(direction, []) or []:
                peers = rule.get(peer_key)
                if not peers:
                    problems.append(f"NetworkPolicy {pname}: an {direction} rule without peers allows everyone")
                for peer in peers or []:
                    selector = peer.get("namespaceSelector")
                    if selector is not None:
                        target = (selector.get("matchLabels") or {}).get(NAMESPACE_LABEL)
                        if target not in allowed or selector.get("matchExpressions"):
                            problems.append(f"NetworkPolicy {pname}: {direction} peer namespace selector "
                                            f"{selector!r} reaches beyond {sorted(allowed)}")
                    if "ipBlock" in peer:
                        excepted = [ipaddress.ip_network(c) for c in peer["ipBlock"].get("except", [])]
                        cidr = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                        for private in map(ipaddress.ip_network, PRIVATE_RANGES):
                            if private.overlaps(cidr) and not any(private.subnet_of(e) for e in excepted):
                                problems.append(f"NetworkPolicy {pname}: ipBlock {cidr} opens {private}")
    quotas = by_kind.get("ResourceQuota", [])
    if not any(all(k in (q["spec"].get("hard") or {}) for k in QUOTA_KEYS) for q in quotas):
        problems.append(f"no ResourceQuota capping {', '.join(QUOTA_KEYS)}")
    ranges = by_kind.get("LimitRange", [])
    if not any(limit.get("type") == "Container" and {"cpu", "memory"} <= set(limit.get("default") or {})
               and {"cpu", "memory"} <= set(limit.get("defaultRequest") or {})
               for r in ranges for limit in r["spec"].get("limits", [])):
        problems.append("no LimitRange giving every container a default cpu/memory request and limit")
    return problems


def _path_elements(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def ingress_route_violations(manifests_by_tenant: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """Ingress paths that could route one tenant's traffic to another's services (empty: none).

    Each tenant's Ingress paths must be Prefix/Exact paths under `/silo/<tenant>/`, backed by a service
    of its own namespace, with no default backend; no tenant's path may be a path-element prefix
    of another tenant's path (the controller would send that tenant's requests to it).
    """
    problems: list[str] = []
    routes: list[tuple[str, str, list[str]]] = []
    for tenant, manifests in manifests_by_tenant.items():
        services = {m["metadata"]["name"] for m in manifests if m.get("kind") == "Service"}
        for ingress in (m for m in manifests if m.get("kind") == "Ingress"):
            iname, spec = ingress["metadata"].get("name"), ingress.get("spec", {})
            if "defaultBackend" in spec:
                problems.append(f"{tenant}: Ingress {iname} has a default backend (catches every path)")
            for rule in spec.get("rules", []):
                for path in (rule.get("http") or {}).get("paths", []):
                    value, kind = path.get("path", "/"), path.get("pathType")
                    backend = ((path.get("backend") or {}).get("service") or {}).get("name")
                    if kind not in ("Prefix", "Exact"):
                        problems.append(f"{tenant}: path {value!r} has pathType {kind!r} (regex/implementation "
                                        "specific matching can reach other tenants)")
                    elements = _path_elements(value)
                    if elements[:2] != ["silo", tenant]:  # the gateway forwards /<deployment>/<tenant>/...
                        problems.append(f"{tenant}: path {value!r} is not under /silo/{tenant}/")
                    if backend not in services:
                        problems.append(f"{tenant}: path {value!r} routes to {backend!r}, not a service of its own")
                    routes.append((tenant, value, elements))
    for tenant, value, elements in routes:
        for other, other_value, other_elements in routes:
            if other != tenant and other_elements[:len(elements)] == elements:
                problems.append(f"{tenant}: path {value!r} also matches {other}'s path {other_value!r}")
    return problems

