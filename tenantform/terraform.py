"""Running terraform in one workspace directory: init, plan, apply, destroy, outputs.

Every command runs with `-input=false`, a lock timeout, our own CLI config (from the target's
environment) and `-json` where terraform offers it, so summaries come from terraform's own
machine-readable events rather than from scraping text. Each command's full output goes to
`<work_dir>/logs/<workspace>/<command>.log`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantform.errors import TenantformError, TerraformFailed

PLAN_FILE = "tfplan"
INIT_MARKER = "tenantform-init.sha256"


@dataclass
class Changes:
    add: int = 0
    change: int = 0
    remove: int = 0
    actions: list[tuple[str, str]] = field(default_factory=list)
    """(action, resource address) of each planned change."""

    @property
    def any(self) -> bool:
        return bool(self.add or self.change or self.remove)

    def __str__(self) -> str:
        return f"+{self.add} ~{self.change} -{self.remove}"


@dataclass
class Result:
    command: str
    returncode: int
    seconds: float
    log: Path
    changes: Changes = field(default_factory=Changes)
    errors: list[str] = field(default_factory=list)
    stdout: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def find_terraform(binary: str = "terraform") -> str:
    path = shutil.which(binary)
    if path is None:
        raise TenantformError(f"terraform ({binary!r}) is not on the PATH; install Terraform >= 1.10")
    return path


def _events(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def _summarise(events: list[dict[str, Any]]) -> tuple[Changes, list[str]]:
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


class Terraform:
    """terraform in one workspace directory, logging to `log_dir`."""

    def __init__(self, workdir: Path, *, env: dict[str, str], log_dir: Path, lock_timeout: str = "120s",
                 binary: str = "terraform") -> None:
        self.workdir = workdir
        self.env = env
        self.log_dir = log_dir
        self.lock_timeout = lock_timeout
        self.binary = find_terraform(binary)

    def _run(self, name: str, args: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> Result:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        started = time.monotonic()
        proc = subprocess.run([self.binary, *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        log.write_text(f"$ terraform {' '.join(args)}\n# exit {proc.returncode} after {seconds:.1f} s\n"
                       f"{proc.stdout}{proc.stderr}", encoding="utf-8")
        changes, errors = _summarise(_events(proc.stdout))
        if proc.returncode not in ok_codes and not errors:
            errors = [line for line in (proc.stderr or proc.stdout).strip().splitlines()[-15:] if line.strip()]
        return Result(command=name, returncode=proc.returncode, seconds=seconds, log=log,
                      changes=changes, errors=errors, stdout=proc.stdout)

    def _check(self, result: Result, what: str) -> Result:
        if not result.ok:
            detail = "\n  ".join(result.errors[:10]) or "(no message)"
            raise TerraformFailed(f"terraform {what} failed in {self.workdir.name} (log: {result.log}):\n  {detail}")
        return result

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
        result = self._check(self._run("init", ["init", "-input=false", "-no-color", "-reconfigure",
                                                f"-lock-timeout={self.lock_timeout}"]), "init")
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

    def validate(self) -> Result:
        return self._check(self._run("validate", ["validate", "-no-color", "-json"]), "validate")
