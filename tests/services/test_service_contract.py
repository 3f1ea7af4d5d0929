"""The images and the apps layer agree: port, user, probes, environment, routes, key schema and
dependency pins are read from their sources of truth (modules/tenant_apps.py, the table
constructs, pyproject.toml) and compared with the Dockerfiles and the services. No image is
built here (no container runtime): these checks are what can be proven without one."""

from __future__ import annotations

import ast
import fnmatch
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from services import common
from tenantform.contract import platform_output_names
from tenantform.module_schema import DEFAULT_IMAGE_TAG
from tests.services.pool_support import pool_environ, pool_path
from tests.services.support import (ORDER_SCHEMA, PATHS, PRODUCT_SCHEMA, REPO, SERVICES, free_port, headers,
                                    module_constants, service_environ)

APPS = module_constants(REPO / "modules/tenant_apps.py")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SERVICE_EXTRA = PYPROJECT["project"]["optional-dependencies"]["services"]
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"services", "fastapi", "pydantic", "boto3", "botocore"}


def final_stage(service: str) -> dict[str, list[str]]:
    """Instructions of the Dockerfile's last stage: {"USER": [...], "CMD": [...], ...}."""
    text = (REPO / f"services/{service}/Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    stage: dict[str, list[str]] = {}
    for line in logical.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, argument = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stage = {}
        stage.setdefault(instruction.upper(), []).append(argument.strip())
    return stage


def dockerfile(service: str) -> str:
    return (REPO / f"services/{service}/Dockerfile").read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_as_the_apps_layer_expects(service) -> None:
    stage = final_stage(service)
    assert stage["USER"] == [f"{APPS['RUN_AS_USER']}:{APPS['RUN_AS_USER']}"]
    assert stage["EXPOSE"] == [str(APPS["CONTAINER_PORT"])]
    command = json.loads(stage["CMD"][0])
    assert command[:2] == ["uvicorn", "--factory"]
    assert command[command.index("--port") + 1] == str(APPS["CONTAINER_PORT"])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    module, _, factory = command[2].partition(":")
    assert callable(getattr(importlib.import_module(module), factory))
    assert "PYTHONDONTWRITEBYTECODE=1" in " ".join(stage["ENV"])
    assert all(line.split()[0] == "python:3.11-slim" for line in re.findall(r"^FROM (.+)$", dockerfile(service), re.M))


@pytest.mark.parametrize("service", SERVICES)
def test_image_copies_every_module_it_imports(service) -> None:
    """Every `services.*` module the service's files import, followed transitively, is copied."""
    copied = {source for line in copy_sources(service) for source in line}
    needed = {"services/__init__.py", *(str(p.relative_to(REPO)) for p in (REPO / "services" / service).glob("*.py"))}
    todo = sorted(needed)
    while todo:
        path = todo.pop()
        for node in ast.walk(ast.parse((REPO / path).read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                assert name.split(".")[0] in ALLOWED_IMPORTS, (path, name)
                module = REPO / (name.replace(".", "/") + ".py")
                if name.startswith("services.") and module.is_file() and str(module.relative_to(REPO)) not in needed:
                    needed.add(str(module.relative_to(REPO)))
                    todo.append(str(module.relative_to(REPO)))
    assert {"services/common.py", "services/tenancy.py", "services/table.py"} <= needed  # the walk followed them
    assert needed <= copied, needed - copied


@pytest.mark.parametrize("service", SERVICES)
def test_build_context_holds_what_the_image_copies(service) -> None:
    """.dockerignore keeps the context small (no .venv, no state) but lets every COPY source in."""
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    allowed = [line[1:] for line in lines[1:] if line.startswith("!")]
    sources = {source for line in copy_sources(service) for source in line}
    assert all(any(fnmatch.fnmatchcase(source, pattern) for pattern in allowed) for source in sources), sources


def copy_sources(service: str) -> list[list[str]]:
    lines = re.findall(r"^COPY (?!--from)(.+)$", dockerfile(service), re.M)
    return [line.split()[:-1] for line in lines]


@pytest.mark.parametrize("service", SERVICES)
def test_image_installs_the_services_extra_and_nothing_else(service, tmp_path) -> None:
    text = dockerfile(service)
    assert "==" not in text, "versions are pinned in pyproject.toml only"
    snippet = re.search(r'python -c "([^"]+)" > requirements\.txt', text).group(1)
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    printed = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True,
                             check=True).stdout.split()
    assert printed == SERVICE_EXTRA
    assert "pip install --no-cache-dir -r requirements.txt" in text


def test_service_pins() -> None:
    assert all(re.fullmatch(r"[a-z0-9-]+==[0-9][0-9.]*", pin) for pin in SERVICE_EXTRA), SERVICE_EXTRA
    base = {p.split("==")[0]: p for p in PYPROJECT["project"]["dependencies"]}
    for pin in SERVICE_EXTRA:
        name = pin.split("==")[0]
        assert base.get(name, pin) == pin, f"{name} pinned twice with different versions"
    assert "tenantform[services]" in PYPROJECT["project"]["optional-dependencies"]["test"]


def _apps_env_names() -> set[str]:
    tree = ast.parse((REPO / "modules/tenant_apps.py").read_text())
    return {kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", "").endswith("ContainerEnv")
            for kw in node.keywords if kw.arg == "name" and isinstance(kw.value, ast.Constant)}


@pytest.mark.parametrize("service", SERVICES)
def test_service_honours_the_apps_contract(service) -> None:
    module = SERVICES[service]
    assert APPS["SERVICE_TABLE_ENV"][service][0] == module.TABLE_ENV
    assert APPS["SERVICE_PATHS"][service] == module.COLLECTION
    assert (APPS["LIVENESS_PATH"], APPS["READINESS_PATH"]) == (common.LIVENESS_PATH, common.READINESS_PATH)
    assert {common.TENANT_ENV} <= _apps_env_names()
    assert service in APPS["SERVICES"]


def test_keys_are_the_synthesised_tables() -> None:
    product, order = SERVICES["product"], SERVICES["order"]
    assert PRODUCT_SCHEMA["KeySchema"] == [{"AttributeName": product.PARTITION_KEY, "KeyType": "HASH"},
                                           {"AttributeName": product.SORT_KEY, "KeyType": "RANGE"}]
    assert ORDER_SCHEMA["KeySchema"] == [{"AttributeName": order.PARTITION_KEY, "KeyType": "HASH"}]


def test_documented_build_instructions() -> None:
    doc = (REPO / "docs" / "services.md").read_text()
    section = doc[doc.index("# The services"):]  # the whole file: the build instructions are one of its parts
    assert "image_registry" in platform_output_names() and "image_registry" in section
    for service in SERVICES:
        assert f"-f services/{service}/Dockerfile" in section
        assert f"/{service}:{DEFAULT_IMAGE_TAG}" in section
    assert "get-login-password" in section


@pytest.mark.parametrize("model", ["silo", "pool"])
@pytest.mark.parametrize("service", SERVICES)
def test_image_command_serves_from_the_copied_files(service, model, tmp_path, moto_endpoint, dynamodb) -> None:
    """The Dockerfile's CMD, run from a directory holding only the files its COPY lines put in
    /app, with the environment the apps layer (silo) or the platform's pool sets, serves the probes
    and a tenant's route (uvicorn as a real process; the image itself is not built here)."""
    app_dir = tmp_path / "app"
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile(service), re.M):
        *sources, destination = line.split()
        if destination.startswith("/app/"):
            target = app_dir / destination.removeprefix("/app/")
            target.mkdir(parents=True, exist_ok=True)
            for source in sources:
                shutil.copy(REPO / source, target)
    command = json.loads(final_stage(service)["CMD"][0])
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"  # the image binds 0.0.0.0 inside its pod
    image_env = dict(pair.split("=", 1) for line in final_stage(service)["ENV"] for pair in line.split())
    environ = {**{k: v for k, v in image_env.items() if k != "PATH"}, "PATH": os.environ["PATH"],
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               **(service_environ(service, "acme", moto_endpoint) if model == "silo"
                  else pool_environ(service, moto_endpoint))}
    log = tmp_path / "uvicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", *command], cwd=app_dir, env=environ,
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(f"{base}{common.LIVENESS_PATH}", process, log) == 200
        assert wait_for(f"{base}{common.READINESS_PATH}", process, log) == 200
        route = f"/acme/{PATHS[service]}" if model == "silo" else pool_path(service, "acme")
        request = urllib.request.Request(f"{base}{route}", headers=headers("acme"))
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response) == {"items": [], "next": None}
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert not list(app_dir.rglob("__pycache__")), "the service wrote to its root filesystem"


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")
