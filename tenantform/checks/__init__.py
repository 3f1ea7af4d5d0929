"""Security and isolation gates: what `invoke check` runs, and the checkers the tests share.

Three tools over everything tenantform synthesises, each reported separately:

- checkov (its own virtual environment, offline) on the platform workspaces, on every tenant
  root, and on the tenant module instantiated once per tier with that tier's literal inputs:
  checkov does not follow module calls and cannot evaluate a module variable, so the module is
  scanned as the tier's tenants get it (`instantiate_module`);
- parliament on every IAM policy document (tenant role policy and trust per tier, rendered to
  real JSON; every platform policy);
- kubernetes-validate (strict) on the apps layer's objects per tier, for the pinned cluster
  version, plus the tenant isolation checkers.

Every failure that is accepted is listed, with its reason, in one file: `security-exceptions.toml`.

The package, one reason to change per module:
- `isolation`: the tenant isolation checkers (`data_policy_violations`, `trust_violations`,
  `namespace_violations`, `ingress_route_violations`), pure functions over policy JSON and
  Kubernetes manifests returning human-readable violations (empty when isolated);
- `gateway`: no API Gateway method reachable without the tenant authorizer;
- `rendering`: module instances with literal inputs, policy documents as AWS sees them;
- `findings`: findings, reports, the exceptions file;
- `tools`: checkov, parliament, kubernetes-validate;
- `abac`: the pool's two roles (issue 14) read independently: tenant-access trust and policy, service role;
- `gate`: `prepare` and `run_all`, what `invoke check` calls.

Every public name stays importable from `tenantform.checks`. No CDKTF import anywhere here.
"""

from __future__ import annotations

from tenantform.checks.abac import (PoolRoles, abac_violations, platform_abac_violations, pool_roles,
                                    service_policy_violations, tenant_access_policy_violations,
                                    tenant_access_trust_violations)
from tenantform.checks.findings import (EXCEPTIONS_FILE, Exception_, Finding, ToolReport, apply_exceptions,
                                        load_exceptions)
from tenantform.checks.gate import (CHECK_STATE_BUCKET, TOOLS, Prepared, abac_report, prepare, run_all,
                                   sample_tenant_id)
from tenantform.checks.gateway import gateway_violations
from tenantform.checks.isolation import (IRSA_ACTION, IRSA_AUDIENCE, LEADING_KEY_ACTIONS, NAMESPACE_LABEL,
                                         PRIVATE_RANGES, QUOTA_KEYS, data_policy_violations,
                                         ingress_route_violations, namespace_violations, trust_violations)
from tenantform.checks.policy_json import as_list
from tenantform.checks.rendering import (ACCOUNT, instantiate_module, placeholder_resolver, policy_documents,
                                         render_policy_document)
from tenantform.checks.tools import (CHECKOV_EXTRA, apps_manifests, checkov_requirement, checkov_venv,
                                     ensure_checkov, run_checkov, run_kubernetes, run_parliament, scannable)

__all__ = [
    "ACCOUNT", "CHECKOV_EXTRA", "CHECK_STATE_BUCKET", "EXCEPTIONS_FILE", "IRSA_ACTION", "IRSA_AUDIENCE",
    "LEADING_KEY_ACTIONS", "NAMESPACE_LABEL", "PRIVATE_RANGES", "QUOTA_KEYS", "TOOLS", "Exception_", "Finding",
    "Prepared", "ToolReport", "apply_exceptions", "apps_manifests", "as_list", "checkov_requirement",
    "checkov_venv", "data_policy_violations", "ensure_checkov", "gateway_violations", "ingress_route_violations",
    "instantiate_module", "load_exceptions", "namespace_violations", "placeholder_resolver", "policy_documents",
    "prepare", "render_policy_document", "run_all", "run_checkov", "run_kubernetes", "run_parliament",
    "sample_tenant_id", "scannable", "trust_violations",
    "PoolRoles", "abac_report", "abac_violations", "platform_abac_violations", "pool_roles",
    "service_policy_violations", "tenant_access_policy_violations", "tenant_access_trust_violations",
]
