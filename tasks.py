"""invoke's collection root: the tenantform tasks, assembled from tenantform/cli/ (no logic here).

    invoke --list                         # every task, with a one-line description
    invoke onboard tenant=acme            # also: invoke onboard --tenant acme --tier premium
    invoke --help onboard                 # a task's arguments

The tasks live in tenantform/cli/ (one module per group; docs/architecture.md): they parse
arguments, call the orchestration (the rest of tenantform/) and print the result.
tenantform/cli/_program.py is the one argument mechanism and the one place errors meet the user;
`install` makes the running `invoke` program use it.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Collection

from tenantform.cli import check_tasks, fleet_tasks, local_tasks, platform_tasks, tenant_tasks, tfc_tasks
from tenantform.cli._program import install
from tenantform.targets import Settings

ns = Collection(*tenant_tasks.TASKS)
ns.add_collection(Collection.from_module(local_tasks, name="local"))
ns.add_collection(Collection.from_module(platform_tasks, name="platform"))
ns.add_collection(Collection.from_module(fleet_tasks, name="fleet"))
ns.add_collection(Collection.from_module(tfc_tasks, name="tfc"))
ns.add_task(check_tasks.check)
ns.configure({"tenantform": Settings.config_defaults()})
install(ns, project=Path(__file__).parent)  # the project is where this file is
