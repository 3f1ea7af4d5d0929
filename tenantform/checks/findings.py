"""Findings, tool reports and the exceptions file (`security-exceptions.toml`): every accepted
failure is listed there with its reason."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tenantform.errors import TenantformError

EXCEPTIONS_FILE = "security-exceptions.toml"


@dataclass(frozen=True)
class Exception_:
    tool: str
    check: str
    target: str
    resource: str
    reason: str
    builds: tuple[str, ...] = ()
    """The targets whose build the entry applies to (`builds = ["aws", "tfc"]`); empty: every build."""

    def matches(self, finding: "Finding") -> bool:
        return (fnmatch.fnmatchcase(finding.check, self.check)
                and fnmatch.fnmatchcase(finding.target, self.target)
                and fnmatch.fnmatchcase(finding.resource, self.resource))

    def describe(self) -> str:
        return f"{self.tool} {self.check} on {self.target} {self.resource}"


def load_exceptions(path: Path) -> list[Exception_]:
    """`security-exceptions.toml`: `[[checkov]]` and `[[parliament]]` tables, each with `check`,
    `target` (workspace or module instance, glob), `resource` (address or policy, glob), `reason`,
    and optionally `builds` (the targets whose build it applies to)."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TenantformError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"checkov", "parliament"})
    if unknown:
        raise TenantformError(f"{path}: unknown section {unknown[0]!r}; allowed: [[checkov]], [[parliament]]")
    entries = []
    for tool, items in data.items():
        for index, item in enumerate(items, start=1):
            missing = [key for key in ("check", "target", "resource", "reason") if not str(item.get(key, "")).strip()]
            extra = sorted(set(item) - {"check", "target", "resource", "reason", "builds"})
            if missing or extra:
                raise TenantformError(f"{path}: [[{tool}]] entry {index} ({item.get('check', '?')}): "
                                      + (f"missing {', '.join(missing)}" if missing else f"unknown key {extra[0]!r}")
                                      + "; every entry needs check, target, resource and a reason")
            builds = item.get("builds", [])
            if not isinstance(builds, list) or not set(builds) <= {"local", "aws", "tfc"}:
                raise TenantformError(f"{path}: [[{tool}]] entry {index} ({item['check']}): builds is {builds!r}; "
                                      "allowed: a list of local, aws, tfc")
            entries.append(Exception_(tool, item["check"], item["target"], item["resource"], item["reason"].strip(),
                                      tuple(builds)))
    return entries


# -- findings and reports --------------------------------------------------------------------------
@dataclass
class Finding:
    tool: str
    target: str
    check: str
    resource: str
    message: str
    accepted: str = ""
    """The exception's reason when an entry of the exceptions file covers it."""


@dataclass
class ToolReport:
    tool: str
    checked: int = 0
    passed: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The tool could not check something: always a failure."""
    unused_exceptions: list[str] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""
    """Said once under the table (e.g. why nothing was checked)."""

    @property
    def unexplained(self) -> list[Finding]:
        return [f for f in self.findings if not f.accepted]

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.errors


def apply_exceptions(report: ToolReport, exceptions: Sequence[Exception_]) -> ToolReport:
    mine = [e for e in exceptions if e.tool == report.tool]
    used: set[int] = set()
    for finding in report.findings:
        for index, entry in enumerate(mine):
            if entry.matches(finding):
                finding.accepted = entry.reason
                used.add(index)
                break
    report.unused_exceptions = [e.describe() for i, e in enumerate(mine) if i not in used]
    return report

