"""The one argument mechanism of every task, and the one place where errors meet the user.

Every task argument is accepted both as a flag (`--tenant acme`, `--tenant=acme`, `--yes`) and as
a `key=value` word (`tenant=acme`, `yes=true`), derived from the task's own parser context (that is,
from its signature): no per-task lists. `keyword_argv` rewrites the words into flags before
invoke's parser runs, and checks every token against the task it belongs to, so a misspelled
argument or task is one line naming what is allowed (exit 2), never a value.

`TasksProgram` is invoke's `Program` with two changes: task argv goes through `keyword_argv`
(and a parse error is a usage error, exit 2), and an unexpected exception while a task runs becomes
one line, the path of a log holding the traceback and a hint (exit 1). `install()` makes the
running `invoke` program (invoke.main.program: the `invoke`/`inv` scripts and `python -m invoke`)
a `TasksProgram` when the collection is loaded; invoke 3.0.3 is pinned.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import traceback
from pathlib import Path
from typing import Iterable

from invoke import Collection, Program
from invoke.exceptions import Exit, ParseError, UnexpectedExit
from invoke.parser import ParserContext

from tenantform.errors import TenantformError

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
# The project: the directory of the tasks.py invoke loaded (install() records it; a copied project
# may run this package from another checkout). Until then, the checkout holding this package.
_project_dir = Path(__file__).resolve().parents[2]


def project_dir() -> Path:
    """The project directory: where the collection root (tasks.py) that invoke loaded lives."""
    return _project_dir


def _arguments(context: ParserContext) -> str:
    names = sorted(arg.name.replace("-", "_") for arg in context.args.values())
    return ", ".join(names) if names else "(none)"


def usage_error(message: str) -> Exit:
    return Exit(f"error: {message}", code=2)


def keyword_argv(tokens: Iterable[str], contexts: Iterable[ParserContext], initial: ParserContext) -> list[str]:
    """Task argv with `key=value` words turned into flags; unknown tasks/arguments raise Exit(2).

    A word `key=value` whose key (with `-` or `_`) is an argument of the task being parsed becomes
    `--key value` (booleans: `key=true` -> `--key`, `key=false` -> `--no-key` or nothing). Tokens
    after `--` are left alone.
    """
    by_name: dict[str, ParserContext] = {}
    for context in contexts:
        by_name[context.name] = context
        for alias in context.aliases:
            by_name[alias] = context
    out: list[str] = []
    current: ParserContext | None = None
    expecting_value = False
    seen: set[str] = set()
    last_flag = ""
    items = list(tokens)

    def once(arg_name: str) -> None:
        key = f"{current.name if current else ''}:{arg_name}"
        if key in seen:
            raise usage_error(f"argument {arg_name.replace('-', '_')!r} given twice")
        seen.add(key)

    for index, token in enumerate(items):
        if token == "--":
            out.extend(items[index:])
            break
        if expecting_value:
            out.append(token)
            expecting_value = False
            continue
        if token.startswith("-") and len(token) > 1:
            flag, has_value, _ = token.partition("=")
            last_flag = flag
            if current is not None and flag in current.flags:
                out.append(token)
                arg = current.flags[flag]
                once(arg.name)
                expecting_value = arg.takes_value and not has_value and not arg.optional
            elif current is not None and flag in current.inverse_flags:
                out.append(token)
            elif flag in initial.flags:
                out.append(token)
                arg = initial.flags[flag]
                expecting_value = arg.takes_value and not has_value and not arg.optional
            elif current is None:
                out.append(token)          # invoke's own parser reports it
            else:
                raise usage_error(f"{current.name} has no option {flag!r}; its arguments: {_arguments(current)}")
            continue
        if token in by_name:
            current = by_name[token]
            out.append(token)
            continue
        if current is None:
            raise usage_error(f"no task named {token!r}; `invoke --list` shows the tasks")
        key, equals, value = token.partition("=")
        name = key.replace("_", "-")
        flag = f"--{name}"
        if not equals or flag not in current.flags:
            what = f"argument {key!r}" if equals else f"word {token!r} (arguments are key=value words)"
            raise usage_error(f"{current.name} has no {what}; its arguments: {_arguments(current)}")
        arg = current.flags[flag]
        once(arg.name)
        if arg.takes_value:
            out.extend([flag, value])
        elif value.strip().lower() in TRUE_WORDS:
            out.append(flag)
        elif value.strip().lower() in FALSE_WORDS:
            inverse = f"--no-{name}"
            if inverse in current.inverse_flags:
                out.append(inverse)
        else:
            raise usage_error(f"field {key!r} is {value!r}; allowed: true or false")
    if expecting_value:
        raise usage_error(f"option {last_flag!r} needs a value")
    return out


def crash_log(exc: BaseException) -> Path:
    """Write the traceback of an unexpected exception under .tenantform/logs/; return the path."""
    logs = project_dir() / ".tenantform" / "logs"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    try:
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"crash-{stamp}.log"
        path.write_text(f"invoke {' '.join(sys.argv[1:])}\n\n"
                        + "".join(traceback.format_exception(exc)), encoding="utf-8")
    except OSError:
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tenantform-crash-{stamp}.log"
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
    return path


def one_line(text: str) -> str:
    return " ".join(str(text).split())


# Errors raised by the libraries we call, by the top-level package of the exception's class:
# (what failed, the hint). Anything else is a bug of ours ("unexpected").
LIBRARY_ERRORS = {
    "pytfe": ("the HCP Terraform API", "check tenantform.tfc (hostname, organization, project; TF_CLOUD_* "
              "variables), the token and the network: `invoke tfc.doctor` checks each"),
    "httpx": ("an HTTP request", "check the host settings and the network"),
    "botocore": ("an AWS call", "check the aws target's settings: tenantform.aws_profile (that profile in "
                 "~/.aws/config), its credentials and the region in platform.toml"),
    "boto3": ("an AWS call", "check the aws target's settings: tenantform.aws_profile, its credentials"),
}


def describe_failure(exc: BaseException, log: Path) -> str:
    """One line for an exception no code path expected: what failed, the log, a hint."""
    message = one_line(str(exc)) or "(no message)"
    if len(message) > 300:
        message = message[:297] + "..."
    for cls in type(exc).__mro__:
        known = LIBRARY_ERRORS.get(cls.__module__.split(".")[0])
        if known:
            what, hint = known
            return f"error: {what} failed: {type(exc).__name__}: {message} (details in {log}); hint: {hint}"
    return (f"error: unexpected {type(exc).__name__}: {message} (traceback in {log}); "
            "hint: re-run the command; if it fails again, report it with that log")


class TasksProgram(Program):
    """invoke's Program: `key=value` words for every task, no traceback ever printed."""

    def parse_tasks(self) -> None:
        # invoke's parse_tasks, with the argv rewritten first (the parser's contexts are made once:
        # making them consumes each task's help texts)
        self.parser = self._make_parser()
        argv = keyword_argv(self.core.unparsed, self.parser.contexts.values(), self.initial_context)
        try:
            result = self.parser.parse_argv(argv)
        except ParseError as exc:
            raise usage_error(one_line(str(exc))) from None
        self.core_via_tasks = result.pop(0)
        self._update_core_context(context=self.core[0], new_args=self.core_via_tasks.args)
        self.tasks = result

    def execute(self) -> None:
        try:
            super().execute()
        except (Exit, UnexpectedExit, ParseError, KeyboardInterrupt, SystemExit):
            raise
        except TenantformError as exc:
            raise Exit(f"error: {exc}", code=1) from None
        except Exception as exc:  # noqa: BLE001 - the one place an unexpected error meets the user
            raise Exit(describe_failure(exc, crash_log(exc)), code=1) from None


def install(collection: Collection, *, project: Path | None = None) -> None:
    """Long flags only for every task of `collection`, and make the running `invoke` program a
    TasksProgram (no-op when tasks are imported otherwise). `project`: the project directory
    (tasks.py passes its own directory).

    No short flags: a value such as `name=-t` or `tenant=-acme` must stay a value, never become
    another argument's `-t`/`-a` (invoke reads a known flag before a pending value).
    """
    global _project_dir
    if project is not None:
        _project_dir = project.resolve()
    for name in collection.task_names:
        collection[name].auto_shortflags = False
        collection[name].positional = []  # every argument is a key=value word or a flag, none positional
    main = sys.modules.get("invoke.main")
    program = getattr(main, "program", None)
    if program is not None and type(program) is Program:
        program.__class__ = TasksProgram
