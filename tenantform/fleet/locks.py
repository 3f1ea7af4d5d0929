"""The fleet's locks: one run per project, one `terraform init` at a time over the plugin cache."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Any

from tenantform.errors import TenantformError
from tenantform.fleet.files import fleet_dir, now as _now
from tenantform.project import Project


class FileLock:
    """An exclusive `flock` on a file, shared by the threads of this process through one mutex."""

    def __init__(self, path: Path, *, blocking: bool = True, what: str = "") -> None:
        self.path = path
        self.blocking = blocking
        self.what = what
        self._mutex = threading.Lock()
        self._handle: Any = None

    def __enter__(self) -> "FileLock":
        self._mutex.acquire()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise TenantformError(f"{self.what or self.path} is held by {holder}; wait for it to finish") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {_now()}")
            handle.flush()
            self._handle = handle
        except BaseException:
            self._mutex.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._handle is not None:
                self._handle.truncate(0)
                fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None
        finally:
            self._mutex.release()


def run_lock(project: Project) -> FileLock:
    """One fleet run at a time per project (runs share records, logs and the plugin cache)."""
    return FileLock(fleet_dir(project) / "run.lock", blocking=False, what="the fleet run lock")


def init_lock(project: Project) -> FileLock:
    """Serialises `terraform init` over the shared plugin cache, across threads and processes."""
    return FileLock(project.settings.work_dir / "plugin-cache.lock", what="the plugin cache lock")
