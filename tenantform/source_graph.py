"""The files a synthesis reads: the import graph of its entry points, restricted to this repository.

The module version and the platform fingerprint hash these files, so an edit to any file the
stacks import (directly or not) is a new version / a re-synthesis, and nothing else is. Imports
are read with `ast` (nothing is imported: the orchestration never loads CDKTF). Every `import`
statement counts, also inside functions, except in the composition root (main.py), whose
function-level imports each pick one stack: there only its top-level imports count.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("modules", "tenantform")
"""The repository's own top-level packages; every other import is a dependency (pinned apart)."""
COMPOSITION_ROOT = "main.py"
MODULE_ENTRIES = ("modules/tenant_module.py",)
"""What `TenantModuleStack` (the per-tenant module) is built from."""
PLATFORM_ENTRIES = ("modules/platform/stack.py", "modules/platform_k8s.py")
"""What `PlatformStack` and `PlatformK8sStack` are built from."""


def _module_files(root: Path, dotted: str) -> list[Path]:
    """The package `__init__.py` files and the module file that importing `dotted` executes."""
    parts = dotted.split(".")
    if parts[0] not in PACKAGES and not (len(parts) == 1 and (root / f"{parts[0]}.py").is_file()
                                         and parts[0] == Path(COMPOSITION_ROOT).stem):
        return []
    found: list[Path] = []
    for depth in range(1, len(parts) + 1):
        base = root.joinpath(*parts[:depth])
        if (base / "__init__.py").is_file():
            found.append(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            found.append(base.with_suffix(".py"))
            break
        else:
            break
    return found


def _package_of(root: Path, path: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] != "__init__" else parts[:-1]


def _imports(root: Path, path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(root, path)
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {name for name in names if name}


def source_files(project_dir: Path, entries: tuple[str, ...]) -> tuple[Path, ...]:
    """Sorted repository files reached from the composition root and `entries` (paths relative to it)."""
    root = project_dir.resolve()
    seen: set[Path] = set()
    pending: list[tuple[Path, bool]] = [(root / COMPOSITION_ROOT, True)] if (root / COMPOSITION_ROOT).is_file() else []
    pending += [(root / entry, False) for entry in entries]
    while pending:
        path, top_only = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for name in _imports(root, path, top_level_only=top_only):
            pending.extend((found, False) for found in _module_files(root, name) if found not in seen)
    return tuple(sorted(seen))
