"""terraform's progress as the command line shows it: the resource in progress, from the -json stream."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tenantform import progress


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def started(self, workspace: str, command: str, log: Path) -> None:
        self.events.append(("started", workspace, command, log))

    def tick(self, workspace: str, command: str, elapsed: float, working_on: list[str]) -> None:
        self.events.append(("tick", tuple(working_on)))

    def finished(self, workspace: str, command: str, elapsed: float) -> None:
        self.events.append(("finished", workspace))


def event(kind: str, addr: str) -> str:
    return json.dumps({"type": kind, "hook": {"resource": {"addr": addr}, "elapsed_seconds": 1}}) + "\n"


def wait_for(recorder: Recorder, working_on: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 5
    while ("tick", working_on) not in recorder.events:
        assert time.monotonic() < deadline, recorder.events
        time.sleep(0.02)


def test_the_resource_in_progress_is_reported_until_it_completes(tmp_path: Path) -> None:
    recorder = Recorder()
    progress.set_reporter(recorder)
    out = tmp_path / "apply.out"
    out.write_text("", encoding="utf-8")
    try:
        with progress.Watcher(workspace="platform", command="apply", output=out, log=tmp_path / "apply.log",
                              interval=0.02):
            assert recorder.events[0] == ("started", "platform", "apply", tmp_path / "apply.log")
            with open(out, "a", encoding="utf-8") as handle:
                handle.write(event("apply_start", "aws_lb.ingress"))
                handle.write('{"type": "apply_progress", "hook": {"resource": {"addr": "aws_vpc.ma')  # half a line
                handle.flush()
                wait_for(recorder, ("aws_lb.ingress",))
                handle.write('in"}}}\n' + event("apply_complete", "aws_lb.ingress"))
                handle.flush()
                wait_for(recorder, ("aws_vpc.main",))
        assert recorder.events[-1] == ("finished", "platform")
    finally:
        progress.set_reporter(None)


def test_nothing_is_watched_without_a_reporter_or_for_quick_commands(tmp_path: Path) -> None:
    recorder = Recorder()
    progress.set_reporter(recorder)
    try:
        with progress.Watcher(workspace="w", command="init", output=tmp_path / "x", log=tmp_path / "l"):
            pass
    finally:
        progress.set_reporter(None)
    with progress.Watcher(workspace="w", command="apply", output=tmp_path / "x", log=tmp_path / "l"):
        pass
    assert recorder.events == []
