"""No stale synthesis: every file the stacks import versions the module / fingerprints the platform.

A copy of the project is edited one file at a time (a comment appended): each file of the import
graph changes the module version (tenant module) or the platform fingerprint, and a file outside
both graphs changes neither. Nothing is synthesised: the version is computed from the sources.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantform.module_version import module_version
from tenantform.project import Project
from tenantform.source_graph import MODULE_ENTRIES, PLATFORM_ENTRIES, source_files
from tenantform.targets import Settings
from tests.conftest import REPO, copy_project


def rel(paths: tuple[Path, ...], root: Path) -> set[str]:
    return {p.relative_to(root.resolve()).as_posix() for p in paths}


def test_the_graphs_hold_what_the_stacks_import() -> None:
    module = rel(source_files(REPO, MODULE_ENTRIES), REPO)
    platform = rel(source_files(REPO, PLATFORM_ENTRIES), REPO)
    # the files the hand-written lists missed (issue 9), and the obvious ones
    assert {"modules/tenant_module.py", "modules/tenant_infra.py", "modules/tenant_apps.py", "tenantform/names.py",
            "tenantform/module_schema.py", "tenantform/pins.py", "modules/__init__.py", "main.py"} <= module
    assert {"modules/platform/stack.py", "modules/platform/network.py", "modules/platform_k8s.py",
            "modules/target_blocks.py", "tenantform/names.py", "tenantform/module_schema.py",
            "tenantform/contract.py", "main.py"} <= platform
    # and not what synthesis never reads: the orchestration, the tasks, the other graph's stacks
    for outside in ("tenantform/fleet/run.py", "tenantform/workflows.py", "tenantform/terraform.py", "tasks.py",
                    "modules/tenant_stack.py"):
        assert outside not in module | platform
    assert not {p for p in module if p.startswith("modules/platform")}
    assert "modules/tenant_module.py" not in platform


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("graph") / "project")


def fingerprints(project_dir: Path) -> tuple[str, str]:
    project = Project(Settings(project_dir=project_dir))
    return module_version(project_dir, emulator=True), project.platform_fingerprint()


def test_editing_any_file_of_a_graph_changes_its_version(copy: Path) -> None:
    module_files = rel(source_files(copy, MODULE_ENTRIES), copy)
    platform_files = rel(source_files(copy, PLATFORM_ENTRIES), copy)
    stale = []
    for name in sorted(module_files | platform_files | {"tenantform/fleet/run.py", "tasks.py"}):
        path = copy / name
        before = fingerprints(copy)
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited by test_source_graph\n")
        try:
            after = fingerprints(copy)
        finally:
            path.write_bytes(original)
        expected = (name in module_files, name in platform_files)
        changed = (before[0] != after[0], before[1] != after[1])
        if changed != expected:
            stale.append(f"{name}: module/platform changed {changed}, expected {expected}")
    assert not stale, "\n".join(stale)


def test_a_new_import_joins_the_graph(copy: Path) -> None:
    extra = copy / "tenantform" / "extra_for_test.py"
    extra.write_text("VALUE = 1\n", encoding="utf-8")
    infra = copy / "modules" / "tenant_infra.py"
    original = infra.read_text(encoding="utf-8")
    try:
        assert "tenantform/extra_for_test.py" not in rel(source_files(copy, MODULE_ENTRIES), copy)
        infra.write_text(original + "\nfrom tenantform.extra_for_test import VALUE  # noqa\n", encoding="utf-8")
        assert "tenantform/extra_for_test.py" in rel(source_files(copy, MODULE_ENTRIES), copy)
        before = module_version(copy, emulator=True)
        extra.write_text("VALUE = 2\n", encoding="utf-8")
        assert module_version(copy, emulator=True) != before
    finally:
        infra.write_text(original, encoding="utf-8")
        extra.unlink()
