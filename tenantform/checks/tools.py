"""The external tools `invoke check` runs, each reported separately: checkov (its own virtual
environment, offline), parliament (every IAM policy document), kubernetes-validate (strict) plus
the namespace and Ingress isolation checkers.

No CDKTF import here: the manifests converter (modules/tenant_apps.py) runs in a child process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from tenantform.checks.findings import Finding, ToolReport
from tenantform.checks.isolation import ingress_route_violations, namespace_violations
from tenantform.checks.rendering import POLICY_VARIABLE
from tenantform.errors import TenantformError

CHECKOV_EXTRA = "checkov"


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
        unresolved = sorted(set(re.findall(r"\$\{[^}]*\}", POLICY_VARIABLE.sub("", text))))
        if unresolved:
            report.errors.append(f"{target} {address}: unresolved expression left in the rendered policy: "
                                 + ", ".join(unresolved)[:300])
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

