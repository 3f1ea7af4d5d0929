"""Synthesis cost: tenantform's thin roots against a naive CDKTF app with a stack per tenant.

    python benchmarks/synth.py                 # 1 and 1,000 tenants; naive baseline for both
    python benchmarks/synth.py --naive 200     # a smaller naive fleet, if memory is short

Each scenario runs in its own process; the figures are wall time and the peak resident memory
of that process tree (Python plus the jsii node child). Every figure comes from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._measure import measure  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def fleet(n: int, *, start: int = 0) -> list[dict[str, str]]:
    return [{"id": f"t{i:05d}", "company_name": f"Tenant {i}", "admin_email": f"admin@t{i:05d}.example.com",
             "tier": ("basic", "standard", "premium", "platinum")[i % 4]} for i in range(start, start + n)]


# -- child scenarios ------------------------------------------------------------------------------
def child(scenario: str, project_dir: Path, n: int) -> None:
    from tenantform.names import LAYERS, tenant_names
    from tenantform.project import Project
    from tenantform.roots import write_root
    from tenantform.targets import Settings
    from tenantform.tenant import Tenant

    project = Project(Settings(project_dir=project_dir))
    started = time.perf_counter()
    if scenario == "module":
        version, seconds = project.ensure_modules()
        result = {"version": version, "synth_seconds": seconds}
    elif scenario == "roots":
        version, _ = project.ensure_modules()  # already synthesised: a few file reads
        for spec in fleet(n):
            tenant = Tenant.create(**spec)
            for layer in LAYERS:
                ws = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
                write_root(project.workspace_dir(ws), project.render_root(tenant, layer, version))
        result = {"roots": 2 * n}
    elif scenario == "onboard-synth":
        # What `invoke onboard` does before terraform, for tenant n+1 of a fleet of n tenants.
        from tenantform.workflows import resolve_tenant

        tenant, _ = resolve_tenant(project, tenant_id=f"t{n:05d}", tier="premium", email=None, name=None)
        version, _ = project.ensure_modules()
        project.registry.save(tenant)
        for layer in LAYERS:
            ws = tenant_names(tenant.id, platform_name=project.platform.name).workspace(layer)
            write_root(project.workspace_dir(ws), project.render_root(tenant, layer, version))
        result = {"tenant": tenant.id, "fleet": len(project.registry.ids())}
    elif scenario == "naive":
        from main import build_app
        from tenantform.synthesis import AppConfig, Selection

        app = build_app(AppConfig(platform_config_path=str(project.settings.platform_config_path)),
                        Selection(full_tenants=tuple(fleet(n))), outdir=str(project_dir / "naive.out"))
        app.synth()
        result = {"stacks": n}
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    result["in_process_seconds"] = time.perf_counter() - started
    print(json.dumps(result))


# -- driver ---------------------------------------------------------------------------------------
def make_project(root: Path, tenants: int) -> Path:
    from tests.conftest import copy_project
    from tenantform.tenant import Tenant, TenantRegistry

    project = copy_project(root)
    registry = TenantRegistry(project / "tenants")
    for spec in fleet(tenants):
        registry.save(Tenant.create(**spec))
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", nargs=3, metavar=("SCENARIO", "PROJECT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--fleet", type=int, default=1000, help="fleet size (default 1000)")
    parser.add_argument("--naive", type=int, default=None, help="naive baseline fleet size (default: --fleet)")
    args = parser.parse_args()
    if args.child:
        scenario, project, n = args.child
        child(scenario, Path(project), int(n))
        return
    naive_n = args.naive or args.fleet
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    work = Path(tempfile.mkdtemp(prefix="tenantform-bench-"))
    rows: list[tuple[str, float, float, str]] = []

    def run(label: str, scenario: str, project: Path, n: int, note: str = "") -> tuple[float, float]:
        m = measure([sys.executable, __file__, "--child", scenario, str(project), str(n)], cwd=REPO, env=env)
        detail = json.loads(m.stdout.strip().splitlines()[-1])
        rows.append((label, m.wall, m.peak_mb, note or f"work {detail['in_process_seconds']:.3f} s in-process"))
        print(f"  {label:<52} {m.wall:8.2f} s {m.peak_mb:9.0f} MB", flush=True)
        return m.wall, m.peak_mb

    try:
        print(f"tenantform synthesis benchmark (fleet {args.fleet}, naive baseline {naive_n}); {os.cpu_count()} cores")
        project = make_project(work / "project", args.fleet)
        module_wall, _ = run("module version, synthesised once (CDKTF)", "module", project, 0)
        one_wall, _ = run("roots for 1 tenant (module cached)", "roots", project, 1)
        fleet_wall, _ = run(f"roots for {args.fleet} tenants (module cached)", "roots", project, args.fleet)
        empty = make_project(work / "empty", 0)
        shutil.copytree(project / "cdktf.out" / "modules", empty / "cdktf.out" / "modules")  # same version
        first_wall, _ = run("onboarding synthesis: tenant 1 of an empty fleet", "onboard-synth", empty, 0)
        next_wall, next_mb = run(f"onboarding synthesis: tenant {args.fleet + 1} of {args.fleet}", "onboard-synth",
                                 project, args.fleet)
        naive_one_wall, _ = run("naive: one CDKTF app, 1 full tenant stack", "naive", work / "empty", 1)
        naive_wall, naive_mb = run(f"naive: one CDKTF app, {naive_n} full tenant stacks", "naive", work / "empty", naive_n)
        print()
        print(f"onboarding one more tenant: {next_wall:.2f} s and {next_mb:.0f} MB in a fleet of {args.fleet} "
              f"vs {first_wall:.2f} s for the first tenant (ratio {next_wall / first_wall:.2f}; target < 2 s, "
              "independent of fleet size)")
        print(f"naive baseline: {naive_wall:.1f} s and {naive_mb:.0f} MB for {naive_n} stacks; "
              f"{naive_wall / next_wall:.0f}x the time of onboarding one tenant the tenantform way")
        print(f"1 vs {args.fleet} roots: {one_wall:.2f} s vs {fleet_wall:.2f} s; "
              f"naive 1 vs {naive_n} stacks: {naive_one_wall:.1f} s vs {naive_wall:.1f} s; "
              f"module synthesis once per version: {module_wall:.1f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
