"""The one atomic file writer: a reader sees the old file or the new one, never half of either.

The content goes to a temporary file beside the target (same directory, so same file system),
which then replaces the target with `os.replace` (atomic on POSIX). The temporary name carries
the process and thread, so concurrent writers never share one; it is removed if the write fails.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, mode: int = 0o666) -> None:
    """Replace `path` with `data` (text is written as UTF-8). `mode` is the new file's permission
    bits before the umask (0o600 for files only their owner may read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """Write `data` atomically unless `path` already holds exactly it; True when it wrote."""
    try:
        current = path.read_bytes()
    except OSError:
        current = None
    if current == (data.encode("utf-8") if isinstance(data, str) else data):
        return False
    write_atomic(path, data)
    return True
