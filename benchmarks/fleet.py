"""Fleet runs against a naive baseline that plans every workspace, one after another.

    python benchmarks/fleet.py [--tenants 10] [--synthetic 1000] [--parallel N] [--skip-real]
                               [--bucket-records 1000] [--local-records 10000] [--only-records]

Part 1, real terraform against moto (a temporary project copy with its own moto server; the
platform deploy, module synthesis and one `terraform init` per workspace are set-up, not timed):
for `--tenants` basic tenants, three scenarios, each measured as a fleet run (change detection,
then the changed workspaces planned `--parallel` at a time) and as the naive baseline (the same
`terraform plan` in every workspace, sequentially, in the same run):

  all changed   every workspace has a change to plan (new tenants, nothing applied yet)
  no change     every workspace was applied with its current root
  one changed   one tenant's input (company name) changed

CPU seconds are the children's rusage (terraform and its provider processes) per planned
workspace. Part 2, `--synthetic` tenants on disk (no terraform, no server): the same three
scenarios for the parts that do not run terraform (rendering, fingerprints, local records), and the
terraform part extrapolated from part 1's per-workspace figures (marked "est.").

Part 3, change records (tenantform/remote_records.py): `--bucket-records` unchanged tenants whose
records exist only in the (moto) state bucket, detected from a fresh clone (`.tenantform/records/`
empty) in-process and through `invoke fleet.plan` with no terraform on the PATH (target < 5 s),
against a baseline measured in the same run: one GET per tenant record, the way a store without a
listing would answer; and `--local-records` synthetic tenants detected in-process from local records
(target < 10 s), against the same run's 1,000-tenant figure scaled linearly.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import Cli, copy_project  # noqa: E402

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(job: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, children's CPU seconds, result) of one call."""
    cpu, started = children_cpu(), time.monotonic()
    result = job()
    return time.monotonic() - started, children_cpu() - cpu, result


def other_load(title: str) -> None:
    """What else runs on the machine (the cores are shared): load and the busiest processes."""
    ps = subprocess.run(["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True)
    me = str(os.getpid())
    busy = [line[:150] for line in ps.stdout.splitlines()[1:] if line.split()[0] != me][:6]
    print(f"-- {title}: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; busiest processes:")
    for line in busy:
        print("   " + line)


def write_tenants(project_dir: Path, ids: list[str]) -> None:
    (project_dir / "tenants").mkdir(exist_ok=True)
    tiers = ("basic", "standard", "premium", "platinum")
    for index, tenant_id in enumerate(ids):
        (project_dir / "tenants" / f"{tenant_id}.toml").write_text(
            f'id = "{tenant_id}"\ncompany_name = "{tenant_id} Inc"\nadmin_email = "admin@{tenant_id}.example.com"\n'
            f'tier = "{tiers[index % 4] if len(ids) > 100 else "basic"}"\n')


def rename(project_dir: Path, tenant_id: str, suffix: str) -> None:
    path = project_dir / "tenants" / f"{tenant_id}.toml"
    path.write_text(path.read_text().replace(" Inc", f" Inc {suffix}"))


class Row:
    rows: list[tuple[str, ...]] = []

    @classmethod
    def add(cls, scenario: str, fleet: tuple[float, float, int], naive: tuple[float, float, int] | None,
            *, estimated: bool = False) -> None:
        wall, cpu, planned = fleet
        cells = [scenario, f"{wall:.2f}", str(planned), f"{cpu / planned:.1f}" if planned else "-"]
        if naive is not None:
            n_wall, n_cpu, n_planned = naive
            mark = " est." if estimated else ""
            cells += [f"{n_wall:.1f}{mark}", str(n_planned), f"{n_cpu / n_planned:.1f}{mark}" if n_planned else "-",
                      f"{n_wall / wall:.1f}x" if wall else "-"]
        else:
            cells += ["-"] * 4
        cls.rows.append(tuple(cells))
        print("   " + " | ".join(cells), flush=True)

    @classmethod
    def print(cls) -> None:
        header = ("scenario", "fleet s", "planned", "fleet CPU s/ws", "naive s", "planned", "naive CPU s/ws",
                  "naive/fleet")
        widths = [max(len(str(r[i])) for r in [header, *cls.rows]) for i in range(len(header))]
        for row in [header, *cls.rows]:
            print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


def real_part(args: argparse.Namespace, work: Path) -> dict[str, float]:
    from tenantform import fleet
    from tenantform.fleet import Mode, Selection

    cli = Cli(copy_project(work / "real"))
    try:
        print("setting up: platform deploy (not timed)", flush=True)
        cli.run("platform.deploy")
        ids = [f"bench-{i:02d}" for i in range(args.tenants)]
        write_tenants(cli.project_dir, ids)
        project = cli.project()
        project.target.prepare()
        version, _ = project.ensure_modules(lambda m: print("   " + m, flush=True))
        selection = Selection(layers=("infra",))
        workspaces = [f"tenant-{t}-infra" for t in ids]
        print("setting up: roots and one terraform init per workspace (not timed)", flush=True)
        for work_ in fleet.detect(project, project.registry.all(), ("infra",), versions=fleet.Versions(project)):
            fleet.write_root_text(project.workspace_dir(work_.workspace), work_.text)
            project.terraform(work_.workspace).init()

        def naive() -> tuple[float, float, int]:
            def plan_all() -> None:
                for workspace in workspaces:
                    project.terraform(workspace).plan()
            wall, cpu, _ = measure(plan_all)
            return wall, cpu, len(workspaces)

        def fleet_run(mode: Mode) -> tuple[float, float, int]:
            wall, cpu, report = measure(lambda: fleet.run_fleet(project, mode, selection, parallel=args.parallel))
            assert report.ok, [(r.workspace, r.message) for r in report.failed]
            return wall, cpu, report.counts["planned"]

        other_load("before part 1")
        print(f"part 1: {args.tenants} real workspaces against moto, fleet {args.parallel} at a time "
              "(wall s, workspaces planned, CPU s per planned workspace)", flush=True)
        figures: dict[str, float] = {}
        naive_all = naive()
        fleet_all = fleet_run(Mode.PLAN)
        Row.add("all changed (plan)", fleet_all, naive_all)
        figures.update(naive_per_ws=naive_all[0] / naive_all[2], naive_cpu_per_ws=naive_all[1] / naive_all[2],
                       fleet_per_ws=fleet_all[0] / fleet_all[2], fleet_cpu_per_ws=fleet_all[1] / fleet_all[2],
                       speedup=naive_all[0] / fleet_all[0])
        applied = fleet_run(Mode.APPLY)
        Row.add("all new (apply)", applied, None)
        fleet_none = fleet_run(Mode.PLAN)
        naive_none = naive()
        Row.add("no change (plan)", fleet_none, naive_none)
        rename(cli.project_dir, ids[0], "changed")
        fleet_one = fleet_run(Mode.PLAN)
        naive_one = naive()
        Row.add("one changed (plan)", fleet_one, naive_one)
        other_load("after part 1")
        return figures
    finally:
        cli.run("local.down", "--yes", check=False)


def synthetic_part(args: argparse.Namespace, work: Path, figures: dict[str, float]) -> None:
    from tenantform import fleet
    from tenantform.fleet import Mode, Selection, Versions
    from tenantform.project import Project
    from tenantform.records import Record, Records
    from tenantform.targets import Settings

    project_dir = copy_project(work / "synthetic")
    ids = [f"t{i:04d}" for i in range(args.synthetic)]
    write_tenants(project_dir, ids)
    project = Project(Settings(project_dir=project_dir, parallelism=args.parallel))
    project.records = Records(project.settings.work_dir)  # no server here: local records only
    selection = Selection(layers=("infra",))
    n = args.synthetic
    print(f"part 2: {n} synthetic tenants (no terraform; 'est.' = part 1's per-workspace figures x {n})", flush=True)

    def detect() -> list[fleet.Work]:
        tenants = fleet.select_tenants(project, selection)
        return [w for w in fleet.detect(project, tenants, ("infra",), versions=Versions(project)) if w.reason]

    wall, _, changed = measure(detect)
    per_ws, naive_per_ws = figures.get("fleet_per_ws"), figures.get("naive_per_ws")
    if per_ws and naive_per_ws:
        fleet_est = wall + per_ws * len(changed)
        Row.add(f"all changed: detection {wall:.2f} s + plans est.", (fleet_est, figures["fleet_cpu_per_ws"] * n, n),
                (naive_per_ws * n, figures["naive_cpu_per_ws"] * n, n), estimated=True)
    else:
        Row.add("all changed: detection only", (wall, 0.0, 0), None)
    for work_ in changed:  # as if every tenant had been applied with its current root
        project.records.put(Record(workspace=work_.workspace, status="applied", fingerprint=work_.fingerprint,
                                   module_version=work_.version))
    wall, cpu, report = measure(lambda: fleet.run_fleet(project, Mode.PLAN, selection))
    assert report.counts["planned"] == 0 and report.counts["unchanged"] == n
    Row.add("no change: fleet.run_fleet", (wall, cpu, 0),
            (naive_per_ws * n, figures["naive_cpu_per_ws"] * n, n) if naive_per_ws else None, estimated=True)
    rename(project_dir, ids[n // 2], "changed")
    wall, _, changed = measure(detect)
    assert [w.tenant.id for w in changed] == [ids[n // 2]]
    if per_ws and naive_per_ws:
        Row.add(f"one changed: detection {wall:.2f} s + 1 plan est.",
                (wall + figures["naive_per_ws"], figures["fleet_cpu_per_ws"], 1),
                (naive_per_ws * n, figures["naive_cpu_per_ws"] * n, n), estimated=True)
    else:
        Row.add("one changed: detection only", (wall, 0.0, 0), None)


def no_terraform_env() -> dict[str, str]:
    """The environment with every PATH entry holding a terraform binary removed: proves none starts."""
    return {**os.environ, "PATH": os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                                  if not (Path(p) / "terraform").exists())}


def records_part(args: argparse.Namespace, work: Path) -> dict[str, float]:
    """Part 3: detection from records in the state bucket (fresh clone) and from many local records."""
    from tenantform import fleet
    from tenantform.fleet import Mode, Selection, Versions
    from tenantform.project import Project
    from tenantform.records import Record, Records
    from tenantform.remote_records import record_key
    from tenantform.targets import Settings

    figures: dict[str, float] = {}
    n = args.bucket_records
    project_dir = copy_project(work / "bucket")
    ids = [f"r{i:04d}" for i in range(n)]
    write_tenants(project_dir, ids)
    project = Project(Settings(project_dir=project_dir))
    project.target.prepare()  # a moto server for this copy, with the state bucket
    try:
        s3 = project.target.client("s3")
        bucket = project.target.state_bucket
        keys = []
        print(f"part 3: setting up {n} records in the state bucket (not timed)", flush=True)
        for work_ in fleet.detect(project, project.registry.all(), ("infra",), versions=Versions(project)):
            key = record_key(work_.workspace, work_.version, work_.fingerprint)
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
            keys.append(key)
        shutil.rmtree(project.settings.work_dir / "records", ignore_errors=True)  # a fresh clone: no local records

        def per_tenant_gets() -> None:
            for key in keys:
                s3.get_object(Bucket=bucket, Key=key)["Body"].read()

        base_wall, _, _ = measure(per_tenant_gets)
        fresh = Project(Settings(project_dir=project_dir))
        wall, _, report = measure(lambda: fleet.run_fleet(fresh, Mode.PLAN, Selection(layers=("infra",)), save=False))
        assert report.counts["unchanged"] == n and report.counts["planned"] == 0, report.counts
        listings = fresh.records.remote.listings
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "invoke", "fleet.plan", "layer=infra"], cwd=project_dir,
                              env=no_terraform_env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        cli_wall = time.monotonic() - started
        assert proc.returncode == 0 and "no terraform process was started" in proc.stdout, proc.stdout + proc.stderr
        print(f"   {n} tenants, records only in the bucket: in-process {wall:.2f} s ({listings} listing pages); "
              f"invoke fleet.plan {cli_wall:.2f} s (target < 5 s); baseline {n} GETs {base_wall:.2f} s "
              f"({base_wall / wall:.1f}x the in-process detection)", flush=True)
        figures.update(bucket_wall=wall, bucket_cli=cli_wall, bucket_gets=base_wall, bucket_listings=listings)
    finally:
        project.target.local.stop()

    def local_detection(count: int, name: str) -> float:
        directory = copy_project(work / name)
        write_tenants(directory, [f"l{i:05d}" for i in range(count)])
        proj = Project(Settings(project_dir=directory))
        proj.records = Records(proj.settings.work_dir)  # local records, no backend
        for work_ in fleet.detect(proj, proj.registry.all(), ("infra",), versions=Versions(proj)):
            proj.records.put(Record(workspace=work_.workspace, status="applied", fingerprint=work_.fingerprint,
                                    module_version=work_.version))
        seconds, _, result = measure(lambda: fleet.run_fleet(proj, Mode.PLAN, Selection(layers=("infra",)),
                                                            save=False))
        assert result.counts["unchanged"] == count, result.counts
        return seconds

    small = local_detection(1000, "local-1000")
    big = local_detection(args.local_records, "local-big")
    scale = args.local_records / 1000
    print(f"   {args.local_records} tenants from local records: {big:.2f} s (target < 10 s); 1,000 in the same run "
          f"{small:.2f} s, x{scale:.0f} = {small * scale:.2f} s (ratio {big / (small * scale):.2f})", flush=True)
    figures.update(local_big=big, local_1000=small)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10, help="real tenant workspaces (default 10)")
    parser.add_argument("--synthetic", type=int, default=1000, help="synthetic tenants (default 1000)")
    parser.add_argument("--parallel", type=int, default=max(2, os.cpu_count() or 2),
                        help="fleet parallelism (default: the number of cores, at least 2)")
    parser.add_argument("--skip-real", action="store_true", help="only the synthetic part (no estimates)")
    parser.add_argument("--bucket-records", type=int, default=1000, help="tenants with records in the bucket")
    parser.add_argument("--local-records", type=int, default=10000, help="synthetic tenants with local records")
    parser.add_argument("--only-records", action="store_true", help="only part 3 (change records)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tenantform-fleet-bench-"))
    print(f"{os.cpu_count()} cores; terraform {subprocess.run(['terraform', 'version'], capture_output=True, text=True).stdout.split()[1]}",
          flush=True)
    try:
        if args.only_records:
            records_part(args, work)
            return
        figures = {} if args.skip_real else real_part(args, work)
        synthetic_part(args, work, figures)
        records_part(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    Row.print()
    if figures:
        verdict = "meets" if figures["speedup"] >= 1.25 else "MISSES"
        print(f"\nparallel plans of {args.tenants} workspaces: {figures['speedup']:.2f}x faster than sequential "
              f"({verdict} the 1.25x target); naive {figures['naive_per_ws']:.1f} s and "
              f"{figures['naive_cpu_per_ws']:.1f} CPU s per workspace")


if __name__ == "__main__":
    main()
