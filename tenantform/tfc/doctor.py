"""tfc.doctor: token, account, organization, project, permissions, variable sets (and agent pool)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pytfe.errors import AuthError, NotFound, TFEError

from tenantform.tfc.client import TfcClient, _find_variable_sets
from tenantform.tfc.settings import TfcSettings, find_token, token_env_vars


@dataclass(frozen=True, kw_only=True)
class Check:
    """One doctor finding; `detail` says what was found or what is missing and how to fix it."""

    name: str
    status: Literal["ok", "fail", "warn", "skip"]
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "warn", "skip")


def doctor(settings: TfcSettings, *, environ: Mapping[str, str] | None = None) -> list[Check]:
    """Check token, account, organization, project, permissions, variable sets (and agent pool).

    Every check says what it found or exactly what is missing; later checks are skipped
    when an earlier one they depend on failed.
    """
    checks: list[Check] = []
    names = token_env_vars(settings.hostname)
    later = ["account", "organization", "project", "permissions", "variable-sets"]
    if settings.execution_mode == "agent":
        later.append("agent-pool")

    def skip_rest(reason: str) -> list[Check]:
        done = {c.name for c in checks}
        return checks + [Check(name=n, status="skip", detail=f"skipped: {reason}")
                         for n in later if n not in done]

    found = find_token(settings.hostname, environ)
    if found is None:
        checks.append(Check(name="token", status="fail",
                            detail=f"no API token: set {names[0]} or {names[-1]} "
                                   f"(a user or team token from https://{settings.hostname}"
                                   "/app/settings/tokens)"))
        return skip_rest("no token")
    checks.append(Check(name="token", status="ok", detail=f"found in ${found[0]}"))
    client = TfcClient(settings, environ={found[0]: found[1]})
    try:
        tfe = client.tfe
        try:
            user = tfe.users.read_current()
            kind = " (team/organization token)" if user.is_service_account else ""
            checks.append(Check(name="account", status="ok",
                                detail=f"authenticated as {user.username or user.id}{kind}"))
        except AuthError as exc:
            checks.append(Check(name="account", status="fail",
                                detail=f"{settings.hostname} rejected the token from "
                                       f"${found[0]} ({exc}): it is expired, revoked or for "
                                       "another host"))
            return skip_rest("the token is not valid")
        except TFEError as exc:
            checks.append(Check(name="account", status="fail",
                                detail=f"cannot reach {settings.api_address}: {exc}"))
            return skip_rest(f"{settings.hostname} is not reachable")
        try:
            org = tfe.organizations.read(settings.organization)
        except (NotFound, AuthError):
            checks.append(Check(name="organization", status="fail",
                                detail=f"organization {settings.organization!r} does not exist on "
                                       f"{settings.hostname} or this token cannot see it"))
            return skip_rest("organization not reachable")
        checks.append(Check(name="organization", status="ok",
                            detail=f"organization {settings.organization!r} reachable"))
        org_perms = org.permissions or {}
        projects = list(tfe.projects.list(settings.organization))
        project = next((p for p in projects if p.name == settings.project), None)
        if project is None:
            known = ", ".join(sorted(p.name or "" for p in projects)[:10]) or "none visible"
            checks.append(Check(name="project", status="fail",
                                detail=f"project {settings.project!r} not found in organization "
                                       f"{settings.organization!r} (visible: {known}); create it "
                                       "or set tfc.project"))
        else:
            checks.append(Check(name="project", status="ok",
                                detail=f"project {settings.project!r} ({project.id})"))
        proj_perms = ((project.model_extra or {}).get("permissions") or {}) if project else {}
        can_create = org_perms.get("can-create-workspace") or proj_perms.get("can-create-workspace")
        if can_create:
            where = "organization" if org_perms.get("can-create-workspace") else "project"
            checks.append(Check(name="permissions", status="ok",
                                detail=f"can create and manage workspaces ({where} permission)"))
        elif not org_perms and not proj_perms:
            checks.append(Check(name="permissions", status="warn",
                                detail="the API returned no permission flags; cannot tell whether "
                                       "this token may create workspaces"))
        else:
            checks.append(Check(name="permissions", status="fail",
                                detail=f"this token cannot create workspaces in "
                                       f"{settings.organization!r}/{settings.project!r}: use a team "
                                       "token of a team with 'Manage workspaces' on the "
                                       "organization or 'Admin'/'Maintain' on the project"))
        if not settings.variable_sets:
            checks.append(Check(name="variable-sets", status="warn",
                                detail="no variable sets configured: runs get cloud credentials "
                                       "only from dynamic credentials or variables set on the "
                                       "project/workspaces by you"))
        elif org_perms and org_perms.get("can-read-varsets") is False:
            checks.append(Check(name="variable-sets", status="fail",
                                detail="this token cannot read variable sets "
                                       "(needs 'Read variable sets' or 'Manage variable sets')"))
        else:
            present = _find_variable_sets(tfe, settings)
            missing = [n for n in settings.variable_sets if n not in present]
            if missing:
                checks.append(Check(name="variable-sets", status="fail",
                                    detail=f"variable set(s) not found in {settings.organization!r}: "
                                           f"{', '.join(missing)}; create them with your cloud "
                                           "credentials or remove them from tfc.variable_sets"))
            else:
                checks.append(Check(name="variable-sets", status="ok",
                                    detail="found: " + ", ".join(settings.variable_sets)))
        if settings.execution_mode == "agent":
            try:
                tfe.agent_pools.read(settings.agent_pool_id or "")
                checks.append(Check(name="agent-pool", status="ok",
                                    detail=f"agent pool {settings.agent_pool_id} exists"))
            except (NotFound, AuthError, TFEError, ValueError) as exc:
                checks.append(Check(name="agent-pool", status="fail",
                                    detail=f"agent pool {settings.agent_pool_id!r}: {exc}"))
        return checks
    finally:
        client.close()
