"""The fleet's files under `.tenantform/fleet/` and the timestamp they carry."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tenantform.project import Project
from tenantform.roots import ROOT_FILE

FLEET_DIR = "fleet"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def fleet_dir(project: Project) -> Path:
    return project.settings.work_dir / FLEET_DIR


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=1)
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def write_root_text(directory: Path, text: str) -> bool:
    """Write a rendered root if its content changed (atomically); True when it did."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ROOT_FILE
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True
