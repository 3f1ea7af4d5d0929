"""The command-line contract: the real `invoke` program, as a subprocess, the way people type it.

- every `invoke ...` line of README.md, docs/*.md and tenants/README.md (code blocks and task tables) parses for this collection;
- error paths for every task: exit 2 for usage (unknown task/argument, missing or invalid value),
  one line, no traceback, nothing written;
- an unexpected exception (injected through a sitecustomize on PYTHONPATH, test-only) is one line,
  a log path and a hint, exit 1;
- end to end on the local target (the session `local_project`, platform deployed once).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli

README = REPO / "README.md"


def documentation() -> list[Path]:
    """The README, every page of docs/ and tenants/README.md: each documented command is checked."""
    pages = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "tenants" / "README.md"]
    assert len(pages) >= 10, f"docs/ pages missing: {pages}"  # README + 8 docs pages today; none may vanish silently
    return pages


# -- README lines parse ---------------------------------------------------------------------------------
def readme_commands() -> list[str]:
    """Every `invoke ...` command of the code blocks and task tables of the documentation()."""
    found: list[str] = []
    for page in documentation():
        found.extend(page_commands(page.read_text(encoding="utf-8")))
    commands = []
    for command in found:
        command = command.strip()
        # placeholders of the prose: `tenant=<id>` stands for a tenant id
        command = re.sub(r"<[a-z ]+>", "acme", command)
        if "[" in command:  # synopsis with optional parts: `platform.plan [--target local|aws|tfc]`
            command = re.sub(r"\s*\[[^\]]*\]", "", command)
        if command not in commands:
            commands.append(command)
    return commands


def page_commands(text: str) -> list[str]:
    """The raw `invoke ...` commands of one Markdown page (code blocks, indented blocks, table cells)."""
    found: list[str] = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        indented = line.startswith("    ") and not line.lstrip().startswith("|")
        if in_block or indented:
            body = re.sub(r"\s+#.*$", "", line.strip())
            for part in re.split(r"&&|;", body):
                words = part.split()
                while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                    words.pop(0)  # VAR=value prefix
                if words and Path(words[0]).name == "invoke":
                    found.append(" ".join(["invoke", *words[1:]]))
        elif line.startswith("| `"):
            for code in re.findall(r"`(invoke [^`]+)`", line):
                found.append(code.replace("\\|", "|"))
    assert not in_block, "a code block is never closed"
    return found


COMMANDS = readme_commands()


def test_the_readme_has_the_commands_we_expect_to_check() -> None:
    tasks = {shlex.split(c)[1] for c in COMMANDS if len(shlex.split(c)) > 1 and not shlex.split(c)[1].startswith("-")}
    for name in ("onboard", "update", "offboard", "tenants", "synth", "bootstrap", "check", "platform.plan",
                 "platform.deploy", "platform.destroy", "fleet.plan", "fleet.apply", "fleet.drift", "fleet.status",
                 "fleet.rollout", "tfc.doctor", "local.status", "local.down"):
        assert name in tasks, f"README has no `invoke {name}` line"


def test_commands_of_the_docs_pages_are_extracted_too() -> None:
    """A command written only in docs/ is checked as strictly as one in the README."""
    readme_only = {c.strip() for c in page_commands(README.read_text(encoding="utf-8"))}
    fleet_page = page_commands((REPO / "docs" / "fleet.md").read_text(encoding="utf-8"))
    assert "invoke fleet.rollout --abort" in fleet_page and "invoke fleet.rollout --abort" not in readme_only
    assert "invoke fleet.rollout --abort" in COMMANDS
    assert "invoke tfc.doctor" in page_commands((REPO / "docs" / "tfc.md").read_text(encoding="utf-8"))


PARSE_ONLY = textwrap.dedent("""
    import contextlib, io, json, sys
    from tenantform.cli._program import TasksProgram

    class ParseOnly(TasksProgram):
        def execute(self):
            print("PARSED", " ".join(f"{t.name}{sorted((k, v) for k, v in t.as_kwargs.items() if v not in (None, False))}"
                                    for t in self.tasks))

    results = []
    for argv in json.loads(sys.argv[1]):
        out, err, code = io.StringIO(), io.StringIO(), 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                ParseOnly().run(["invoke", *argv])
            except SystemExit as exc:
                code = exc.code or 0
        results.append([code, out.getvalue(), err.getvalue()])
    print(json.dumps(results))
""")


def parse(*argvs: list[str]) -> list[tuple[int, str, str]]:
    """invoke's own parsing of each argv for this collection (in one process), execution replaced."""
    proc = subprocess.run([sys.executable, "-c", PARSE_ONLY, json.dumps(list(argvs))], cwd=REPO,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return [tuple(r) for r in json.loads(proc.stdout.splitlines()[-1])]


def test_every_readme_invoke_line_parses() -> None:
    argvs = [shlex.split(command)[1:] for command in COMMANDS]
    rejected = []
    for command, argv, (code, out, err) in zip(COMMANDS, argvs, parse(*argvs)):
        shows_help = argv == ["--list"] or "--help" in argv
        if code != 0 or ("PARSED" not in out and not shows_help):
            rejected.append(f"{command}: exit {code}: {(err or out).strip()[:300]}")
    assert len(argvs) >= 30  # the README has ~37 today: the extraction must not silently find none
    assert not rejected, "README lines the parser rejects:\n" + "\n".join(rejected)


def test_a_line_the_parser_rejects_is_caught() -> None:
    (code, out, err), = parse(["onboard", "tenat=acme"])
    assert code == 2 and "PARSED" not in out and "has no argument 'tenat'" in err


def test_words_and_flags_parse_to_the_same_arguments() -> None:
    words, flags, both = parse(
        ["onboard", "tenant=acme", "tier=premium", "name=Acme Corp", "email=a=b@acme.example"],
        ["onboard", "--tenant", "acme", "--tier=premium", "--name", "Acme Corp", "--email", "a=b@acme.example"],
        ["offboard", "tenant=acme", "yes=true", "fleet.apply", "retry_failed=yes", "lock-timeout=5m"])
    assert words[0] == flags[0] == 0, words[2] + flags[2]
    assert words[1] == flags[1]
    assert "('email', 'a=b@acme.example')" in words[1] and "('name', 'Acme Corp')" in words[1]
    assert both[0] == 0, both[2]
    assert "offboard[('tenant', 'acme'), ('yes', True)]" in both[1]
    assert "fleet.apply[('lock_timeout', '5m'), ('retry_failed', True)]" in both[1]
    # a value that looks like a flag stays that argument's value (no short flags to collide with)
    (code, out, err), = parse(["onboard", "tenant=-acme", "name=-t"])
    assert code == 0 and "onboard[('name', '-t'), ('tenant', '-acme')]" in out, err


def test_a_new_parameter_of_any_task_works_without_touching_the_mechanism() -> None:
    from invoke import Collection, Program, task
    from invoke.parser import Parser

    from tenantform.cli._program import install, keyword_argv

    @task(positional=["tenant"])  # even a positional declaration (old style) does not get in the way
    def offboard(c, tenant=None, skip_backup=False, report_file=None, allow_destroy=False):  # noqa: ANN001, ANN202, ARG001
        """A task as another branch might write it."""

    collection = Collection(offboard)
    install(collection)
    initial = Program().initial_context
    contexts = collection.to_contexts()
    argv = keyword_argv(["offboard", "tenant=acme", "skip_backup=true", "report-file=run.json", "--allow-destroy"],
                        contexts, initial)
    (_, context) = Parser(initial=initial, contexts=contexts).parse_argv(argv)
    assert context.as_kwargs == {"tenant": "acme", "skip_backup": True, "report_file": "run.json",
                                 "allow_destroy": True}


# -- help ----------------------------------------------------------------------------------------------
TASKS = ("onboard", "update", "offboard", "tenants", "synth", "bootstrap", "check", "platform.plan",
         "platform.deploy", "platform.destroy", "fleet.plan", "fleet.apply", "fleet.drift", "fleet.status",
         "fleet.rollout", "tfc.doctor", "local.status", "local.down")


def invoke(project_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return Cli(project_dir).run(*args, check=False, timeout=300, env_overrides=env)


def test_help_for_every_task_in_both_forms() -> None:
    listed = invoke(REPO, "--list").stdout
    assert set(TASKS) <= set(re.findall(r"^\s+([a-z.-]+)\s", listed, re.MULTILINE)), listed
    for name in ("fleet.apply", "onboard", "local.down"):
        for args in (("--help", name), (name, "--help")):
            proc = invoke(REPO, *args)
            assert proc.returncode == 0, proc.stderr
            assert f"Usage: inv[oke] [--core-opts] {name}" in proc.stdout and "Docstring:" in proc.stdout


# -- error paths ---------------------------------------------------------------------------------------
def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    output = proc.stdout + proc.stderr
    assert proc.returncode == code, output
    assert "Traceback" not in output
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_untouched(project_dir: Path) -> None:
    assert [p.name for p in (project_dir / "tenants").iterdir()] == []
    assert not (project_dir / "cdktf.out").exists(), "something was synthesised"
    assert not (project_dir / ".tenantform").exists(), "tool state was written"


@pytest.mark.parametrize("task", TASKS)
def test_an_unknown_argument_names_the_task_arguments(fresh_project: Cli, task: str) -> None:
    proc = fresh_project.run(task, "tenat=initech", check=False)
    assert_one_line(proc, 2, f"{task} has no argument 'tenat'", "its arguments:")
    flag = fresh_project.run(task, "--tenat", "initech", check=False)
    assert_one_line(flag, 2, f"{task} has no option '--tenat'")
    assert_untouched(fresh_project.project_dir)


ERRORS = [
    (("nosuch",), 2, "no task named 'nosuch'"),
    (("onboard",), 2, "field 'tenant' is missing"),
    (("update",), 2, "field 'tenant' is missing"),
    (("offboard",), 2, "field 'tenant' is missing"),
    (("onboard", "acme"), 2, "onboard has no word 'acme'"),
    (("onboard", "tenant=acme", "tenant=globex"), 2, "argument 'tenant' given twice"),
    (("onboard", "--tenant"), 2, "option '--tenant' needs a value"),
    (("onboard", "tenant=Acme_Corp"), 2, "field 'id' is 'Acme_Corp'"),
    (("onboard", "tenant=acme", "tier=gold"), 2, "field 'tier' is 'gold'"),
    (("onboard", "tenant=acme", "email=not-an-address"), 2, "field 'admin_email'"),
    (("onboard", "tenant=acme", "target=mars"), 2, "field 'target' is 'mars'"),
    (("offboard", "tenant=acme", "yes=perhaps"), 2, "field 'yes' is 'perhaps'"),
    (("update", "tenant=ghost"), 1, "ghost"),
    (("fleet.plan", "parallel=0"), 2, "field 'parallel' is '0'"),
    (("fleet.plan", "parallel=many"), 2, "field 'parallel' is 'many'"),
    (("fleet.plan", "tier=gold"), 2, "'gold'"),
    (("fleet.apply", "layer=db"), 2, "'db'"),
    (("fleet.status", "tenants=Bad_Id"), 2, "'Bad_Id'"),
    (("fleet.rollout", "canary=-1"), 2, "field 'canary' is '-1'"),
    (("fleet.rollout", "on_failure=explode"), 2, "field 'on_failure' is 'explode'"),
    (("check", "only=nosuchtool"), 2, "nosuchtool"),
    (("synth", "target=mars"), 2, "field 'target' is 'mars'"),
]


@pytest.mark.parametrize("args, code, needle", ERRORS, ids=[" ".join(a) for a, _, _ in ERRORS])
def test_bad_input_is_one_line_and_writes_nothing(fresh_project: Cli, args: tuple[str, ...], code: int,
                                                  needle: str) -> None:
    proc = fresh_project.run(*args, check=False)
    assert_one_line(proc, code, needle)
    assert_untouched(fresh_project.project_dir)


def test_a_tenant_file_reports_every_problem_at_once(fresh_project: Cli) -> None:
    bad = fresh_project.project_dir / "tenants" / "evil.toml"
    bad.write_text('id = "Evil"\ncompany_name = ""\nadmin_email = "nobody"\ntier = "gold"\ncolour = "red"\n',
                   encoding="utf-8")
    proc = fresh_project.run("tenants", check=False)
    assert_one_line(proc, 2, str(bad), "5 problems")
    for field in ("'id' is 'Evil'", "'company_name' is empty", "'admin_email' is 'nobody'", "'tier' is 'gold'",
                  "'colour' is not a tenant field"):
        assert field in proc.stderr, proc.stderr


def test_arguments_report_every_problem_at_once(fresh_project: Cli) -> None:
    proc = fresh_project.run("onboard", "tenant=acme", "tier=gold", "email=nobody", check=False)
    assert_one_line(proc, 2, "2 problems", "'tier' is 'gold'", "'admin_email' is 'nobody'")
    assert_untouched(fresh_project.project_dir)


# -- no traceback, ever ----------------------------------------------------------------------------------
FAULTS = textwrap.dedent("""
    # test-only: make one library call raise what a bug or a library would raise
    import os
    fault = os.environ.get("TENANTFORM_TEST_FAULT")
    if fault:
        import tenantform.workflows as workflows

        def boom(*args, **kwargs):
            if fault == "keyerror":
                raise KeyError("registry")
            raise RuntimeError("injected failure\\nwith a second line")

        workflows.list_tenants = boom
""")


@pytest.mark.parametrize("fault", ["runtime", "keyerror"])
def test_an_unexpected_exception_is_one_line_a_log_and_a_hint(fresh_project: Cli, tmp_path: Path,
                                                              fault: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAULTS, encoding="utf-8")
    proc = fresh_project.run("tenants", check=False,
                             env_overrides={"PYTHONPATH": str(site), "TENANTFORM_TEST_FAULT": fault})
    assert_one_line(proc, 1, "error: unexpected", "traceback in", "hint:")
    log = Path(re.search(r"traceback in (\S+?)\)", proc.stderr).group(1))
    assert log.is_file() and "Traceback" in log.read_text() and log.is_relative_to(fresh_project.project_dir)


def test_aws_target_with_a_missing_profile_is_one_line(fresh_project: Cli) -> None:
    proc = fresh_project.run("onboard", "tenant=acme", "target=aws", check=False,
                             env_overrides={"INVOKE_TENANTFORM_AWS_PROFILE": "no-such-profile-anywhere",
                                            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    assert_one_line(proc, 1, "no-such-profile-anywhere")
    assert [p.name for p in (fresh_project.project_dir / "tenants").iterdir()] == []


def test_tfc_target_with_an_unreachable_host_is_one_line(fresh_project: Cli) -> None:
    proc = fresh_project.run("onboard", "tenant=acme", "target=tfc", check=False, timeout=120,
                             env_overrides={"TF_CLOUD_ORGANIZATION": "acme-org", "TF_CLOUD_PROJECT": "tenantform",
                                            "TF_CLOUD_HOSTNAME": "127.0.0.1:9", "TFE_TOKEN": "x" * 20})
    assert_one_line(proc, 1, "error: platform: ServerError:", "Connection refused", "tfc.doctor")
    assert [p.name for p in (fresh_project.project_dir / "tenants").iterdir()] == []


# -- end to end on the local target (platform deployed once per session: conftest.local_project) ----------
E2E = "cli-e2e"


@pytest.mark.integration
def test_every_local_command_end_to_end(local_project: Cli) -> None:
    """The README's commands that run without a cluster, in the order a person runs them.

    Not executed here: `bootstrap` (issue 12b's, its parse check is above), `check` (minutes: checkov's
    venv and every synthesis; tests/test_isolation.py and CI's `invoke check` run it), `platform.deploy`
    (the fixture ran it), `platform.destroy`/`local.down` (would end the session's platform),
    `fleet.apply`/`fleet.rollout` (tests/test_fleet_integration.py), `tfc.doctor` (tests/test_tfc_target.py).
    """
    tenant_file = local_project.project_dir / "tenants" / f"{E2E}.toml"
    offline = local_project.project_dir / "tenants" / "cli-offline.toml"
    empty_mirror = local_project.project_dir / "empty-mirror"  # no providers: terraform goes to the registry
    empty_mirror.mkdir(exist_ok=True)
    proc = local_project.run("onboard", "tenant=cli-offline", check=False,
                             env_overrides={"TENANTFORM_PROVIDER_MIRROR": str(empty_mirror)})
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # (progress lines before it)
    assert last.startswith("error: ") and "could not reach the provider registry" in last, proc.stderr
    assert "TENANTFORM_PROVIDER_MIRROR=" in last
    assert not offline.exists(), "the tenant file was written before terraform init could fail"

    def ok(*args: str) -> subprocess.CompletedProcess[str]:
        proc = local_project.run(*args, check=False)
        assert proc.returncode == 0, f"invoke {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stdout + proc.stderr
        return proc

    onboard = ok("onboard", f"tenant={E2E}", "tier=basic")
    assert f"onboard {E2E} (basic)" in onboard.stdout and tenant_file.is_file()
    assert re.search(rf"tenant-{E2E}-infra\s+│\s+applied", onboard.stdout), onboard.stdout
    assert f"terraform apply in tenant-{E2E}-infra (log " in onboard.stderr  # the log, named from the start
    assert "tenant_url = (empty: no custom domain" in onboard.stdout
    assert "No changes: tenant is up to date." in ok("onboard", f"--tenant={E2E}").stdout

    update = ok("update", f"tenant={E2E}", "tier=standard", "yes=true")
    assert f"update {E2E} (standard)" in update.stdout and 'tier = "standard"' in tenant_file.read_text()
    assert update.stdout.count(f"tenant-{E2E}-apps: root written") == 1, update.stdout  # once, with the plan
    assert re.search(r"^Done in [\d.]+ s \(.*infra plan [\d.]+s", update.stdout, re.MULTILINE), update.stdout

    tenants = ok("tenants")
    assert re.search(rf"│ {E2E}\s+│ standard\s+│", tenants.stdout), tenants.stdout
    assert re.search(r"^\d+ tenants?$", tenants.stdout.splitlines()[0]), tenants.stdout

    synth = ok("synth")
    assert re.search(r"^module \S+ \(.*\); platform \(.*\); \d+ tenants?, \d+ roots? changed; ", synth.stdout), synth.stdout

    plan = ok("fleet.plan", f"tenants={E2E}", "layer=infra")
    assert "planned 0, changed 0, unchanged 1, failed 0 of 1 workspace in" in plan.stdout, plan.stdout
    status = ok("fleet.status", f"tenants={E2E}")
    assert re.search(rf"{E2E}\s+│\s+standard", status.stdout) and status.stdout.startswith("1 tenant;"), status.stdout
    drift = ok("fleet.drift", f"tenants={E2E}", "layer=infra")
    assert f"tenant-{E2E}-infra: in sync" in drift.stdout, drift.stdout

    platform_plan = ok("platform.plan")
    assert re.search(r"^platform: \S+ \(", platform_plan.stdout, re.MULTILINE), platform_plan.stdout
    assert "local AWS emulator: running, pid " in ok("local.status").stdout

    offboard = ok("offboard", f"tenant={E2E}", "--yes")
    assert f"removed {tenant_file}" in offboard.stdout and not tenant_file.exists(), offboard.stdout
