"""Runners: one per backend behind one Protocol (tenantform/runners/base.py); `runner_for` picks it.

This is the only place that asks which kind of target a project has in order to choose how
workspaces run; everything else calls the runner it returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tenantform.runners.base import Root, Runner, write_tenant_root
from tenantform.targets import TargetKind

if TYPE_CHECKING:
    from tenantform.project import Project

__all__ = ["Root", "Runner", "runner_for", "write_tenant_root"]


def runner_for(project: Project) -> Runner:
    """The runner of a project's target: HCP Terraform remote runs on tfc, local terraform elsewhere."""
    if project.target.kind is TargetKind.TFC:
        from tenantform.runners.tfc import TfcRunner  # the HCP Terraform client loads only for this target

        return TfcRunner(project)
    from tenantform.runners.local import LocalRunner

    return LocalRunner(project)
