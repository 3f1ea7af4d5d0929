"""The run state machine of the stand-in (a mixin of StandIn)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import posixpath
import re
import ssl
import tarfile
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.tfc_standin.base import *  # noqa: F403
from tests.tfc_standin.base import _id, _now


class RunMachine:
    """Runs: created from a configuration version; a run takes one step each time it is read, or,
    with `StandIn(step_seconds=...)`, one step per `step_seconds` of the stand-in's clock.

    The path follows the API documentation's run states. With `hcp_statuses=True` (or a script's
    `statuses=True`) runs also pass through statuses pytfe 1.5.0 cannot parse: `plan_queueable`
    before `plan_queued`, `post_apply_running` and `post_apply_completed` after `applying`, and
    a script's `unknown_status` (any string) after `plan_queueable`.
    """

    def _path(self, script: RunScript) -> dict[str, str]:
        """Extra transitions: status -> next status, for the statuses inserted into the path."""
        extra: dict[str, str] = {}
        if self.hcp_statuses or script.statuses:
            extra = {"pending": "plan_queueable", "plan_queueable": "plan_queued",
                     "post_apply_running": "post_apply_completed"}
        if script.unknown_status:
            extra["pending"] = "plan_queueable"
            extra["plan_queueable"] = script.unknown_status
            extra[script.unknown_status] = "plan_queued"
        return extra

    def _start_run(self, w: dict[str, Any], cv: dict[str, Any], attrs: dict[str, Any],
                   who: TokenInfo) -> dict[str, Any]:
        scripts = self.scripts.get(w["name"]) or []
        script = scripts.pop(0) if scripts else RunScript()
        destroy = bool(attrs.get("is-destroy"))
        if script.changes is not None:
            add, change, dest = script.changes
        elif destroy:
            add, change, dest = 0, 0, w["resource_count"]
        elif cv["sha"] == w["applied_sha"]:
            add, change, dest = 0, 0, 0
        elif w["resource_count"] == 0:
            add, change, dest = max(1, cv["resources"]), 0, 0
        else:
            add, change, dest = 0, 1, 0
        refresh_only = bool(attrs.get("refresh-only"))
        if refresh_only:
            add, change, dest = 0, 0, 0
        plan_only = bool(attrs.get("plan-only")) or cv["speculative"]
        rid = _id("run")
        plan = {"id": _id("plan"), "status": "pending", "add": add, "change": change,
                "destroy": dest, "log": _id("log"),
                "has-changes": bool(add or change or dest or (refresh_only and script.drift)),
                "drift": list(script.drift) if refresh_only else [],
                "replace": [] if refresh_only else list(script.replace)}
        apply = {"id": _id("apply"), "status": "pending", "add": 0, "change": 0, "destroy": 0,
                 "log": _id("log")}
        self.plans[plan["id"]] = plan
        self.applies[apply["id"]] = apply
        self.logs[plan["log"]] = ""
        self.logs[apply["log"]] = ""
        r = {"id": rid, "workspace": w["id"], "cv": cv["id"], "status": "pending",
             "message": attrs.get("message") or "Queued manually via the Terraform Enterprise API",
             "plan-only": plan_only, "is-destroy": destroy,
             "auto-apply": bool(attrs.get("auto-apply", w["attrs"].get("auto-apply", False))),
             "terraform-version": w["attrs"].get("terraform-version", TERRAFORM_VERSIONS[-1]),
             "created-at": _now(), "timestamps": {"plan-queueable-at": _now()},
             "plan": plan["id"], "apply": apply["id"], "created-by": who.user_id,
             "script": script, "has_changes": plan["has-changes"], "planned": False,
             "confirmable": False, "applied_comment": None, "sha": cv["sha"],
             "refresh-only": refresh_only, "stepped_at": self.clock(), "path": self._path(script),
             "policy_check": None}
        self.runs[rid] = r
        w["current_run"] = rid
        return r

    def _set(self, r: dict[str, Any], status: str) -> None:
        r["status"] = status
        r["timestamps"][f"{status.replace('_', '-')}-at"] = _now()
        r["confirmable"] = status in ("planned", "policy_checked") and not r["plan-only"] \
            and r["has_changes"] and not (status == "planned" and r["script"].policy)

    def _policy(self, r: dict[str, Any], status: str) -> None:
        pid = _id("polchk")
        self.policy_checks[pid] = {"id": pid, "run": r["id"], "status": status}
        r["policy_check"] = pid

    def advance_by_clock(self, r: dict[str, Any]) -> None:
        """Advance as many steps as the clock allows (one per read without a step length)."""
        if self.step_seconds is None:
            self.advance(r)
            return
        now = self.clock()
        while now - r["stepped_at"] >= self.step_seconds:
            r["stepped_at"] += self.step_seconds
            self.advance(r)

    def advance(self, r: dict[str, Any]) -> None:
        """One step of the run's life."""
        st, script = r["status"], r["script"]
        plan, apply = self.plans[r["plan"]], self.applies[r["apply"]]
        if st in r["path"]:
            self._set(r, r["path"][st])
            if r["status"] == "plan_queued":
                plan["status"] = "queued"
        elif st == "pending":
            self._set(r, "plan_queued")
            plan["status"] = "queued"
        elif st == "plan_queued":
            self._set(r, "planning")
            plan["status"] = "running"
        elif st == "planning":
            r["planned"] = True
            if script.plan_error:
                plan["status"] = "errored"
                self.logs[plan["log"]] = _log("plan", error=script.plan_error)
                self._set(r, "errored")
                return
            plan["status"] = "finished"
            self.logs[plan["log"]] = _log("plan", counts=(plan["add"], plan["change"],
                                                          plan["destroy"]))
            if script.force_cancel:  # an administrator force-cancels it
                self._set(r, "force_canceled")
            elif r["plan-only"] and script.policy == "soft_failed" and r["has_changes"]:
                self._policy(r, "soft_failed")
                self._set(r, "policy_soft_failed")
            elif r["plan-only"] or not r["has_changes"]:
                self._set(r, "planned_and_finished")
            elif script.discard:  # a person discards it before we look again
                self._set(r, "discarded")
            else:
                self._set(r, "planned")
                if r["auto-apply"] and not script.policy:
                    self._set(r, "confirmed")
        elif st == "planned" and script.policy:
            self._set(r, "policy_checking")
        elif st == "policy_checking":
            if script.policy == "passed":
                self._policy(r, "passed")
                self._set(r, "policy_checked")
            elif script.policy == "hard_failed":
                self._policy(r, "hard_failed")
                self._set(r, "errored")
            else:
                self._policy(r, "soft_failed")
                self._set(r, "policy_override")
        elif st == "confirmed":
            self._set(r, "apply_queued")
            apply["status"] = "queued"
        elif st == "apply_queued":
            self._set(r, "applying")
            apply["status"] = "running"
        elif st == "applying":
            w = self.workspaces[r["workspace"]]
            if script.apply_error:
                apply["status"] = "errored"
                self.logs[apply["log"]] = _log("apply", error=script.apply_error)
                self._set(r, "errored")
                return
            apply.update(status="finished", add=plan["add"], change=plan["change"],
                         destroy=plan["destroy"])
            self.logs[apply["log"]] = _log("apply", counts=(plan["add"], plan["change"],
                                                            plan["destroy"]))
            if r["is-destroy"]:
                w["resource_count"], w["applied_sha"], w["resources"] = 0, None, []
                w["outputs"] = {}
            else:
                w["resource_count"] += plan["add"] - plan["destroy"]
                w["applied_sha"] = r["sha"]
                w["state_version"] = _id("sv")
                w["resources"] = self._config_addresses(
                    self.uploads.get(r["cv"], b""), w["attrs"].get("working-directory") or "")
                w["outputs"] = self._config_outputs(
                    self.uploads.get(r["cv"], b""), w["attrs"].get("working-directory") or "")
            self._set(r, "post_apply_running" if "post_apply_running" in r["path"] else "applied")
        elif st == "post_apply_completed":
            self._set(r, "applied")


def _log(phase: str, *, counts: tuple[int, int, int] | None = None,
         error: str | None = None) -> str:
    lines = ["Terraform v1.11.4", "on linux_amd64", "Initializing plugins and modules...", ""]
    if error:
        lines += ["\u2577", f"\u2502 \x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1m{error}\x1b[0m",
                  "\u2502 ", "\u2502   with module.tenant.aws_dynamodb_table.orders,",
                  "\u2502   on ../../modules/tenant-infra/1.0.0/cdk.tf.json line 1:", "\u2575"]
    elif counts is not None:
        add, change, destroy = counts
        if phase == "plan":
            lines.append(f"Plan: {add} to add, {change} to change, {destroy} to destroy.")
        else:
            lines.append(f"Apply complete! Resources: {add} added, {change} changed, "
                         f"{destroy} destroyed.")
    return "\n".join(lines) + "\n"

