"""Shared fixtures.

- `cdktf_app`: CDKTF is imported once per session (about 20 s); each test builds a fresh App.
- `terraform`: the terraform binary; missing fails the test under CI=true, skips otherwise.
- `local_project`: a copy of the project in a temporary directory, with its own moto server on
  127.0.0.1 and the platform deployed once per session, driven through the real `invoke` CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("main.py", "tasks.py", "cdktf.json", "invoke.yaml", "platform.toml", "pyproject.toml")
PROJECT_DIRS = ("modules", "tenantform", "services")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


def require_terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        message = "terraform is not on the PATH; integration tests need Terraform >= 1.10"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def terraform() -> str:
    return require_terraform()


def copy_project(destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        if (REPO / name).exists():
            shutil.copy2(REPO / name, destination / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, destination / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (destination / "tenants").mkdir(exist_ok=True)
    return destination


@dataclass
class Cli:
    """The real command line, run in a project directory."""

    project_dir: Path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("INVOKE_TENANTFORM_TARGET", None)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 900,
            env_overrides: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.project_dir,
                              env={**self.env(), **(env_overrides or {})},
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"invoke {' '.join(args)} exited {proc.returncode}\n"
                                 f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        return proc

    def project(self):  # noqa: ANN201 - tenantform.project.Project
        from tenantform.project import Project
        from tenantform.targets import Settings

        mirror = os.environ.get("TENANTFORM_PROVIDER_MIRROR")
        return Project(Settings(project_dir=self.project_dir, provider_mirror=Path(mirror) if mirror else None))


@pytest.fixture(scope="session")
def local_project(tmp_path_factory: pytest.TempPathFactory, terraform: str):  # noqa: ANN201
    """A project copy whose local target has the platform deployed (once per session)."""
    cli = Cli(copy_project(tmp_path_factory.mktemp("project")))
    try:
        cli.run("platform.deploy")
        yield cli
    finally:
        cli.run("local.down", "--yes", check=False)


@pytest.fixture
def fresh_project(tmp_path: Path) -> Cli:
    """A project copy that has done nothing yet (no server started, nothing synthesised)."""
    return Cli(copy_project(tmp_path / "project"))
