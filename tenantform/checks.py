"""Security and isolation gates: what `invoke check` runs, and the checkers the tests share.

Three tools over everything tenantform synthesises, each reported separately:

- checkov (its own virtual environment, offline) on the platform workspaces, on every tenant
  root, and on the tenant module instantiated once per tier with that tier's literal inputs:
  checkov does not follow module calls and cannot evaluate a module variable, so the module is
  scanned as the tier's tenants get it (`instantiate_module`);
- parliament on every IAM policy document (tenant role policy and trust per tier, rendered to
  real JSON; every platform policy);
- kubernetes-validate (strict) on the apps layer's objects per tier, for the pinned cluster
  version, plus the tenant isolation checkers below.

Every failure that is accepted is listed, with its reason, in one file: `security-exceptions.toml`.

The isolation checkers (`data_policy_violations`, `trust_violations`, `namespace_violations`,
`ingress_route_violations`) are pure functions over policy JSON and Kubernetes manifests; they
return a list of human-readable violations, empty when the input is isolated. The tests run them
on synthesised and on applied (moto) policies, and on broken inputs to prove they can fail.

No CDKTF import here: the manifests converter (modules/tenant_apps.py) runs in a child process.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from tenantform.errors import TenantformError
from tenantform.names import EXAMPLE_ACCOUNT_ID
from tenantform.gateway_check import gateway_violations

EXCEPTIONS_FILE = "security-exceptions.toml"
CHECKOV_EXTRA = "checkov"
TOOLS = ("checkov", "parliament", "kubernetes")
ACCOUNT = EXAMPLE_ACCOUNT_ID  # placeholder account of rendered ARNs

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


# -- rendering: module instances and policy documents ----------------------------------------------
_VAR_ONLY = re.compile(r"^\$\{var\.([A-Za-z0-9_]+)\}$")
_VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_]+)\}")


def _substitute(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, str):
        whole = _VAR_ONLY.fullmatch(value)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return _VAR_REF.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), value)
    return value


def instantiate_module(module: Mapping[str, Any], values: Mapping[str, Any], *, comment: str = "") -> dict[str, Any]:
    """The module with every `${var.X}` replaced by the literal input: what one tenant gets.

    Each variable also gets its value as `default`, so the result is a stand-alone root that
    checkov (which evaluates no module variables) and the manifests converter can read.
    """
    missing = sorted(set(module.get("variable", {})) - set(values))
    if missing:
        raise ValueError(f"no value for module variables {missing}")
    doc = {key: _substitute(body, values) for key, body in module.items() if key not in ("variable", "//")}
    doc = {"//": comment or "tenant module instantiated with literal inputs", **doc}
    doc["variable"] = {name: {**spec, "default": values[name]} for name, spec in module.get("variable", {}).items()}
    return doc


_ATTRIBUTE_REF = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.(arn|name|id)\}")


def placeholder_resolver(*, region: str, account: str = ACCOUNT,
                         known: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """Replace Terraform expressions in policy strings by plausible literals, so the policy can be
    analysed as AWS will see it: `known` first (exact expressions), then ARNs by resource type."""
    known = dict(known or {})
    oidc = f"oidc.eks.{region}.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    arns = {
        "aws_dynamodb_table": f"arn:aws:dynamodb:{region}:{account}:table/{{name}}",
        "aws_s3_bucket": "arn:aws:s3:::{name}",
        "aws_kms_key": f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "aws_cloudwatch_log_group": f"arn:aws:logs:{region}:{account}:log-group:{{name}}",
        "aws_iam_openid_connect_provider": f"arn:aws:iam::{account}:oidc-provider/{oidc}",
        "aws_cloudfront_distribution": f"arn:aws:cloudfront::{account}:distribution/EDFDVBD6EXAMPLE",
        "aws_iam_role": f"arn:aws:iam::{account}:role/{{name}}",
        "aws_eks_cluster": f"arn:aws:eks:{region}:{account}:cluster/{{name}}",
        "aws_ecr_repository": f"arn:aws:ecr:{region}:{account}:repository/{{name}}",
        "aws_sqs_queue": f"arn:aws:sqs:{region}:{account}:{{name}}",
        "aws_autoscaling_group": f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:"
                                 "1a2b3c4d-1234-5678-9abc-1234567890ab:autoScalingGroupName/{name}",
    }

    def expression(match: re.Match[str]) -> str:
        text = match.group(0)
        if text in known:
            return known[text]
        if "oidc" in text and "issuer" in text:
            return oidc
        if ".partition}" in text:
            return "aws"
        if "aws_caller_identity" in text:
            return account
        if "aws_region" in text:
            return region
        ref = _ATTRIBUTE_REF.fullmatch(text)
        if ref and ref.group(1) in arns and ref.group(3) == "arn":
            return arns[ref.group(1)].format(name=ref.group(2).lower().replace("_", "-"))
        return text  # left for the analysis to report as unresolved

    def resolve(value: str) -> str:
        return re.sub(r"\$\{(?:[^{}]|\{[^{}]*\})*\}", expression, value)

    return resolve


def render_policy_document(body: Mapping[str, Any], resolve: Callable[[str], str] = lambda s: s) -> dict[str, Any]:
    """An `aws_iam_policy_document` data source (as synthesised) rendered as the IAM JSON AWS sees."""
    for unsupported in ("source_policy_documents", "override_policy_documents", "source_json", "override_json"):
        if body.get(unsupported):
            raise ValueError(f"{unsupported} is not supported by the policy renderer")

    def strings(values: Any) -> Any:
        # like the aws provider: a single value is written as a string, not a one-element list
        rendered = [resolve(str(v)) for v in as_list(values)]
        return rendered[0] if len(rendered) == 1 else rendered

    statements = []
    for raw in as_list(body.get("statement")):
        statement: dict[str, Any] = {}
        if raw.get("sid"):
            statement["Sid"] = raw["sid"]
        statement["Effect"] = raw.get("effect", "Allow")
        for key, name in (("actions", "Action"), ("not_actions", "NotAction"),
                          ("resources", "Resource"), ("not_resources", "NotResource")):
            if raw.get(key):
                statement[name] = strings(raw[key])
        for key, name in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
            if raw.get(key):
                principal: dict[str, list[str]] = {}
                for block in as_list(raw[key]):
                    principal.setdefault(block["type"], []).extend(as_list(strings(block["identifiers"])))
                statement[name] = "*" if principal == {"*": ["*"]} else \
                    {kind: ids[0] if len(ids) == 1 else ids for kind, ids in principal.items()}
        if raw.get("condition"):
            condition: dict[str, dict[str, list[str]]] = {}
            for block in as_list(raw["condition"]):
                condition.setdefault(block["test"], {}).setdefault(resolve(block["variable"]), []).extend(
                    as_list(strings(block["values"])))
            statement["Condition"] = {test: {key: values[0] if len(values) == 1 else values
                                             for key, values in body.items()}
                                      for test, body in condition.items()}
        statements.append(statement)
    return {"Version": body.get("version", "2012-10-17"), "Statement": statements}


def policy_documents(doc: Mapping[str, Any], resolve: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """Every IAM policy of a synthesised workspace: `data.aws_iam_policy_document.<name>` rendered,
    and every literal JSON policy argument of a resource (`<type>.<name>.<argument>`)."""
    found: dict[str, dict[str, Any]] = {}
    for name, body in (doc.get("data", {}).get("aws_iam_policy_document") or {}).items():
        found[f"data.aws_iam_policy_document.{name}"] = render_policy_document(body, resolve)
    for rtype, items in (doc.get("resource") or {}).items():
        if rtype.startswith("aws_ecr_"):
            continue  # ECR lifecycle/registry policies are not IAM policy documents
        for name, body in items.items():
            for key, value in body.items():
                if key in ("policy", "assume_role_policy", "inline_policy") and isinstance(value, str) \
                        and value.lstrip().startswith("{"):
                    found[f"{rtype}.{name}.{key}"] = json.loads(resolve(value))
    return found


# -- the exceptions file ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Exception_:
    tool: str
    check: str
    target: str
    resource: str
    reason: str
    builds: tuple[str, ...] = ()
    """The targets whose build the entry applies to (`builds = ["aws", "tfc"]`); empty: every build."""

    def matches(self, finding: "Finding") -> bool:
        return (fnmatch.fnmatchcase(finding.check, self.check)
                and fnmatch.fnmatchcase(finding.target, self.target)
                and fnmatch.fnmatchcase(finding.resource, self.resource))

    def describe(self) -> str:
        return f"{self.tool} {self.check} on {self.target} {self.resource}"


def load_exceptions(path: Path) -> list[Exception_]:
    """`security-exceptions.toml`: `[[checkov]]` and `[[parliament]]` tables, each with `check`,
    `target` (workspace or module instance, glob), `resource` (address or policy, glob), `reason`,
    and optionally `builds` (the targets whose build it applies to)."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TenantformError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"checkov", "parliament"})
    if unknown:
        raise TenantformError(f"{path}: unknown section {unknown[0]!r}; allowed: [[checkov]], [[parliament]]")
    entries = []
    for tool, items in data.items():
        for index, item in enumerate(items, start=1):
            missing = [key for key in ("check", "target", "resource", "reason") if not str(item.get(key, "")).strip()]
            extra = sorted(set(item) - {"check", "target", "resource", "reason", "builds"})
            if missing or extra:
                raise TenantformError(f"{path}: [[{tool}]] entry {index} ({item.get('check', '?')}): "
                                      + (f"missing {', '.join(missing)}" if missing else f"unknown key {extra[0]!r}")
                                      + "; every entry needs check, target, resource and a reason")
            builds = item.get("builds", [])
            if not isinstance(builds, list) or not set(builds) <= {"local", "aws", "tfc"}:
                raise TenantformError(f"{path}: [[{tool}]] entry {index} ({item['check']}): builds is {builds!r}; "
                                      "allowed: a list of local, aws, tfc")
            entries.append(Exception_(tool, item["check"], item["target"], item["resource"], item["reason"].strip(),
                                      tuple(builds)))
    return entries


# -- findings and reports --------------------------------------------------------------------------
@dataclass
class Finding:
    tool: str
    target: str
    check: str
    resource: str
    message: str
    accepted: str = ""
    """The exception's reason when an entry of the exceptions file covers it."""


@dataclass
class ToolReport:
    tool: str
    checked: int = 0
    passed: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The tool could not check something: always a failure."""
    unused_exceptions: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if not f.accepted]

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.errors


def apply_exceptions(report: ToolReport, exceptions: Sequence[Exception_]) -> ToolReport:
    mine = [e for e in exceptions if e.tool == report.tool]
    used: set[int] = set()
    for finding in report.findings:
        for index, entry in enumerate(mine):
            if entry.matches(finding):
                finding.accepted = entry.reason
                used.add(index)
                break
    report.unused_exceptions = [e.describe() for i, e in enumerate(mine) if i not in used]
    return report


# -- checkov -------------------------------------------------------------------------------------------
def checkov_requirement(pyproject: Path) -> str:
    """The checkov pin, from pyproject.toml's `[project.optional-dependencies] checkov` (the one place)."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    pins = data.get("project", {}).get("optional-dependencies", {}).get(CHECKOV_EXTRA, [])
    pins = [p for p in pins if p.replace(" ", "").lower().startswith("checkov==")]
    if len(pins) != 1:
        raise TenantformError(f"{pyproject}: [project.optional-dependencies] {CHECKOV_EXTRA} must pin "
                              "exactly one checkov==<version>")
    return pins[0].replace(" ", "")


def checkov_venv(work_dir: Path) -> Path:
    return work_dir / "checkov-venv"


def ensure_checkov(venv: Path, requirement: str, *, python: str = sys.executable,
                   say: Callable[[str], None] = lambda _: None) -> Path:
    """The checkov executable of a virtual environment holding exactly `requirement`, built if needed.

    checkov pins packaging/boto3 versions that conflict with the test tools and moto, so it never
    shares the project's environment. A marker file records the requirement the venv was built for.
    """
    marker = venv / "tenantform-requirement.txt"
    executable = venv / "bin" / "checkov"
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == requirement and executable.is_file():
        return executable
    say(f"building {venv} with {requirement} (once; about a minute)")
    shutil.rmtree(venv, ignore_errors=True)
    for command in ([python, "-m", "venv", str(venv)],
                    [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                     "--disable-pip-version-check", requirement]):
        proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise TenantformError(f"could not build the checkov environment ({' '.join(command[:4])} ...):\n{tail}")
    marker.write_text(requirement + "\n", encoding="utf-8")
    return executable


def scannable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A copy checkov 3.3's terraform_json parser reads: it raises on a string directly under
    `terraform` (`required_version`), which would make it skip the whole file as a parsing error."""
    copy = dict(doc)
    if isinstance(copy.get("terraform"), dict):
        copy["terraform"] = {k: v for k, v in copy["terraform"].items() if isinstance(v, dict)}
    return copy


def _address(doc: Mapping[str, Any], resource: str) -> str:
    """checkov names a finding `resource.<name>`, `data.<name>` or `<type>.<name>`: make it the
    Terraform address (`<type>.<name>`, `data.<type>.<name>`)."""
    kind, _, name = resource.partition(".")
    for block, prefix in (("resource", ""), ("data", "data.")):
        for rtype, items in (doc.get(block) or {}).items():
            if name in items and kind in (block, rtype):
                return f"{prefix}{rtype}.{name}"
    return resource


def run_checkov(executable: Path, targets: Mapping[str, Path]) -> ToolReport:
    """Run checkov once over every target file (`name -> cdk.tf.json`); a parse error is an error."""
    report = ToolReport("checkov")
    started = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))}
    env["PYTHONDONTWRITEBYTECODE"] = env.get("PYTHONDONTWRITEBYTECODE", "1")
    files = [str(path) for path in targets.values()]
    proc = subprocess.run([str(executable), "--framework", "terraform_json", "--skip-download", "--quiet",
                           "--compact", "--output", "json", "--file", *files],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env)
    report.seconds = time.monotonic() - started
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else []
    except ValueError:
        report.errors.append(f"checkov printed no JSON (exit {proc.returncode}): "
                             + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:]))
        return report
    by_path = {str(path.resolve()): name for name, path in targets.items()}
    docs = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in targets.items()}
    for part in data if isinstance(data, list) else [data]:
        summary = part.get("summary", {})
        report.passed += int(summary.get("passed", 0))
        if summary.get("parsing_errors"):
            report.errors.append(f"checkov could not parse {summary['parsing_errors']} file(s): "
                                 + ", ".join(part.get("results", {}).get("parsing_errors", [])))
        for failed in part.get("results", {}).get("failed_checks", []):
            target = by_path.get(str(Path(failed.get("file_abs_path", "")).resolve()), failed.get("file_path", "?"))
            resource = _address(docs.get(target, {}), failed.get("resource", "?"))
            report.findings.append(Finding("checkov", target, failed["check_id"], resource, failed.get("check_name", "")))
    report.checked = report.passed + len(report.findings)
    if report.checked == 0 and not report.errors:
        report.errors.append(f"checkov checked nothing (exit {proc.returncode}): "
                             + " | ".join(proc.stderr.strip().splitlines()[-5:]))
    return report


# -- parliament --------------------------------------------------------------------------------------
def run_parliament(policies: Mapping[tuple[str, str], Mapping[str, Any]]) -> ToolReport:
    """parliament on every policy (`(target, policy address) -> IAM JSON`); unresolved expressions are errors."""
    try:
        from parliament import analyze_policy_string
    except ImportError:  # pragma: no cover - a dependency of the package
        report = ToolReport("parliament")
        report.errors.append("parliament is not installed: reinstall tenantform (`pip install -e .`), "
                             "which depends on it")
        return report
    report = ToolReport("parliament")
    started = time.monotonic()
    for (target, address), policy in policies.items():
        text = json.dumps(policy, indent=1)
        report.checked += 1
        if "${" in text:
            report.errors.append(f"{target} {address}: unresolved expression left in the rendered policy: "
                                 + ", ".join(sorted(set(re.findall(r"\$\{[^}]*\}", text))))[:300])
        try:
            analysed = analyze_policy_string(text, include_community_auditors=True)
        except Exception as exc:  # noqa: BLE001 - parliament raises its parser's errors on odd input
            report.errors.append(f"{target} {address}: parliament could not analyse it ({type(exc).__name__}: {exc})")
            continue
        if not analysed.findings:
            report.passed += 1
        for finding in analysed.findings:
            detail = finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail, default=str)
            report.findings.append(Finding("parliament", target, finding.issue, address,
                                           f"{finding.title or finding.issue}: {detail}"[:300]))
    report.seconds = time.monotonic() - started
    return report


# -- kubernetes ---------------------------------------------------------------------------------------
_MANIFESTS_CHILD = (
    "import json, sys\n"
    "from modules.tenant_apps import kubernetes_manifests\n"
    "print(json.dumps({p: kubernetes_manifests(json.load(open(p, encoding='utf-8'))) for p in sys.argv[1:]}))\n"
)


def apps_manifests(project_dir: Path, files: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    """Kubernetes manifests of instantiated apps modules, by modules/tenant_apps.kubernetes_manifests
    in a child process (it needs the kubernetes bindings, which this module never imports)."""
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    proc = subprocess.run([sys.executable, "-c", _MANIFESTS_CHILD, *map(str, files)], cwd=project_dir, env=env,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise TenantformError(f"converting the apps layer to Kubernetes manifests failed:\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_kubernetes(manifests_by_target: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]],
                   kubernetes_version: str) -> ToolReport:
    """Strict schema validation of every object for the pinned cluster version, and the namespace
    and Ingress isolation checkers. `target -> (tenant id, manifests)`."""
    report = ToolReport("kubernetes")
    started = time.monotonic()
    try:
        import kubernetes_validate
    except ImportError:  # pragma: no cover
        report.errors.append("kubernetes-validate is not installed: reinstall tenantform (`pip install -e .`), "
                             "which depends on it")
        return report
    for target, (tenant_id, manifests) in manifests_by_target.items():
        if not manifests:
            report.errors.append(f"{target}: no Kubernetes objects to validate")
        for manifest in manifests:
            report.checked += 1
            address = f"{manifest.get('kind')}/{(manifest.get('metadata') or {}).get('name')}"
            try:
                kubernetes_validate.validate(dict(manifest), kubernetes_version, strict=True)
                report.passed += 1
            except kubernetes_validate.ValidationError as exc:
                report.findings.append(Finding("kubernetes", target, "schema", address,
                                               f"{exc.message} at {'.'.join(map(str, exc.path))}"))
            except kubernetes_validate.SchemaNotFoundError as exc:
                report.errors.append(f"{target} {address}: no schema for Kubernetes {kubernetes_version} ({exc})")
        for problem in namespace_violations(manifests, namespace=tenant_id):
            report.findings.append(Finding("kubernetes", target, "isolation", tenant_id, problem))
    for problem in ingress_route_violations({t: m for t, m in manifests_by_target.values()}):
        report.findings.append(Finding("kubernetes", "all tiers", "ingress-routing", "-", problem))
    report.seconds = time.monotonic() - started
    return report


# -- putting it together: `invoke check` ---------------------------------------------------------------
def sample_tenant_id(tier: Any) -> str:
    """The tenant id a tier's module instance is rendered for (one per tier, all different)."""
    return f"sample-{tier.value}"


@dataclass
class Prepared:
    """What `prepare` wrote under `<work_dir>/check/`: scan targets and rendered inputs per tool."""

    checkov_targets: dict[str, Path]
    policies: dict[tuple[str, str], dict[str, Any]]
    tier_instances: dict[str, dict[str, Path]]
    """layer -> tier -> instantiated module file."""
    isolation: list[str] = field(default_factory=list)
    """Violations of the tenant isolation contract in the rendered policies."""


CHECK_STATE_BUCKET = "tenantform-state-check-only"
"""The backend bucket `invoke check` renders the aws build with when no AWS account is reachable
(CI): the checks read resources, never the backend, so the name changes no finding."""


def _renderable(project: Any, say: Callable[[str], None]) -> Any:
    """The project itself, or, on the aws target without credentials and without a configured
    bucket, a copy rendered with CHECK_STATE_BUCKET (the default name needs the account id)."""
    from dataclasses import replace

    from tenantform.project import Project
    from tenantform.targets import TargetKind

    if project.settings.target is not TargetKind.AWS or project.settings.state_bucket:
        return project
    try:
        project.target.state_bucket
        return project
    except TenantformError as exc:
        say(f"{exc}: rendering the aws build with state bucket {CHECK_STATE_BUCKET!r} (no check reads it)")
        return Project(replace(project.settings, state_bucket=CHECK_STATE_BUCKET), platform=project.platform)


def prepare(project: Any, *, say: Callable[[str], None] = lambda _: None) -> Prepared:
    """Synthesise everything (module, platform workspaces, every tenant root), instantiate the
    module once per tier, and write the checkov scan copies. Writes only under cdktf.out/ and
    `<work_dir>/check/`."""
    from tenantform import workflows
    from tenantform.module_schema import apps_inputs, infra_inputs
    from tenantform.module_version import module_dir
    from tenantform.names import APPS, INFRA, PLATFORM_K8S_WORKSPACE, PLATFORM_WORKSPACE, tenant_names
    from tenantform.roots import ROOT_FILE
    from tenantform.tenant import Tenant
    from tenantform.tiers import Tier

    project = _renderable(project, say)
    result = workflows.synth_all(project, say=say)
    version = result["module_version"]
    platform = project.platform
    out = project.settings.work_dir / "check"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    resolve = placeholder_resolver(region=platform.region)

    def write(name: str, doc: Mapping[str, Any]) -> Path:
        path = out / name / "cdk.tf.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return path

    targets: dict[str, Path] = {}
    policies: dict[tuple[str, str], dict[str, Any]] = {}
    isolation: list[str] = []
    for workspace in (PLATFORM_WORKSPACE, PLATFORM_K8S_WORKSPACE):
        doc = json.loads((project.workspace_dir(workspace) / "cdk.tf.json").read_text(encoding="utf-8"))
        targets[workspace] = write(f"scan/{workspace}", scannable(doc))
        if workspace == PLATFORM_WORKSPACE:  # no API method reachable without the tenant authorizer
            isolation += [f"{workspace} gateway: {p}" for p in gateway_violations(doc)]
        for address, policy in policy_documents(doc, resolve).items():
            policies[(workspace, address)] = policy

    modules = {layer: json.loads((module_dir(project.settings.out_dir, version, layer) / "cdk.tf.json")
                                 .read_text(encoding="utf-8")) for layer in (INFRA, APPS)}
    instances: dict[str, dict[str, Path]] = {INFRA: {}, APPS: {}}
    registry = f"{ACCOUNT}.dkr.ecr.{platform.region}.amazonaws.com/{platform.name}"
    for tier in Tier:
        tenant = Tenant.create(id=sample_tenant_id(tier), company_name=f"Sample {tier.value} tenant",
                               admin_email=f"admin@{sample_tenant_id(tier)}.example.com", tier=tier.value)
        names = tenant_names(tenant.id, platform_name=platform.name)
        infra_values = infra_inputs(tenant, platform, platform_refs=False)
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/{names.irsa_role}"
        apps_values = apps_inputs(tenant, platform, irsa_role_arn=role_arn, image_registry=registry)
        for layer, values in ((INFRA, infra_values), (APPS, apps_values)):
            name = f"module-{layer}-{tier.value}"
            doc = instantiate_module(modules[layer], values,
                                     comment=f"tenant module {version}, {layer} layer, as a {tier.value} tenant gets it")
            instances[layer][tier.value] = targets[name] = write(f"scan/{name}", doc)
        infra_doc = json.loads(instances[INFRA][tier.value].read_text(encoding="utf-8"))
        order_arn = f"arn:aws:dynamodb:{platform.region}:{ACCOUNT}:table/{names.order_table}"
        tenant_resolve = placeholder_resolver(region=platform.region, known={
            "${aws_dynamodb_table.order_table.arn}": order_arn, "${aws_dynamodb_table.order_table[0].arn}": order_arn})
        rendered = policy_documents(infra_doc, tenant_resolve)
        target = f"module-{INFRA}-{tier.value}"
        for address, policy in rendered.items():
            policies[(target, address)] = policy
        data = rendered.get("data.aws_iam_policy_document.data_access")
        trust = rendered.get("data.aws_iam_policy_document.irsa_trust")
        if data is None or trust is None:
            isolation.append(f"{target}: the tenant role's policy documents (data_access, irsa_trust) are missing")
            continue
        isolation += [f"{target} data_access: {p}" for p in data_policy_violations(
            data, tenant_id=tenant.id, order_table_arn=order_arn,
            pooled_table_arns=[infra_values["product_table_arn"]], catalogue_table_arn=infra_values["catalogue_table_arn"])]
        isolation += [f"{target} irsa_trust: {p}" for p in trust_violations(
            trust, oidc_provider_arn=infra_values["oidc_provider_arn"],
            oidc_provider_url=infra_values["oidc_provider_url"], namespace=names.namespace,
            service_account=names.service_account)]
    # Every synthesised module version as it is (variables unresolved): the current one and any
    # older version a tenant is still pinned to (fleet rollouts).
    for version_dir in sorted(p for p in (project.settings.out_dir / "modules").glob("*") if p.is_dir()):
        for layer in (INFRA, APPS):
            module_file = version_dir / layer / "cdk.tf.json"
            if module_file.is_file():
                name = f"module-{layer}-version-{version_dir.name}"
                targets[name] = write(f"scan/{name}", scannable(json.loads(module_file.read_text(encoding="utf-8"))))
    for tenant in project.registry.all():
        for layer in (INFRA, APPS):
            workspace = tenant_names(tenant.id, platform_name=platform.name).workspace(layer)
            doc = json.loads((project.workspace_dir(workspace) / ROOT_FILE).read_text(encoding="utf-8"))
            targets[workspace] = write(f"scan/{workspace}", scannable(doc))
    (out / "policies").mkdir()
    for (target, address), policy in policies.items():
        (out / "policies" / f"{target}--{address}.json").write_text(json.dumps(policy, indent=2), encoding="utf-8")
    return Prepared(targets, policies, instances, isolation)


def run_all(project: Any, *, tools: Sequence[str] = TOOLS, say: Callable[[str], None] = lambda _: None,
            exceptions_path: Path | None = None) -> list[ToolReport]:
    """Everything `invoke check` runs; one report per tool (plus `isolation`), exceptions applied."""
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise TenantformError(f"unknown check {unknown[0]!r}; known: {', '.join(TOOLS)}")
    build = project.settings.target.value
    exceptions = [e for e in load_exceptions(exceptions_path or project.settings.project_dir / EXCEPTIONS_FILE)
                  if not e.builds or build in e.builds]
    prepared = prepare(project, say=say)
    reports: list[ToolReport] = []
    isolation = ToolReport("isolation", checked=2 * len(prepared.tier_instances["infra"]))
    isolation.findings = [Finding("isolation", "tenant module", "policy", "-", p) for p in prepared.isolation]
    isolation.passed = isolation.checked if not isolation.findings else 0
    reports.append(isolation)
    if "checkov" in tools:
        requirement = checkov_requirement(project.settings.project_dir / "pyproject.toml")
        executable = ensure_checkov(checkov_venv(project.settings.work_dir), requirement, say=say)
        say(f"checkov ({requirement}) on {len(prepared.checkov_targets)} files")
        reports.append(apply_exceptions(run_checkov(executable, prepared.checkov_targets), exceptions))
    if "parliament" in tools:
        say(f"parliament on {len(prepared.policies)} policy documents")
        reports.append(apply_exceptions(run_parliament(prepared.policies), exceptions))
    if "kubernetes" in tools:
        files = prepared.tier_instances["apps"]
        say(f"kubernetes-validate (strict, Kubernetes {project.platform.kubernetes_version}) on {len(files)} tiers")
        converted = apps_manifests(project.settings.project_dir, list(files.values()))
        from tenantform.tiers import Tier

        by_target = {f"module-apps-{tier}": (sample_tenant_id(Tier(tier)), converted[str(path)])
                     for tier, path in files.items()}
        reports.append(apply_exceptions(run_kubernetes(by_target, project.platform.kubernetes_version), exceptions))
    report_file = project.settings.work_dir / "check" / "report.json"
    report_file.write_text(json.dumps([{
        "tool": r.tool, "checked": r.checked, "passed": r.passed, "errors": r.errors,
        "unused_exceptions": r.unused_exceptions,
        "findings": [f.__dict__ for f in r.findings]} for r in reports], indent=2), encoding="utf-8")
    return reports
