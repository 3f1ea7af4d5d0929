"""The synthesis driver: which stacks to build, and a child process that builds them.

CDKTF is imported only in the child (`python main.py`), never here. The request travels as a
JSON file named by TENANTFORM_SYNTH_REQUEST; main.py turns it into `build_app(config, selection)`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tenantform.errors import TenantformError

REQUEST_ENV = "TENANTFORM_SYNTH_REQUEST"


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """What every stack needs to know about where it runs."""

    platform_config_path: str
    """platform.toml (missing: every default)."""
    emulator: bool = False
    """True on the local target: resources ignore what the AWS emulator reports wrongly."""
    platform_backend: dict[str, Any] = field(default_factory=dict)
    """`terraform` block entries for the platform workspace (backend or cloud), rendered by targets.py."""
    platform_k8s_backend: dict[str, Any] = field(default_factory=dict)
    aws_provider: dict[str, Any] = field(default_factory=dict)
    """The aws provider block of the platform workspace, rendered by targets.py."""


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which stacks one synthesis builds."""

    module_layers: tuple[str, ...] = ()
    """Tenant module layers to synthesise as module directories ("infra", "apps")."""
    platform: bool = False
    platform_k8s: bool = False
    full_tenants: tuple[dict[str, str], ...] = ()
    """Tenants synthesised as complete stand-alone stacks (tests and the naive benchmark baseline)."""


@dataclass(frozen=True)
class SynthResult:
    outdir: Path
    seconds: float

    def stack_dir(self, stack_id: str) -> Path:
        return self.outdir / "stacks" / stack_id


def module_stack_id(layer: str) -> str:
    return f"tenant-{layer}-module"


def encode_request(config: AppConfig, selection: Selection, outdir: Path) -> dict[str, Any]:
    return {"config": asdict(config), "selection": asdict(selection), "outdir": str(outdir)}


def decode_request(data: dict[str, Any]) -> tuple[AppConfig, Selection, str]:
    selection = data["selection"]
    return (
        AppConfig(**data["config"]),
        Selection(
            module_layers=tuple(selection["module_layers"]),
            platform=selection["platform"],
            platform_k8s=selection["platform_k8s"],
            full_tenants=tuple(selection["full_tenants"]),
        ),
        data["outdir"],
    )


def run_synth(project_dir: Path, config: AppConfig, selection: Selection, *, outdir: Path | None = None,
              log_path: Path | None = None) -> SynthResult:
    """Run main.py in a child process for this selection; raise with its output on failure."""
    outdir = outdir or Path(tempfile.mkdtemp(prefix="tenantform-synth-"))
    outdir.mkdir(parents=True, exist_ok=True)
    request_file = outdir / "request.json"
    request_file.write_text(json.dumps(encode_request(config, selection, outdir)), encoding="utf-8")
    env = {**os.environ, REQUEST_ENV: str(request_file),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(project_dir / "main.py")], cwd=project_dir, env=env,
                          capture_output=True, text=True)
    seconds = time.monotonic() - started
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise TenantformError(f"synthesis failed (exit {proc.returncode}):\n{tail}")
    return SynthResult(outdir=outdir, seconds=seconds)


def install_dir(source: Path, destination: Path) -> None:
    """Replace `destination` with a copy of `source` atomically enough for a single writer."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(destination.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    shutil.rmtree(destination, ignore_errors=True)
    staging.rename(destination)
