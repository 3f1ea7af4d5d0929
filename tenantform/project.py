"""One project on disk, as every command sees it: settings, platform, target, tenants, records,
and the synthesised artefacts (module versions, the platform stacks, tenant roots)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from tenantform import lambda_package
from tenantform.module_version import module_dir, module_version
from tenantform.names import APPS, INFRA, PLATFORM_K8S_STATE_KEY, PLATFORM_K8S_WORKSPACE, PLATFORM_STATE_KEY, PLATFORM_WORKSPACE
from tenantform.names import workspace_name
from tenantform.platform_config import PlatformConfig, load_platform_config
from tenantform.remote_records import project_records
from tenantform.roots import render_apps_root, render_infra_root, workspace_dir
from tenantform.source_graph import PLATFORM_ENTRIES, source_files
from tenantform.synthesis import AppConfig, Selection, module_stack_id, run_synth
from tenantform.targets import Settings, Target, make_target
from tenantform.tenant import Tenant, TenantRegistry
from tenantform.terraform import Terraform

SYNTH_MARKER = ".tenantform-synth.sha256"

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class Project:
    def __init__(self, settings: Settings, *, platform: PlatformConfig | None = None) -> None:
        self.settings = settings
        self.platform = platform or load_platform_config(settings.platform_config_path)
        self.target: Target = make_target(settings, self.platform)
        self.registry = TenantRegistry(settings.tenants_dir)
        self.records = project_records(self)
        self._module_interfaces: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {}

    # -- versions and synthesis -------------------------------------------------------------------
    @property
    def emulator(self) -> bool:
        return self.target.emulated

    def module_version(self) -> str:
        return module_version(self.settings.project_dir, emulator=self.emulator)

    def app_config(self) -> AppConfig:
        return AppConfig(
            platform_config_path=str(self.settings.platform_config_path),
            emulator=self.emulator,
            platform_backend=self._backend_entries(PLATFORM_STATE_KEY, PLATFORM_WORKSPACE, ("aws",)),
            platform_k8s_backend=self._backend_entries(PLATFORM_K8S_STATE_KEY, PLATFORM_K8S_WORKSPACE,
                                                       ("kubernetes", "helm")),
            aws_provider=self.target.aws_provider(),
        )

    def _backend_entries(self, key: str, workspace: str, providers: tuple[str, ...]) -> dict:
        block = self.target.terraform_block(state_key=key, workspace=workspace, providers=providers)
        return {k: v for k, v in block.items() if k in ("backend", "cloud", "required_version")}

    def modules_ready(self, version: str) -> bool:
        return all((module_dir(self.settings.out_dir, version, layer) / "cdk.tf.json").is_file()
                   for layer in (INFRA, APPS))

    def ensure_modules(self, say: Say = _quiet) -> tuple[str, float | None]:
        """The current module version, synthesised if this version never was. (version, seconds)"""
        version = self.module_version()
        if self.modules_ready(version):
            return version, None
        say(f"synthesising tenant module {version} (once per module version)")
        result = run_synth(self.settings.project_dir, self.app_config(),
                           Selection(module_layers=(INFRA, APPS)),
                           log_path=self.settings.work_dir / "logs" / "synth-modules.log")
        try:
            for layer in (INFRA, APPS):
                target = module_dir(self.settings.out_dir, version, layer)
                target.mkdir(parents=True, exist_ok=True)
                tmp = target / f"cdk.tf.json.{os.getpid()}.tmp"  # concurrent synths of one version
                shutil.copyfile(result.stack_dir(module_stack_id(layer)) / "cdk.tf.json", tmp)
                tmp.replace(target / "cdk.tf.json")
        finally:
            shutil.rmtree(result.outdir, ignore_errors=True)
        return version, result.seconds

    def platform_fingerprint(self) -> str:
        root = self.settings.project_dir.resolve()
        digest = hashlib.sha256()
        for path in source_files(root, PLATFORM_ENTRIES):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
        if self.settings.platform_config_path.is_file():
            digest.update(self.settings.platform_config_path.read_bytes())
        # The authorizer's zip is not imported by the stacks (its hash is in the platform JSON): its
        # sources and pinned dependencies enter through the package's own hash.
        digest.update(lambda_package.build(self.settings.project_dir).sha256_base64.encode())
        digest.update(json.dumps(asdict(self.app_config()), sort_keys=True).encode())
        return digest.hexdigest()

    def ensure_platform_synth(self, say: Say = _quiet, *, k8s: bool = True) -> float | None:
        """Synthesise the platform workspaces into their workspace directories if they changed."""
        fingerprint = self.platform_fingerprint()
        workspaces = [PLATFORM_WORKSPACE] + ([PLATFORM_K8S_WORKSPACE] if k8s else [])
        stale = [ws for ws in workspaces
                 if not (self.workspace_dir(ws) / SYNTH_MARKER).is_file()
                 or (self.workspace_dir(ws) / SYNTH_MARKER).read_text() != fingerprint]
        if not stale:
            return None
        say(f"synthesising {', '.join(stale)}")
        result = run_synth(self.settings.project_dir, self.app_config(),
                           Selection(platform=PLATFORM_WORKSPACE in stale,
                                     platform_k8s=PLATFORM_K8S_WORKSPACE in stale),
                           log_path=self.settings.work_dir / "logs" / "synth-platform.log")
        try:
            for ws in stale:
                target = self.workspace_dir(ws)
                target.mkdir(parents=True, exist_ok=True)
                tmp = target / f"cdk.tf.json.{os.getpid()}.tmp"
                shutil.copyfile(result.stack_dir(ws) / "cdk.tf.json", tmp)
                tmp.replace(target / "cdk.tf.json")
                if ws == PLATFORM_WORKSPACE:  # the authorizer zip the stack references by relative path
                    lambda_package.write(lambda_package.build(self.settings.project_dir),
                                         target / lambda_package.ZIP_NAME)
                (target / SYNTH_MARKER).write_text(fingerprint)
        finally:
            shutil.rmtree(result.outdir, ignore_errors=True)
        return result.seconds

    # -- tenant roots -------------------------------------------------------------------------------
    def workspace_dir(self, workspace: str) -> Path:
        return workspace_dir(self.settings.out_dir, workspace)

    def tenant_module_version(self, tenant_id: str) -> str | None:
        """The module version a tenant runs: the one its infra workspace's last run used (applied or
        failed). A tenant keeps it until a fleet rollout moves it; None for a tenant that never ran."""
        record = self.records.get(workspace_name(tenant_id, INFRA))
        return record.module_version if record is not None and record.module_version else None

    def render_root(self, tenant: Tenant, layer: str, version: str, **overrides: object) -> dict:
        common = dict(target=self.target, platform=self.platform, version=version, out_dir=self.settings.out_dir)
        if layer == INFRA:
            return self.fit_to_module(render_infra_root(tenant, **common, **overrides), version, layer)  # type: ignore[arg-type]
        # remote runs (tfc) cannot read a local kubeconfig; they reach EKS with `aws eks get-token`
        kubeconfig = self.settings.kubeconfig if self.target.runs_here else None
        return self.fit_to_module(render_apps_root(tenant, **common, kubeconfig=kubeconfig,
                                                   kube_context=self.settings.kube_context), version, layer)

    def fit_to_module(self, doc: dict, version: str, layer: str) -> dict:
        """Drop the inputs and outputs an older synthesised module version does not declare, so a
        tenant pinned to it (fleet rollouts) keeps working after the module interface grows. No-op
        for the current version, and while a version is not synthesised."""
        key = (version, layer)
        if key not in self._module_interfaces:
            try:
                module = json.loads((module_dir(self.settings.out_dir, version, layer) / "cdk.tf.json")
                                    .read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return doc
            self._module_interfaces[key] = (frozenset(module.get("variable", {})), frozenset(module.get("output", {})))
        variables, outputs = self._module_interfaces[key]
        call = doc["module"]["tenant"]
        if set(call) - {"source"} <= variables and set(doc.get("output", {})) <= outputs:
            return doc
        doc["module"]["tenant"] = {k: v for k, v in call.items() if k == "source" or k in variables}
        doc["output"] = {k: v for k, v in doc.get("output", {}).items() if k in outputs}
        return doc

    # -- terraform ------------------------------------------------------------------------------------
    def terraform(self, workspace: str) -> Terraform:
        return Terraform(self.workspace_dir(workspace), env=self.target.terraform_env(),
                         log_dir=self.settings.work_dir / "logs" / workspace,
                         lock_timeout=self.settings.lock_timeout, binary=self.settings.terraform_bin)

    @property
    def cluster_configured(self) -> bool:
        return bool(self.settings.kubeconfig) or not self.target.emulated
