"""Running terraform in one workspace directory: init, plan, apply, destroy, outputs.

Every command runs with `-input=false`, a lock timeout, our own CLI config (from the target's
environment) and `-json` where terraform offers it, so summaries come from terraform's own
machine-readable events rather than from scraping text. Each command's full output goes to
`<work_dir>/logs/<workspace>/<command>.log`.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from tenantform.errors import TenantformError, TerraformFailed
from tenantform.locks import FileLock
from tenantform.outcomes import Changes
from tenantform.progress import Watcher, json_events

PLAN_FILE = "tfplan"
INIT_MARKER = "tenantform-init.sha256"


@dataclass
class Result:
    command: str
    returncode: int
    seconds: float
    log: Path
    changes: Changes = field(default_factory=Changes)
    errors: list[str] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def find_terraform(binary: str = "terraform") -> str:
    path = shutil.which(binary)
    if path is None:
        raise TenantformError(f"terraform ({binary!r}) is not on the PATH; install Terraform >= 1.10")
    return path


def _summarise(events: Iterable[dict[str, Any]]) -> tuple[Changes, list[str]]:
    changes = Changes()
    errors: list[str] = []
    for event in events:
        kind = event.get("type")
        if kind == "change_summary":
            summary = event.get("changes", {})
            changes.add, changes.change, changes.remove = (
                summary.get("add", 0), summary.get("change", 0), summary.get("remove", 0))
        elif kind == "planned_change":
            change = event.get("change", {})
            changes.actions.append((change.get("action", "?"), change.get("resource", {}).get("addr", "?")))
        elif kind == "diagnostic" and event.get("diagnostic", {}).get("severity") == "error":
            diag = event["diagnostic"]
            where = diag.get("address") or (diag.get("range") or {}).get("filename", "")
            errors.append(f"{diag.get('summary', '')}{' (' + where + ')' if where else ''}: "
                          f"{diag.get('detail', '')}".strip())
    return changes, errors


def drifted_resources(stdout: str) -> list[str]:
    """Resources changed outside terraform that the plan (its `-json` output) would change back.

    `resource_drift` events alone are noisy (computed attributes that settle after an apply, such
    as a user pool's domain or a role's inline policies managed by another resource, show up after
    every apply, on AWS as on moto), so drift counts only where terraform would also act.
    """
    drift: set[str] = set()
    planned: set[str] = set()
    for event in json_events(stdout.splitlines()):
        resource = (event.get("change") or {}).get("resource") or {}
        address = resource.get("addr")
        if not address:
            continue
        if event.get("type") == "resource_drift":
            drift.add(address)
        elif event.get("type") == "planned_change" and event["change"].get("action") != "read":
            planned.add(address)
    return sorted(drift & planned)


# -- interruption and state locks -----------------------------------------------------------------
# terraform runs in its own session with its output going to files, never to a pipe: killing the
# command that started it (Ctrl-C, SIGTERM, even SIGKILL of its process group) cannot kill
# terraform half-way through an apply, which would leave resources that no state records and the
# state lock held. An interrupt is forwarded to terraform as SIGINT (it finishes the operations in
# flight, writes the state and releases the lock) and re-raised once terraform has stopped.
LOCK_ERROR = "Error acquiring the state lock"
_LOCK_FIELD = re.compile(r"^\s*(ID|Path|Operation|Who|Version|Created|Info):[ \t]*(.*)$", re.MULTILINE)


class StateLocked(TerraformFailed):
    """The workspace's state lock is held (by a run in progress, or left by one that was killed)."""

    def __init__(self, message: str, lock: "LockInfo | None") -> None:
        super().__init__(message)
        self.lock = lock


@dataclass(frozen=True)
class LockInfo:
    id: str
    path: str = ""
    operation: str = ""
    who: str = ""
    created: str = ""

    @property
    def created_epoch(self) -> float | None:
        try:  # "2026-11-27 05:40:25.123456789 +0000 UTC"
            return datetime.strptime(self.created[:26], "%Y-%m-%d %H:%M:%S.%f").replace(
                tzinfo=timezone.utc).timestamp()
        except ValueError:
            try:
                return datetime.strptime(self.created[:19], "%Y-%m-%d %H:%M:%S").replace(
                    tzinfo=timezone.utc).timestamp()
            except ValueError:
                return None


def parse_lock_info(text: str) -> LockInfo | None:
    """The `Lock Info:` block terraform prints when it cannot acquire the state lock."""
    if LOCK_ERROR not in text:
        return None
    found: dict[str, str] = {}
    for key, value in _LOCK_FIELD.findall(text.replace("\\n", "\n")):
        found.setdefault(key.lower(), value.strip().strip('",'))
    return LockInfo(id=found.get("id", ""), path=found.get("path", ""), operation=found.get("operation", ""),
                    who=found.get("who", ""), created=found.get("created", "")) if found.get("id") else \
        LockInfo(id="")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), None if it does not run (or is a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def holder_alive(record: dict[str, Any]) -> bool:
    """Whether the terraform process a holder record names still runs on this host."""
    if record.get("host") != socket.gethostname():
        return True  # not provable from here
    if record.get("boot_id") != _boot_id():
        return False  # the machine rebooted since
    return _start_ticks(int(record["pid"])) == record.get("start_ticks")


def _backend_state(directory: Path) -> tuple[str, str] | None:
    """(bucket, key) of the S3 state a terraform working directory was initialised for."""
    try:
        config = json.loads((directory / ".terraform" / "terraform.tfstate").read_text(encoding="utf-8"))
        settings = config["backend"]["config"]
        return str(settings.get("bucket")), str(settings.get("key"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def terraform_processes_in(workdir: Path) -> list[int]:
    """pids of terraform processes on this host working in `workdir`, or in any directory
    initialised for the same S3 state (bucket and key)."""
    here = str(workdir.resolve())
    state = _backend_state(workdir)
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if not (proc / "comm").read_text(encoding="ascii").strip().startswith("terraform") \
                    or _start_ticks(int(proc.name)) is None:
                continue
            cwd = os.readlink(proc / "cwd")
            if cwd == here or (state is not None and _backend_state(Path(cwd)) == state):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def raise_interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001
    """A SIGTERM handler: stop as Ctrl-C does (terraform runs and fleet runs install it)."""
    raise KeyboardInterrupt


def parse_duration(value: str) -> float:
    """`120s`, `2m`, `90` (seconds) -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not match:
        raise TenantformError(f"{value!r} is not a duration like 120s or 2m")
    return float(match.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[match.group(2)]


@contextlib.contextmanager
def exclusive(path: Path, *, timeout: float, what: str,
              on_wait: Callable[[str], None] = lambda _: None) -> Iterator[None]:
    """Hold a host-local lock file for `what` (serialises tenantform runs on one tenant); wait up
    to `timeout` seconds for another holder. The kernel drops the lock when its holder dies."""
    def busy(holder: str) -> str:
        return (f"{what} is being changed by another tenantform run ({holder}); waited {timeout:.0f} s "
                "(tenantform.lock_timeout). Try again when it has finished.")

    with FileLock(path, what=what, timeout=timeout, on_wait=on_wait, busy=busy):
        yield


# terraform init's messages when the provider registry cannot be reached (DNS, network, proxy)
_REGISTRY_UNREACHABLE = re.compile(
    r"Failed to query available provider packages|could not connect to registry|Failed to request discovery "
    r"document|Could not retrieve the list of available versions for provider", re.IGNORECASE)


class Terraform:
    """terraform in one workspace directory, logging to `log_dir`."""

    def __init__(self, workdir: Path, *, env: dict[str, str], log_dir: Path, lock_timeout: str = "120s",
                 binary: str = "terraform") -> None:
        self.workdir = workdir
        self.env = env
        self.log_dir = log_dir
        self.lock_timeout = lock_timeout
        self.binary = find_terraform(binary)
        self.released_locks: list[LockInfo] = []
        """Stale state locks this runner released (their holder was provably dead)."""

    @property
    def holders_dir(self) -> Path:
        """Records of the terraform processes running (or killed) in this workspace, one per pid."""
        return self.log_dir / "holders"

    def _spawn(self, name: str, args: list[str]) -> tuple[int, str, str, float]:
        """Run terraform detached from our process group, output to files; forward interrupts."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.holders_dir.mkdir(parents=True, exist_ok=True)
        out_path = self.log_dir / f"{name}.{os.getpid()}.out"
        err_path = self.log_dir / f"{name}.{os.getpid()}.err"
        started = time.monotonic()
        with open(out_path, "w", encoding="utf-8") as out, open(err_path, "w", encoding="utf-8") as err:
            proc = subprocess.Popen([self.binary, *args], cwd=self.workdir, env=self.env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        holder = self.holders_dir / f"{proc.pid}.json"
        holder.write_text(json.dumps({
            "pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "boot_id": _boot_id(),
            "host": socket.gethostname(), "user": getpass.getuser(), "started": time.time(),
            "command": name}), encoding="utf-8")
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, raise_interrupt)
        interrupted = False
        try:
            with Watcher(workspace=self.workdir.name, command=name, output=out_path, log=self.log_dir / f"{name}.log"):
                while True:
                    try:
                        returncode = proc.wait()
                        break
                    except KeyboardInterrupt:  # a second one makes terraform stop at once
                        interrupted = True
                        proc.send_signal(signal.SIGINT)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        if returncode >= 0:  # a record of a killed terraform stays: it proves a lock left behind stale
            holder.unlink(missing_ok=True)
        stdout = out_path.read_text(encoding="utf-8", errors="replace")
        stderr = err_path.read_text(encoding="utf-8", errors="replace")
        out_path.unlink(missing_ok=True)
        err_path.unlink(missing_ok=True)
        seconds = time.monotonic() - started
        if interrupted:
            (self.log_dir / f"{name}.log").write_text(
                f"$ terraform {' '.join(args)}\n# interrupted; exit {returncode} after {seconds:.1f} s\n"
                f"{stdout}{stderr}", encoding="utf-8")
            raise KeyboardInterrupt
        return returncode, stdout, stderr, seconds

    def _run(self, name: str, args: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> Result:
        if self._killed_here():
            # A terraform of ours was killed in this workspace: a lock it left is provably stale, so
            # try without waiting, release it, and only then run as usual (REVIEW: the re-run used to
            # wait the whole lock timeout first).
            quick = ["-lock-timeout=0s" if arg.startswith("-lock-timeout=") else arg for arg in args]
            result = self._run_once(name, quick, ok_codes=ok_codes)
            if result.returncode in ok_codes or parse_lock_info(result.stdout + result.stderr) is None:
                return result
            self._release_stale_lock(result)
            return self._run_once(name, args, ok_codes=ok_codes)
        result = self._run_once(name, args, ok_codes=ok_codes)
        if result.returncode not in ok_codes and self._release_stale_lock(result):
            result = self._run_once(name, args, ok_codes=ok_codes)
        return result

    def _killed_here(self) -> bool:
        """A process record of a terraform that no longer runs (killed: a normal exit removes its
        record), and no terraform working in this directory now."""
        for path in self.holders_dir.glob("*.json"):
            try:
                if not holder_alive(json.loads(path.read_text(encoding="utf-8"))):
                    return not terraform_processes_in(self.workdir)
            except (OSError, ValueError, KeyError):
                continue
        return False

    def _run_once(self, name: str, args: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> Result:
        log = self.log_dir / f"{name}.log"
        returncode, stdout, stderr, seconds = self._spawn(name, args)
        log.write_text(f"$ terraform {' '.join(args)}\n# exit {returncode} after {seconds:.1f} s\n"
                       f"{stdout}{stderr}", encoding="utf-8")
        if returncode in ok_codes and name in ("plan", "apply", "plan-destroy", "destroy"):
            self._forget_dead_holders()  # the lock was free: no lock of theirs is left
        changes, errors = _summarise(json_events(stdout.splitlines()))
        if returncode not in ok_codes and not errors:
            errors = [line for line in (stderr or stdout).strip().splitlines()[-15:] if line.strip()]
        return Result(command=name, returncode=returncode, seconds=seconds, log=log,
                      changes=changes, errors=errors, stdout=stdout, stderr=stderr)

    def _forget_dead_holders(self) -> None:
        for path in self.holders_dir.glob("*.json"):
            try:
                if not holder_alive(json.loads(path.read_text(encoding="utf-8"))):
                    path.unlink(missing_ok=True)
            except (OSError, ValueError, KeyError):
                continue

    def _release_stale_lock(self, result: Result) -> bool:
        """Release the state lock when its holder is provably dead; True if released.

        Provably dead: the lock was taken by this user on this host, tenantform recorded a terraform
        process for this workspace that started before the lock was taken and no longer runs (it
        was killed: a normal exit removes its record), and no terraform process on this host works
        in this directory. Anything else is left to a person (StateLocked says how).
        """
        lock = parse_lock_info(result.stdout + result.stderr)
        if lock is None or not lock.id:
            return False
        me = f"{getpass.getuser()}@{socket.gethostname()}"
        created = lock.created_epoch
        dead = []
        for path in sorted(self.holders_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not holder_alive(record) and created is not None and record.get("started", 0) <= created + 1:
                dead.append(path)
        if lock.who != me or not dead or terraform_processes_in(self.workdir):
            return False
        unlock = self._run_once("force-unlock", ["force-unlock", "-force", "-no-color", lock.id])
        if not unlock.ok:
            return False
        for path in dead:
            path.unlink(missing_ok=True)
        self.released_locks.append(lock)
        logging.getLogger("tenantform").warning(
            "released the stale state lock %s of %s (%s by %s since %s): the terraform process holding it was "
            "killed and no terraform runs in %s", lock.id, self.workdir.name, lock.operation, lock.who,
            lock.created, self.workdir)
        return True

    def _check(self, result: Result, what: str) -> Result:
        lock = parse_lock_info(result.stdout + result.stderr) if not result.ok else None
        if lock is not None:
            raise StateLocked(self._locked_message(lock, what, result), lock)
        if not result.ok:
            detail = "\n  ".join(result.errors[:10]) or "(no message)"
            raise TerraformFailed(f"terraform {what} failed in {self.workdir.name} (log: {result.log}):\n  {detail}")
        return result

    def _locked_message(self, lock: LockInfo, what: str, result: Result) -> str:
        running = terraform_processes_in(self.workdir)
        env = " ".join(f"{k}={self.env[k]}" for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                        "TF_CLI_CONFIG_FILE") if k in self.env and "AWS_ENDPOINT_URL" in self.env)
        holder = (f"terraform is still running in this workspace on this host (pid {', '.join(map(str, running))}): "
                  "let it finish, then run the command again." if running else
                  "If no terraform run is still working on it (its process was killed, or its machine "
                  f"stopped), release the lock: cd {self.workdir} && {env + ' ' if env else ''}"
                  f"terraform force-unlock {lock.id}")
        return (f"terraform {what} in {self.workdir.name}: the state is locked (lock {lock.id or '?'}, "
                f"{lock.operation or 'operation ?'} by {lock.who or '?'} since {lock.created or '?'}; waited "
                f"{self.lock_timeout}). {holder} (log: {result.log})")

    # -- commands -------------------------------------------------------------------------------
    def init_fingerprint(self) -> str:
        """Changes when init must run again: the root's terraform block and module sources."""
        digest = hashlib.sha256()
        for path in sorted(self.workdir.glob("*.tf.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            digest.update(json.dumps(doc.get("terraform", {}), sort_keys=True).encode())
            digest.update(json.dumps({k: v.get("source") for k, v in doc.get("module", {}).items()},
                                     sort_keys=True).encode())
        return digest.hexdigest()

    def init(self, *, force: bool = False) -> Result | None:
        """`terraform init`, skipped when nothing it depends on changed since the last one."""
        marker = self.workdir / ".terraform" / INIT_MARKER
        fingerprint = self.init_fingerprint()
        if not force and marker.is_file() and marker.read_text() == fingerprint:
            return None
        result = self._run("init", ["init", "-input=false", "-no-color", "-reconfigure",
                                    f"-lock-timeout={self.lock_timeout}"])
        if not result.ok and _REGISTRY_UNREACHABLE.search(result.stdout + result.stderr):
            raise TerraformFailed(
                f"terraform init in {self.workdir.name} could not reach the provider registry (log: {result.log}). "
                "Offline, point tenantform at a Terraform filesystem mirror: export "
                "TENANTFORM_PROVIDER_MIRROR=<mirror directory> (once: the project remembers it; "
                "scripts/find-provider-mirror finds one on this machine), then run the command again.")
        result = self._check(result, "init")
        marker.write_text(fingerprint)
        return result

    def plan(self, *, destroy: bool = False, refresh_only: bool = False) -> Result:
        args = ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode",
                f"-lock-timeout={self.lock_timeout}", f"-out={PLAN_FILE}"]
        if destroy:
            args.append("-destroy")
        if refresh_only:
            args.append("-refresh-only")
        result = self._run("plan-destroy" if destroy else "plan", args, ok_codes=(0, 2))
        if result.returncode not in (0, 2):
            self._check(result, "plan")
        result.returncode = 0
        return result

    def apply(self, *, destroying: bool = False) -> Result:
        args = ["apply", "-input=false", "-no-color", "-json", f"-lock-timeout={self.lock_timeout}", PLAN_FILE]
        try:
            return self._check(self._run("destroy" if destroying else "apply", args), "apply")
        finally:
            (self.workdir / PLAN_FILE).unlink(missing_ok=True)

    def outputs(self) -> dict[str, Any]:
        result = self._run("output", ["output", "-json", "-no-color"])
        self._check(result, "output")
        data = json.loads(result.stdout or "{}")
        return {name: item.get("value") for name, item in data.items()}

    def state_list(self) -> list[str]:
        result = self._run("state-list", ["state", "list", "-no-color"])
        if not result.ok:
            return []
        return [line for line in result.stdout.splitlines() if line.strip()]
