"""The one lock implementation: an exclusive `flock` on a file under `.tenantform/`.

The kernel drops a flock when its holder dies, so a crash never leaves a stale lock; the file
only says who holds it (pid, host, since) for the message the next run prints. A FileLock object
is also a mutex for the threads of this process that share it (one `init_lock` for a fleet's
workers). Used for one fleet run per project, one `terraform init` over the plugin cache at a
time (tenantform/fleet/locks.py) and one run per tenant (`terraform.exclusive`).
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tenantform.errors import TenantformError


def _held(what: str, holder: str) -> str:
    return f"{what} is held by {holder}; wait for it to finish"


class FileLock:
    """`with FileLock(path, what=...)`: hold the lock, waiting `timeout` seconds for another holder
    (None: as long as it takes; 0: not at all), then fail with `busy(holder)`. `on_wait(message)`
    is called once when the lock is taken by someone else."""

    def __init__(self, path: Path, *, what: str, timeout: float | None = None,
                 on_wait: Callable[[str], None] | None = None,
                 busy: Callable[[str], str] | None = None) -> None:
        self.path = path
        self.what = what
        self.timeout = timeout
        self.on_wait = on_wait
        self.busy = busy or (lambda holder: _held(what, holder))
        self._mutex = threading.Lock()
        self._handle: Any = None

    def __enter__(self) -> FileLock:
        self._mutex.acquire()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
            try:
                self._acquire(handle)
            except BaseException:
                handle.close()
                raise
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
            handle.flush()
            self._handle = handle
        except BaseException:
            self._mutex.release()
            raise
        return self

    def _acquire(self, handle: Any) -> None:
        if self.timeout is None:
            fcntl.flock(handle, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + self.timeout
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if not waited and self.on_wait is not None:
                    self.on_wait(f"waiting for another tenantform run on {self.what} ({holder}) to finish")
                waited = True
                if time.monotonic() >= deadline:
                    raise TenantformError(self.busy(holder)) from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        try:
            if self._handle is not None:
                self._handle.truncate(0)
                fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None
        finally:
            self._mutex.release()
