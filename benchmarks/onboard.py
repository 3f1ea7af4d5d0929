"""`invoke onboard` against terraform's own init + plan + apply of the same workspace.

    python benchmarks/onboard.py

Runs in a temporary project copy with its own moto server: deploys the platform and
synthesises the module version first (not timed), then for one tenant workspace measures
(1) terraform init + plan -out + apply run by hand in the rendered root (the baseline; then
destroyed and its state removed), and (2) `invoke onboard tenant=<id>` from scratch. Target:
(2) within 1.5x of (1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import Cli, copy_project  # noqa: E402


def timed(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    work = Path(tempfile.mkdtemp(prefix="tenantform-onboard-bench-"))
    cli = Cli(copy_project(work / "project"))
    try:
        print("setting up: platform deploy and module synthesis (not timed)", flush=True)
        cli.run("platform.deploy")
        cli.run("onboard", "tenant=warmup")

        from tenantform.names import INFRA
        from tenantform.roots import write_root
        from tenantform.state_bucket import delete_state_objects
        from tenantform.tenant import Tenant

        project = cli.project()
        tenant = Tenant.create(id="bench", company_name="Bench", admin_email="a@bench.example.com", tier="basic")
        version = project.module_version()
        workspace = project.workspace_dir("tenant-bench-infra")
        write_root(workspace, project.render_root(tenant, INFRA, version))
        env = project.target.terraform_env()
        tf = shutil.which("terraform") or "terraform"
        steps = {
            "init": [tf, "init", "-input=false", "-no-color"],
            "plan": [tf, "plan", "-input=false", "-no-color", "-out=tfplan"],
            "apply": [tf, "apply", "-input=false", "-no-color", "tfplan"],
        }
        baseline = {name: timed(cmd, cwd=workspace, env=env) for name, cmd in steps.items()}
        timed([tf, "destroy", "-auto-approve", "-input=false", "-no-color"], cwd=workspace, env=env)
        delete_state_objects(project.target.client("s3"), project.target.state_bucket, "tenants/bench/")
        shutil.rmtree(workspace)

        started = time.monotonic()
        result = cli.run("onboard", "tenant=bench")
        tool = time.monotonic() - started
        total = sum(baseline.values())
        print(result.stdout.strip().splitlines()[-1])
        print(f"terraform by hand: init {baseline['init']:.1f} s + plan {baseline['plan']:.1f} s + "
              f"apply {baseline['apply']:.1f} s = {total:.1f} s")
        print(f"invoke onboard tenant=bench: {tool:.1f} s  (ratio {tool / total:.2f}; target <= 1.5)")
        cli.run("offboard", "tenant=bench", "--yes")
        cli.run("offboard", "tenant=warmup", "--yes")
    finally:
        cli.run("local.down", "--yes", check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
