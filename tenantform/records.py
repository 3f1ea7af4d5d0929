"""What tenantform last did to each workspace.

A record holds the fingerprint of the root that was last applied successfully (root JSON +
module version), the module version, the outcome and when. Fleet change detection compares a
freshly rendered root with it; `invoke tenants` shows it.

Where: applied records live in the state backend, beside the workspace's state
(tenantform/remote_records.py; on tfc a tag on the workspace, tenantform/tfc_records.py), so every machine and every CI runner sees the same fleet;
`.tenantform/records/` is a cache of them plus what only this machine knows (a failed or
planned run). Losing the cache costs nothing; losing the remote records costs a plan, never state.

Records are written in one place, `Records.record` (the runners call it after each run): the
outcome of the run (tenantform/outcomes.py) decides the record's status, and the resource count
follows one rule: after a run that changed something it is counted from the backend (`terraform
state list` locally, the workspace's resource count on HCP Terraform); after a run that changed
nothing it is the last applied record's count on this machine, counted only when there is none.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from tenantform.atomic import write_atomic
from tenantform.outcomes import Outcome

if TYPE_CHECKING:
    from tenantform.platform_inputs import PlatformOutputs
    from tenantform.remote_records import S3RecordStore
    from tenantform.tfc_records import TfcRecordStore


@dataclass(frozen=True, kw_only=True)
class Record:
    workspace: str
    status: Outcome
    """applied, failed, planned, synthesised, applied-unrecorded (the enum's values, as stored)."""
    fingerprint: str = ""
    module_version: str = ""
    resources: int = 0
    at: str = ""
    log: str = ""
    message: str = ""
    platform: str = ""
    """Digest of the platform outputs the applied root read (tenantform/platform_inputs.py); "" unknown."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Outcome(self.status))  # as read back from a file: a string


RECORDED = {Outcome.APPLIED: Outcome.APPLIED, Outcome.UNCHANGED: Outcome.APPLIED, Outcome.NO_CHANGES: Outcome.APPLIED,
            Outcome.PLANNED: Outcome.PLANNED, Outcome.FAILED: Outcome.FAILED, Outcome.SYNTHESISED: Outcome.SYNTHESISED}
"""The record status each recorded outcome leaves (other outcomes write no record)."""


class Records:
    def __init__(self, work_dir: Path, *, remote: S3RecordStore | TfcRecordStore | None = None,
                 platform: PlatformOutputs | None = None,
                 root_text: Callable[[str], str | None] | None = None) -> None:
        self.dir = work_dir / "records"
        self.remote = remote
        self.platform = platform
        """The platform's outputs now (platform-aware detection); None without that information."""
        self._root_text = root_text
        """workspace -> the root just applied (to stamp an applied record with the platform digest)."""

    def platform_digest(self, root_text: str) -> str:
        return self.platform.digest_of(root_text) if self.platform is not None else ""

    def _path(self, workspace: str) -> Path:
        return self.dir / f"{workspace}.json"

    def local(self, workspace: str) -> Record | None:
        """The cached record on this machine only."""
        try:
            return Record(**json.loads(self._path(workspace).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def get(self, workspace: str) -> Record | None:
        """The record to trust: the state backend's applied record, unless this machine knows of a
        later run (failed, planned); a cached "applied" without a remote record is not trusted (the
        state went away: `invoke local.down`, another operator's offboarding)."""
        local = self.local(workspace)
        if self.remote is None or not self.remote.holds(workspace):
            return local
        entry = self.remote.get(workspace)
        if entry is None:
            return None if local is None or local.status is Outcome.APPLIED else local
        if local is not None and local.status is not Outcome.APPLIED and local.at >= entry.modified:
            return local
        if (local is not None and local.status is Outcome.APPLIED
                and (local.fingerprint, local.module_version, local.platform)
                == (entry.fingerprint, entry.module_version, entry.platform)):
            return local
        return Record(workspace=workspace, status=Outcome.APPLIED, fingerprint=entry.fingerprint,
                      module_version=entry.module_version, at=entry.modified, platform=entry.platform,
                      message=f"from the state backend ({entry.key})")

    def record(self, workspace: str, outcome: Outcome, *, version: str = "", fingerprint: str = "", log: str = "",
               message: str = "", count: Callable[[], int] | None = None) -> Record:
        """Record a run's outcome: THE place runs are recorded (the module docstring says the rule).
        `count` counts the workspace's resources in the backend; it is called only when needed."""
        if outcome not in RECORDED:
            raise ValueError(f"a run that is {outcome.value!r} leaves no record")
        resources = 0
        if RECORDED[outcome] is Outcome.APPLIED and count is not None:
            last = self.local(workspace)
            unchanged = outcome is not Outcome.APPLIED
            if unchanged and last is not None and last.status in (Outcome.APPLIED, Outcome.APPLIED_UNRECORDED):
                resources = last.resources
            else:
                resources = count()
        return self.put(Record(workspace=workspace, status=RECORDED[outcome], fingerprint=fingerprint,
                               module_version=version, resources=resources, log=log, message=message))

    def put(self, record: Record) -> Record:
        if not record.at:
            record = Record(**{**asdict(record), "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if record.status is Outcome.APPLIED and not record.platform and self._root_text is not None:
            text = self._root_text(record.workspace)
            if text:
                record = Record(**{**asdict(record), "platform": self.platform_digest(text)})
        if self.remote is not None and record.status is Outcome.APPLIED and record.fingerprint:
            try:
                self.remote.put(record)
            except Exception as exc:  # noqa: BLE001 - the apply succeeded; the next run plans it again
                record = Record(**{**asdict(record), "status": Outcome.APPLIED_UNRECORDED,
                                   "message": f"record not written to the state backend: "
                                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
        self.dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(record.workspace), json.dumps(asdict(record), indent=2))
        return record

    def remove(self, workspace: str) -> None:
        self._path(workspace).unlink(missing_ok=True)
        if self.remote is not None:
            self.remote.remove(workspace)
