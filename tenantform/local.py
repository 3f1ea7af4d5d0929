"""The local target's AWS: a moto server on 127.0.0.1 that outlives each command.

State (pid, port) lives in `<work_dir>/local/moto.json`; the server's log beside it. The server
holds everything in memory: stopping it (`invoke local.down`) discards every resource and state
file of the local target.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tenantform.errors import TenantformError

LOCAL_ACCESS_KEY = "test"
LOCAL_SECRET_KEY = "test"


@dataclass(frozen=True)
class MotoServer:
    pid: int
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _responds(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


class LocalAws:
    """Start, find and stop the background moto server of one project."""

    def __init__(self, work_dir: Path) -> None:
        self.dir = work_dir / "local"
        self.state_file = self.dir / "moto.json"
        self.log = self.dir / "moto.log"

    def current(self) -> MotoServer | None:
        """The running server, or None (a stale record is removed)."""
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        server = MotoServer(pid=int(data["pid"]), port=int(data["port"]), log=self.log)
        if _alive(server.pid) and _responds(server.port):
            return server
        self.state_file.unlink(missing_ok=True)
        return None

    def ensure(self, *, timeout: float = 30.0) -> tuple[MotoServer, bool]:
        """The running server, starting one if needed. Returns (server, started_now)."""
        server = self.current()
        if server is not None:
            return server, False
        self.dir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, start_new_session=True,  # survives the command that started it
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise TenantformError(f"the moto server exited with {proc.returncode}; see {self.log}")
            if _responds(port, timeout=0.5):
                self.state_file.write_text(json.dumps({"pid": proc.pid, "port": port}), encoding="utf-8")
                return MotoServer(pid=proc.pid, port=port, log=self.log), True
            time.sleep(0.2)
        proc.kill()
        raise TenantformError(f"the moto server did not answer on 127.0.0.1:{port} within {timeout:.0f} s; "
                              f"see {self.log}")

    def stop(self) -> MotoServer | None:
        server = self.current()
        if server is None:
            self.state_file.unlink(missing_ok=True)
            return None
        try:
            os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(50):
            if not _alive(server.pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(server.pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return server
