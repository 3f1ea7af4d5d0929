"""Module versions: the tenant module's release plus a hash of everything its synthesis reads.

A version names one synthesised module directory, `cdktf.out/modules/<version>/<layer>/`, and
is what each tenant records as the module it runs. The hash covers every repository file the
module's synthesis imports (tenantform/source_graph.py: the interface, the pins and the rest of the
import graph, found by reading the imports), the installed binding versions, and whether
it was built for the emulator, so a change to any of them is a new version and a stale
synthesis can never be reused. Computing it reads a few files: no CDKTF import.
"""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

from tenantform.source_graph import MODULE_ENTRIES, source_files

BINDINGS = ("cdktf", "constructs", "jsii", "cdktf-cdktf-provider-aws", "cdktf-cdktf-provider-kubernetes")
_RELEASE = re.compile(r'^__version__\s*=\s*"([^"]+)"', re.MULTILINE)


def module_release(project_dir: Path) -> str:
    match = _RELEASE.search((project_dir / "modules" / "__init__.py").read_text(encoding="utf-8"))
    if not match:
        raise ValueError("modules/__init__.py has no __version__")
    return match.group(1)


def module_version(project_dir: Path, *, emulator: bool) -> str:
    digest = hashlib.sha256()
    root = project_dir.resolve()
    for path in source_files(root, MODULE_ENTRIES):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
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
