"""The fleet's locks: one run per project, one `terraform init` at a time over the plugin cache."""

from __future__ import annotations

from tenantform.fleet.files import fleet_dir
from tenantform.locks import FileLock
from tenantform.project import Project


def run_lock(project: Project) -> FileLock:
    """One fleet run at a time per project (runs share records, logs and the plugin cache)."""
    return FileLock(fleet_dir(project) / "run.lock", timeout=0, what="the fleet run lock")


def init_lock(project: Project) -> FileLock:
    """Serialises `terraform init` over the shared plugin cache, across threads and processes."""
    return FileLock(project.settings.work_dir / "plugin-cache.lock", what="the plugin cache lock")
