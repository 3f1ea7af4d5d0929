"""The run ledger: what a fleet run did, per workspace, for CI (docs/fleet.md, "Run ledger").

`fleet.plan`, `fleet.apply` and `fleet.drift` write (with `--report-file PATH`) a JSON document
of schema `tenantform.fleet-report` version 1 and (with `--summary-file PATH`, or to
`$GITHUB_STEP_SUMMARY` when that is set) a Markdown summary for a CI job page. Exit codes follow
terraform's `-detailed-exitcode`: 0 nothing to do, 2 changes (plans) or drift (drift checks),
1 a workspace failed or was refused.

Stateful resources: a plan that destroys or replaces a resource of a type in STATEFUL_TYPES
(tables, user pools, buckets, ... one declared list) is flagged in the summary, and unattended
`fleet.apply` refuses to apply it (outcome `refused`) unless the run allows it with
`--allow-replace=<type or address>[,...]`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenantform.atomic import write_atomic

if TYPE_CHECKING:
    from tenantform.fleet.results import RunReport, WorkspaceResult

SCHEMA = "tenantform.fleet-report"
SCHEMA_VERSION = 1

STATEFUL_TYPES: tuple[str, ...] = (
    "aws_dynamodb_table",
    "aws_cognito_user_pool",
    "aws_s3_bucket",
    "aws_db_instance",
    "aws_rds_cluster",
    "aws_efs_file_system",
    "aws_kms_key",
    "aws_secretsmanager_secret",
    "aws_ecr_repository",
)
"""Resource types whose destruction loses data: flagged in reports, never replaced unattended."""

DESTRUCTIVE = ("replace", "delete")


def resource_type(address: str) -> str:
    """`module.tenant.aws_dynamodb_table.orders["x"]` -> `aws_dynamodb_table`."""
    parts = [p for p in address.split("[", 1)[0].split(".") if p]
    while parts[:1] == ["module"] and len(parts) > 2:
        parts = parts[2:]
    if parts[:1] == ["data"]:
        parts = parts[1:]
    return parts[0] if parts else address


def destructive(actions: Iterable[str]) -> list[str]:
    """`replace <address>` / `delete <address>` entries of a workspace's planned actions."""
    return [a for a in actions if a.split(" ", 1)[0] in DESTRUCTIVE]


def stateful(actions: Iterable[str]) -> list[str]:
    """The destructive actions that hit a stateful resource type."""
    return [a for a in destructive(actions) if resource_type(a.split(" ", 1)[1]) in STATEFUL_TYPES]


@dataclass(frozen=True)
class ReplaceGuard:
    """Which stateful replacements this run may apply (`--allow-replace=...`)."""

    allowed: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str | Sequence[str] | None) -> ReplaceGuard:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        else:
            items = [str(v).strip() for v in value or () if str(v).strip()]
        return cls(tuple(items))

    def refusal(self, actions: Iterable[str]) -> str | None:
        """Why this plan must not be applied unattended; None when it may."""
        blocked = [a for a in stateful(actions)
                   if a.split(" ", 1)[1] not in self.allowed
                   and resource_type(a.split(" ", 1)[1]) not in self.allowed]
        if not blocked:
            return None
        return ("refused: the plan would " + "; ".join(blocked[:5]) + (" ..." if len(blocked) > 5 else "")
                + " (stateful: data would be lost); review it, then allow it for one run with "
                + "--allow-replace=" + ",".join(sorted({resource_type(a.split(' ', 1)[1]) for a in blocked})))


def exit_code(report: RunReport) -> int:
    """terraform -detailed-exitcode: 1 failed or refused, 2 changes (plan) / drift, 0 otherwise."""
    from tenantform.fleet.outcome import Mode, Outcome

    if report.failed or report.count(Outcome.REFUSED):
        return 1
    if report.mode is Mode.PLAN and report.count(Outcome.CHANGES):
        return 2
    if report.mode is Mode.DRIFT and report.drifted:
        return 2
    return 0


def _error_parts(result: WorkspaceResult) -> tuple[str, str]:
    if not result.message or result.outcome.value not in ("failed", "refused"):
        return "", ""
    return result.error_class, result.message.strip().splitlines()[0][:500]


def workspace_entry(result: WorkspaceResult) -> dict[str, Any]:
    error_class, error = _error_parts(result)
    replaced = destructive(result.actions)
    return {
        "workspace": result.workspace, "tenant": result.tenant, "layer": result.layer,
        "module_version": result.version, "outcome": result.outcome.value, "reason": result.reason,
        "planned": result.planned,
        "counts": {"add": result.add, "change": result.change, "destroy": result.remove,
                   "replace": sum(1 for a in replaced if a.startswith("replace "))},
        "replaced": [a.split(" ", 1)[1] for a in replaced if a.startswith("replace ")],
        "destroyed": [a.split(" ", 1)[1] for a in replaced if a.startswith("delete ")],
        "stateful": [a.split(" ", 1)[1] for a in stateful(result.actions)],
        "drifted": list(result.drifted),
        "duration_seconds": round(result.seconds, 3),
        "error_class": error_class, "error": error, "log": result.log,
    }


def report_document(report: RunReport) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "command": f"fleet.{report.mode.value}", "selection": report.selection.as_dict(),
        "exit_code": exit_code(report), "counts": report.counts,
        "duration_seconds": round(report.seconds, 3),
        "detect_seconds": round(report.detect_seconds, 3), "parallel": report.parallel,
        "notes": list(report.notes),
        "workspaces": [workspace_entry(r) for r in report.results],
    }


def markdown(report: RunReport) -> str:
    """A CI job summary: counts, then a table of every workspace that did something."""
    from tenantform.fleet.outcome import Outcome

    counts = report.counts
    lines = [f"### tenantform fleet.{report.mode.value}: {report.selection.describe()}", "",
             f"{counts['selected']} workspaces: {counts['changed']} changed, {counts['unchanged']} unchanged, "
             f"{counts['failed']} failed, {report.count(Outcome.REFUSED)} refused, {counts['skipped']} skipped "
             f"({report.seconds:.1f} s; exit code {exit_code(report)})", ""]
    flagged = [r for r in report.results if stateful(r.actions)]
    if flagged:
        lines += ["> [!WARNING]", "> Plans that destroy or replace stateful resources:"]
        lines += [f"> - `{r.workspace}`: " + ", ".join(f"`{a}`" for a in stateful(r.actions)) for r in flagged]
        lines.append("")
    shown = [r for r in report.results if r.outcome not in (Outcome.UP_TO_DATE, Outcome.SYNTHESISED)]
    if shown:
        lines += ["| workspace | outcome | add | change | destroy | replace | seconds | detail |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for r in shown:
            entry = workspace_entry(r)
            detail = entry["error"] or ", ".join(r.drifted) or r.reason
            detail = detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{r.workspace}` | {r.outcome.value} | {r.add} | {r.change} | {r.remove} | "
                         f"{entry['counts']['replace']} | {r.seconds:.1f} | {detail} |")
    else:
        lines.append("Every selected workspace is up to date: nothing was planned.")
    return "\n".join(lines) + "\n"


def write(report: RunReport, *, report_file: str | None, summary_file: str | None,
          environ: dict[str, str] | None = None) -> list[str]:
    """Write the JSON report and the Markdown summary; returns the paths written."""
    env = os.environ if environ is None else environ
    written = []
    if report_file:
        path = Path(report_file)
        write_atomic(path, json.dumps(report_document(report), indent=1) + "\n")
        written.append(str(path))
    target = summary_file or env.get("GITHUB_STEP_SUMMARY")
    if target:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:  # GitHub appends every step's summary
            handle.write(markdown(report))
        written.append(str(path))
    return written
