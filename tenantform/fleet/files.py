"""The fleet's files under `.tenantform/fleet/` and the timestamp they carry."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tenantform.atomic import write_atomic
from tenantform.project import Project

FLEET_DIR = "fleet"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fleet_dir(project: Project) -> Path:
    return project.settings.work_dir / FLEET_DIR


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=1)
    write_atomic(path, text + "\n")
