"""One outcome vocabulary (tenantform/outcomes.py) and the one record path (`Records.record`).

Records written before the enum existed are plain JSON strings: they must load unchanged, and a
record written now must store the same words. The resource count follows one rule (the
tenantform/records.py docstring): counted after a run that changed something, kept from the last
applied record after a run that changed nothing, counted when there is none.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tenantform.outcomes import LayerOutcome, Outcome
from tenantform.records import Records

STORED = ["applied", "failed", "planned", "synthesised", "applied-unrecorded"]


@pytest.mark.parametrize("status", STORED)
def test_a_record_file_of_before_the_enum_loads_and_is_written_back_with_the_same_word(tmp_path: Path,
                                                                                     status: str) -> None:
    records = Records(tmp_path)
    records.dir.mkdir(parents=True)
    old = {"workspace": "tenant-acme-infra", "status": status, "fingerprint": "f", "module_version": "1.0.0",
           "resources": 7, "at": "2026-11-01T00:00:00+00:00", "log": "", "message": "", "platform": ""}
    (records.dir / "tenant-acme-infra.json").write_text(json.dumps(old), encoding="utf-8")
    loaded = records.get("tenant-acme-infra")
    assert loaded is not None and loaded.status is Outcome(status) and loaded.resources == 7
    records.put(loaded)
    assert json.loads((records.dir / "tenant-acme-infra.json").read_text(encoding="utf-8")) == old


def test_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError):
        LayerOutcome("tenant-acme-infra", "done")


def never() -> int:
    raise AssertionError("the backend must not be asked for a count here")


def test_the_resource_count_rule(tmp_path: Path) -> None:
    records = Records(tmp_path)
    ws = "tenant-acme-infra"
    # no applied record yet: a run that changed nothing counts
    assert records.record(ws, Outcome.UNCHANGED, fingerprint="a", version="1", count=lambda: 3).resources == 3
    # a run that changed something always counts
    first = records.record(ws, Outcome.APPLIED, fingerprint="a", version="1", count=lambda: 5)
    assert (first.status, first.resources) == (Outcome.APPLIED, 5)
    # nothing changed (workflow or fleet wording): the last applied count stays, the backend is not asked
    for unchanged in (Outcome.UNCHANGED, Outcome.NO_CHANGES):
        again = records.record(ws, unchanged, fingerprint="a", version="1", count=never)
        assert (again.status, again.resources) == (Outcome.APPLIED, 5)
    # plans and failures record no count and never ask for one
    assert records.record(ws, Outcome.PLANNED, fingerprint="b", version="1", count=never).resources == 0
    failed = records.record(ws, Outcome.FAILED, version="1", message="apply: boom", count=never)
    assert (failed.status, failed.resources, failed.message) == (Outcome.FAILED, 0, "apply: boom")
    # after a failure there is no applied record on this machine: the next unchanged run counts again
    assert records.record(ws, Outcome.UNCHANGED, fingerprint="a", version="1", count=lambda: 4).resources == 4
    stored = json.loads((records.dir / f"{ws}.json").read_text(encoding="utf-8"))
    assert (stored["status"], stored["resources"]) == ("applied", 4)


@pytest.mark.parametrize("outcome", [Outcome.DESTROYED, Outcome.ABSENT, Outcome.UP_TO_DATE, Outcome.SKIPPED])
def test_outcomes_that_record_nothing_are_refused_by_the_record_path(tmp_path: Path, outcome: Outcome) -> None:
    with pytest.raises(ValueError, match="leaves no record"):
        Records(tmp_path).record("tenant-acme-infra", outcome)
