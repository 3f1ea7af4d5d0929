"""Live progress of one terraform command: elapsed time and the resource it is working on.

terraform runs with `-json` (plan, apply, destroy), writing one event per line to a file
(tenantform/terraform.py); a watcher thread reads the new lines every second and tells the
`Reporter` the command has been installed (`set_reporter`, by the command line) which resource
is in progress. Only commands run from the main thread are watched: fleet runs (worker threads)
show their own progress, one line per workspace.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Iterable, Iterator, Protocol

WATCHED = ("plan", "apply", "plan-destroy", "destroy", "refresh")
_START_EVENTS = ("apply_start", "apply_progress", "refresh_start", "provision_start")
_END_EVENTS = ("apply_complete", "apply_errored", "refresh_complete", "provision_complete", "provision_errored")


def json_events(lines: Iterable[str]) -> Iterator[dict]:
    """terraform's `-json` events: one JSON object a line; other lines and broken ones are skipped.
    The one parser of them (tenantform/terraform.py summarises and finds drift with it too)."""
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


class Reporter(Protocol):
    def started(self, workspace: str, command: str, log: Path) -> None: ...
    def tick(self, workspace: str, command: str, elapsed: float, working_on: list[str]) -> None: ...
    def finished(self, workspace: str, command: str, elapsed: float) -> None: ...


_reporter: Reporter | None = None


def set_reporter(reporter: Reporter | None) -> None:
    global _reporter
    _reporter = reporter


def _address(event: dict) -> str | None:
    hook = event.get("hook") or {}
    resource = hook.get("resource") or {}
    return resource.get("addr")


class Watcher:
    """Follows `output` (terraform's -json stdout, being written) until `stop()`."""

    def __init__(self, *, workspace: str, command: str, output: Path, log: Path, interval: float = 1.0) -> None:
        self.reporter = _reporter
        self.workspace, self.command, self.output, self.log = workspace, command, output, log
        self.interval = interval
        self.started = time.monotonic()
        self.working_on: dict[str, float] = {}
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._offset = 0
        self._partial = ""

    def __enter__(self) -> "Watcher":
        if (self.reporter is not None and self.command in WATCHED
                and threading.current_thread() is threading.main_thread()):
            self.reporter.started(self.workspace, self.command, self.log)
            self._thread = threading.Thread(target=self._run, name=f"progress-{self.workspace}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._done.set()
        self._thread.join(timeout=5)
        self.reporter.finished(self.workspace, self.command, time.monotonic() - self.started)

    def _read(self) -> None:
        try:
            with open(self.output, encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except OSError:
            return
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for event in json_events(lines):
            address = _address(event)
            if address is None:
                continue
            if event.get("type") in _START_EVENTS:
                self.working_on.setdefault(address, time.monotonic())
            elif event.get("type") in _END_EVENTS:
                self.working_on.pop(address, None)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._read()
            self.reporter.tick(self.workspace, self.command, time.monotonic() - self.started,
                               sorted(self.working_on, key=self.working_on.get))
