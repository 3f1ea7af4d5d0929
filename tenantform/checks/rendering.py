"""Rendering what the checkers read: a tenant module instantiated with one tenant's literal
inputs, and every IAM policy of a synthesised workspace as the JSON AWS will see."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

from tenantform.checks.policy_json import as_list
from tenantform.names import EXAMPLE_ACCOUNT_ID

ACCOUNT = EXAMPLE_ACCOUNT_ID  # placeholder account of rendered ARNs

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


def literal(value: str) -> str:
    """A Terraform string's escapes undone: `$${` and `%%{` are how a literal `${` / `%{` is
    written (an IAM policy variable such as `${aws:PrincipalTag/tenant_id}`)."""
    return value.replace("$${", "${").replace("%%{", "%{")


POLICY_VARIABLE = re.compile(r"\$\{(?:aws:[A-Za-z0-9_./:-]+|[*?$])\}")
"""An IAM policy variable (`${aws:PrincipalTag/tenant_id}`, `${aws:username}`, `${*}`): IAM resolves it
per request, so it is no unresolved Terraform expression."""


def render_policy_document(body: Mapping[str, Any], resolve: Callable[[str], str] = lambda s: s) -> dict[str, Any]:
    """An `aws_iam_policy_document` data source (as synthesised) rendered as the IAM JSON AWS sees."""
    for unsupported in ("source_policy_documents", "override_policy_documents", "source_json", "override_json"):
        if body.get(unsupported):
            raise ValueError(f"{unsupported} is not supported by the policy renderer")

    def strings(values: Any) -> Any:
        # like the aws provider: a single value is written as a string, not a one-element list
        rendered = [literal(resolve(str(v))) for v in as_list(values)]
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
                condition.setdefault(block["test"], {}).setdefault(literal(resolve(block["variable"])), []).extend(
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
                    found[f"{rtype}.{name}.{key}"] = json.loads(literal(resolve(value)))
    return found

