"""`invoke check` put together: synthesise everything, render what each tool reads (`prepare`),
run the tools and the isolation checkers, apply the exceptions file (`run_all`)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tenantform.checks.abac import platform_abac_violations
from tenantform.checks.findings import EXCEPTIONS_FILE, Finding, ToolReport, apply_exceptions, load_exceptions
from tenantform.checks.gateway import gateway_violations
from tenantform.checks.isolation import data_policy_violations, trust_violations
from tenantform.checks.rendering import ACCOUNT, instantiate_module, placeholder_resolver, policy_documents
from tenantform.checks.tools import (apps_manifests, checkov_requirement, checkov_venv, ensure_checkov,
                                     run_checkov, run_kubernetes, run_parliament, scannable)
from tenantform.errors import TenantformError

TOOLS = ("checkov", "parliament", "kubernetes")


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
    abac: tuple[int, list[str]] | None = None
    """(policy documents checked, violations) of the pool's ABAC roles; None: the platform has no pool."""


CHECK_STATE_BUCKET = "tenantform-state-check-only"
"""The backend bucket `invoke check` renders the aws build with when no AWS account is reachable
(CI): the checks read resources, never the backend, so the name changes no finding."""


def _renderable(project: Any, say: Callable[[str], None]) -> Any:
    """The project itself, or, on the aws target without credentials and without a configured
    bucket, a copy rendered with CHECK_STATE_BUCKET (the default name needs the account id)."""
    from dataclasses import replace

    from tenantform.project import Project

    if project.target.emulated or not project.target.runs_here or project.settings.state_bucket:
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
    abac: tuple[int, list[str]] | None = None
    for workspace in (PLATFORM_WORKSPACE, PLATFORM_K8S_WORKSPACE):
        doc = json.loads((project.workspace_dir(workspace) / "cdk.tf.json").read_text(encoding="utf-8"))
        targets[workspace] = write(f"scan/{workspace}", scannable(doc))
        if workspace == PLATFORM_WORKSPACE:  # no API method reachable without the tenant authorizer
            isolation += [f"{workspace} gateway: {p}" for p in gateway_violations(doc)]
            abac = platform_abac_violations(doc, platform)  # the pool's two roles, read independently
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
    return Prepared(targets, policies, instances, isolation, abac)


def abac_report(outcome: tuple[int, list[str]] | None, *, say: Callable[[str], None] = lambda _: None) -> ToolReport:
    """The `abac` row of `invoke check`: the pool roles' violations, or "no pool: skipped"."""
    report = ToolReport("abac")
    if outcome is None:
        report.note = "no pool: skipped (no pooled_tiers and no pool roles in the platform)"
        say(f"abac: {report.note}")
        return report
    report.checked, problems = outcome
    report.findings = [Finding("abac", "platform", "pool-roles", "-", p) for p in problems]
    report.passed = report.checked if not problems else 0
    return report


def run_all(project: Any, *, tools: Sequence[str] = TOOLS, say: Callable[[str], None] = lambda _: None,
            exceptions_path: Path | None = None) -> list[ToolReport]:
    """Everything `invoke check` runs; one report per tool (plus `isolation` and `abac`), exceptions applied."""
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
    reports.append(abac_report(prepared.abac, say=say))
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
        "tool": r.tool, "note": r.note, "checked": r.checked, "passed": r.passed, "errors": r.errors,
        "unused_exceptions": r.unused_exceptions,
        "findings": [f.__dict__ for f in r.findings]} for r in reports], indent=2), encoding="utf-8")
    return reports
