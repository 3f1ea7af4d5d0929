"""Fleet operations: plan, apply, drift checks and module rollouts over many tenant workspaces.

A run goes in two phases:

1. Detection, in this process, without terraform: select tenants (all, `tenants=a,b`, `tier=`,
   `layer=`), render each selected workspace's root (about a millisecond) and compare its
   fingerprint (root JSON + module version) with the workspace's record. A workspace whose record
   says it was applied with exactly this root is up to date and is not planned.
2. Execution of what changed (or of everything, for drift checks and `--force`): a bounded thread
   pool runs one terraform process chain per tenant (infra, then apps), with `terraform init`
   serialised over the shared plugin cache (the cache is not safe for concurrent init:
   hashicorp/terraform#31964), each command under `-lock-timeout` and logged to
   `.tenantform/logs/<workspace>/<command>.log`. One workspace's failure is recorded and the others
   go on. The run's results are kept in `.tenantform/fleet/last-run.json` (for `--retry-failed`).
   On the tfc target each workspace is one remote run instead (`tenantform/runners/tfc.py`: no local
   terraform, no init lock; the run URL is the log); detection, records, failure isolation and the
   summary are the same; `fleet.drift` starts refresh-only runs, which are never applied.

Module versions: a tenant runs the module version its infra record names (the version its last
run used) and keeps rendering with it until a rollout moves it; a tenant that never ran gets the
current version. A rollout (`.tenantform/fleet/rollout.json`) moves the selected tenants to one
version in waves: a canary wave, then waves of a fixed size, one wave per invocation by default,
never past a wave with failures.

The package, one reason to change per module: selection (which tenants), detection (what changed),
outcome (the vocabulary), results (what a run did, last-run.json), runner (the thread pool of
terraform chains), run (a fleet run), status, rollout, and the small shared parts (files, locks,
events). This module re-exports the names callers use, so `from tenantform.fleet import X` works.

No CDKTF import here: the only synthesis is `Project.ensure_modules()`, a child process, and only
when a workspace that must run needs the current module version and it was never synthesised.
"""

from tenantform.fleet.detection import Versions, Work, change_reason, detect, root_text_and_fingerprint
from tenantform.terraform import drifted_resources
from tenantform.fleet.files import FLEET_DIR, fleet_dir
from tenantform.fleet.locks import init_lock, run_lock
from tenantform.fleet.outcome import CHANGED, UNCHANGED, Mode, Outcome
from tenantform.fleet.results import (LAST_RUN_FILE, Listener, RunReport, WorkspaceResult, last_run_path,
                                      load_last_run)
from tenantform.fleet.rollout import (ROLLOUT_FILE, TIER_ORDER, OnFailure, Rollout, RolloutReport, abort_rollout,
                                      advance_rollout, load_rollout, plan_waves, rollout_path, save_rollout,
                                      start_rollout)
from tenantform.fleet.run import default_parallel, retry_selection, run_fleet
from tenantform.fleet.runner import Runner
from tenantform.fleet.selection import ALLOWED_LAYERS, Selection, parse_selection, select_tenants
from tenantform.fleet.status import FleetStatus, TenantStatus, fleet_status
from tenantform.locks import FileLock
from tenantform.roots import write_root_text

__all__ = [
    "ALLOWED_LAYERS", "CHANGED", "FLEET_DIR", "LAST_RUN_FILE", "ROLLOUT_FILE", "TIER_ORDER", "UNCHANGED",
    "FileLock", "FleetStatus", "Listener", "Mode", "OnFailure", "Outcome", "Rollout", "RolloutReport", "RunReport",
    "Runner", "Selection", "TenantStatus", "Versions", "Work", "WorkspaceResult", "abort_rollout",
    "advance_rollout", "change_reason", "default_parallel", "detect", "drifted_resources", "fleet_dir",
    "fleet_status", "init_lock", "last_run_path", "load_last_run", "load_rollout", "parse_selection", "plan_waves",
    "retry_selection", "root_text_and_fingerprint", "rollout_path", "run_fleet", "run_lock", "save_rollout",
    "select_tenants", "start_rollout", "write_root_text",
]
