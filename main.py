"""Composition root: builds the CDKTF app from configuration and synthesises it.

Nothing happens at import time. The orchestration (tenantform/) runs this file as a child
process with a synthesis request; tests call `build_app` directly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cdktf import App

from tenantform.names import PLATFORM_K8S_WORKSPACE, PLATFORM_WORKSPACE
from tenantform.platform_config import load_platform_config
from tenantform.synthesis import REQUEST_ENV, AppConfig, Selection, decode_request, module_stack_id
from tenantform.tenant import Tenant


def build_app(config: AppConfig, selection: Selection, *, outdir: str = "cdktf.out") -> App:
    """Every stack the selection asks for, in one App (one jsii process)."""
    from modules.tenant_module import TenantModuleStack

    app = App(outdir=outdir, skip_validation=bool(selection.module_layers))
    for layer in selection.module_layers:
        TenantModuleStack(app, module_stack_id(layer), layer=layer, emulator=config.emulator)
    if selection.platform or selection.platform_k8s or selection.full_tenants:
        platform = load_platform_config(Path(config.platform_config_path))
        if selection.platform:
            from modules.platform.stack import PlatformStack

            PlatformStack(app, PLATFORM_WORKSPACE, platform=platform, config=config)
        if selection.platform_k8s:
            from modules.platform_k8s import PlatformK8sStack

            PlatformK8sStack(app, PLATFORM_K8S_WORKSPACE, platform=platform, config=config)
        if selection.full_tenants:
            from modules.tenant_stack import TenantStack

            for spec in selection.full_tenants:
                tenant = Tenant.create(**spec)
                TenantStack(app, f"tenant-{tenant.id}", tenant=tenant, platform=platform, config=config)
    return app


def main() -> None:
    request_path = os.environ.get(REQUEST_ENV)
    if request_path:
        config, selection, outdir = decode_request(json.loads(Path(request_path).read_text(encoding="utf-8")))
    else:  # `cdktf synth` or a bare `python main.py`: the tenant modules and the platform, defaults
        config = AppConfig(platform_config_path="platform.toml")
        selection = Selection(module_layers=("infra", "apps"), platform=True, platform_k8s=True)
        outdir = "cdktf.out"
    build_app(config, selection, outdir=outdir).synth()


if __name__ == "__main__":
    main()
