"""The authorizer's Lambda zip (tenantform/lambda_package.py): deterministic, complete, pinned, and
part of the platform's synthesis fingerprint."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tenantform import lambda_package
from tenantform.errors import TenantformError
from tenantform.project import Project
from tenantform.targets import Settings, TargetKind
from tests.conftest import copy_project

REPO = Path(__file__).resolve().parent.parent


def test_same_sources_same_bytes(tmp_path: Path) -> None:
    first = lambda_package.build(REPO)
    copy = copy_project(tmp_path / "copy")
    for path in (copy / "services" / "authorizer").rglob("*.py"):  # other mtimes, other directory
        os.utime(path, (1_000_000_000, 1_000_000_000))
    second = lambda_package.build(copy)
    assert second.data == first.data
    assert second.sha256_base64 == first.sha256_base64


def test_entries_sorted_with_fixed_times_and_modes() -> None:
    package = lambda_package.build(REPO)
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names) and len(names) == len(set(names))
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}
        assert {i.compress_type for i in infos} == {zipfile.ZIP_STORED}
        assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n or n.endswith("/RECORD")]
        # the handler, its package, and the pinned pure-Python dependencies
        for needed in ("authorizer/handler.py", "authorizer/decide.py", "jwt/api_jws.py", "rsa/pkcs1.py",
                       "pyasn1/__init__.py"):
            assert needed in names, needed
        assert not [n for n in names if n.startswith(("cryptography/", "boto3/", "tests/"))]


def test_a_source_change_changes_the_hash(tmp_path: Path) -> None:
    copy = copy_project(tmp_path / "copy")
    before = lambda_package.build(copy)
    handler = copy / "services" / "authorizer" / "decide.py"
    handler.write_text(handler.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert lambda_package.build(copy).sha256_base64 != before.sha256_base64


def test_a_pin_that_differs_from_the_installed_version_is_refused(tmp_path: Path) -> None:
    copy = copy_project(tmp_path / "copy")
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace('"rsa==4.9.1"', '"rsa==4.8"'), encoding="utf-8")
    with pytest.raises(TenantformError, match=r"rsa 4\.9\.1 is installed but pyproject.toml pins 4\.8"):
        lambda_package.build(copy)
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace('"rsa==4.8",', ""), encoding="utf-8")
    with pytest.raises(TenantformError, match="needs an exact pin of rsa"):
        lambda_package.build(copy)


def test_missing_sources_refused(tmp_path: Path) -> None:
    copy = copy_project(tmp_path / "copy")
    shutil.rmtree(copy / "services" / "authorizer")
    with pytest.raises(TenantformError, match="authorizer's sources are missing"):
        lambda_package.build(copy)


def test_an_authorizer_change_changes_the_platform_fingerprint(tmp_path: Path) -> None:
    copy = copy_project(tmp_path / "copy")
    # an explicit bucket: the default name needs the account id, i.e. credentials
    project = Project(Settings(project_dir=copy, target=TargetKind.AWS, state_bucket="example-state"))
    before = project.platform_fingerprint()
    assert project.platform_fingerprint() == before
    source = copy / "services" / "authorizer" / "jwks.py"
    source.write_text(source.read_text(encoding="utf-8") + "\n# rotated\n", encoding="utf-8")
    assert project.platform_fingerprint() != before


def test_write_is_atomic_and_idempotent(tmp_path: Path) -> None:
    package = lambda_package.build(REPO)
    target = lambda_package.write(package, tmp_path / "ws" / "authorizer.zip")
    mtime = target.stat().st_mtime_ns
    assert target.read_bytes() == package.data
    lambda_package.write(package, target)
    assert target.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in target.parent.iterdir()) == ["authorizer.zip"]
