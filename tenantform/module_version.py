"""Module versions: the tenant module's release plus a hash of everything its synthesis reads.

A version names one synthesised module directory, `cdktf.out/modules/<version>/<layer>/`, and
is what each tenant records as the module it runs. The hash covers the module's sources, the
interface (module_schema.py), the provider pins and the installed binding versions, and whether
it was built for the emulator, so a change to any of them is a new version and a stale
synthesis can never be reused. Computing it reads a few files: no CDKTF import.
"""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

MODULE_SOURCES = ("modules/__init__.py", "modules/tenant_*.py", "tenantform/module_schema.py",
                  "tenantform/pins.py")
BINDINGS = ("cdktf", "constructs", "jsii", "cdktf-cdktf-provider-aws", "cdktf-cdktf-provider-kubernetes")
_RELEASE = re.compile(r'^__version__\s*=\s*"([^"]+)"', re.MULTILINE)


def module_release(project_dir: Path) -> str:
    match = _RELEASE.search((project_dir / "modules" / "__init__.py").read_text(encoding="utf-8"))
    if not match:
        raise ValueError("modules/__init__.py has no __version__")
    return match.group(1)


def module_version(project_dir: Path, *, emulator: bool) -> str:
    digest = hashlib.sha256()
    files = sorted({p for pattern in MODULE_SOURCES for p in project_dir.glob(pattern)})
    for path in files:
        digest.update(path.relative_to(project_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for name in BINDINGS:
        try:
            digest.update(f"{name}=={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}==missing\0".encode())
    digest.update(b"emulator" if emulator else b"aws")
    return f"{module_release(project_dir)}-{digest.hexdigest()[:10]}"


def module_dir(out_dir: Path, version: str, layer: str) -> Path:
    return out_dir / "modules" / version / layer
