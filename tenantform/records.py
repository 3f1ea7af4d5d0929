"""What tenantform last did to each workspace, kept beside the project in `.tenantform/records/`.

A record holds the fingerprint of the root that was last applied successfully (root JSON +
module version), the module version, the outcome and when. Fleet change detection compares a
freshly rendered root with it; `invoke tenants` shows it. Records are a cache of facts: losing
them costs a plan, never state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class Record:
    workspace: str
    status: str
    """applied, failed, planned, destroyed, synthesised."""
    fingerprint: str = ""
    module_version: str = ""
    resources: int = 0
    at: str = ""
    log: str = ""
    message: str = ""


class Records:
    def __init__(self, work_dir: Path) -> None:
        self.dir = work_dir / "records"

    def _path(self, workspace: str) -> Path:
        return self.dir / f"{workspace}.json"

    def get(self, workspace: str) -> Record | None:
        try:
            return Record(**json.loads(self._path(workspace).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, record: Record) -> Record:
        if not record.at:
            record = Record(**{**asdict(record), "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self._path(record.workspace).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
        tmp.replace(self._path(record.workspace))
        return record

    def remove(self, workspace: str) -> None:
        self._path(workspace).unlink(missing_ok=True)
