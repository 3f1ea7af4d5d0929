"""The authorizer's deployment package: services/authorizer plus its pure-Python dependencies, as a
deterministic zip (same sources and pins -> same bytes).

Determinism: entries sorted by name, every timestamp 1980-01-01 00:00:00, every file mode 0644,
no directory entries, stored (not deflated: deflate output depends on the zlib build, so stored
bytes are the same on every machine), no `__pycache__`/`.pyc`, nothing installation-specific
(`RECORD`, `INSTALLER`). The dependencies are taken from the installed distributions, whose
versions must equal the pins in pyproject.toml (the one place): a mismatch refuses to package.

Pure Python on purpose: Lambda's python3.11 runtime has no `cryptography`, and a compiled wheel
would tie the zip to one glibc and CPU architecture. No CDKTF import here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tenantform.atomic import write_atomic
from tenantform.errors import TenantformError

SOURCE_DIR = "services/authorizer"
PACKAGE_NAME = "authorizer"
ZIP_NAME = "authorizer.zip"
HANDLER = f"{PACKAGE_NAME}.handler.handler"
RUNTIME = "python3.11"
DISTRIBUTIONS = ("PyJWT", "rsa", "pyasn1")
"""What the authorizer imports besides the standard library and the runtime's boto3."""
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644
_PIN = re.compile(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!_-]+)")


@dataclass(frozen=True)
class Package:
    data: bytes
    names: tuple[str, ...]

    @property
    def sha256_base64(self) -> str:
        """What aws_lambda_function's `source_code_hash` (and Lambda's CodeSha256) holds."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")


def pins(project_dir: Path) -> dict[str, str]:
    """Exact pins of `[project] dependencies` in pyproject.toml, by normalised name."""
    data = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))
    found = {}
    for requirement in data["project"]["dependencies"]:
        match = _PIN.fullmatch(requirement.strip())
        if match:
            found[_normal(match.group(1))] = match.group(2)
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _source_files(project_dir: Path) -> dict[str, bytes]:
    root = project_dir / SOURCE_DIR
    if not (root / "handler.py").is_file():
        raise TenantformError(f"{root}: the authorizer's sources are missing (handler.py)")
    return {f"{PACKAGE_NAME}/{path.relative_to(root).as_posix()}": path.read_bytes()
            for path in root.rglob("*.py") if "__pycache__" not in path.parts}


def _dependency_files(project_dir: Path) -> dict[str, bytes]:
    pinned = pins(project_dir)
    files: dict[str, bytes] = {}
    for name in DISTRIBUTIONS:
        want = pinned.get(_normal(name))
        if want is None:
            raise TenantformError(f"pyproject.toml: the authorizer needs an exact pin of {name} (`{name}==X`)")
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise TenantformError(f"{name}=={want} is not installed (pip install -e .)") from None
        if dist.version != want:
            raise TenantformError(f"{name} {dist.version} is installed but pyproject.toml pins {want}; "
                                  f"reinstall (pip install -e .) before packaging the authorizer")
        for file in dist.files or ():
            parts = Path(str(file)).parts
            if not parts or parts[0] == ".." or file.suffix == ".pyc" or "__pycache__" in parts:
                continue
            if parts[0].endswith(".dist-info") and not (parts[-1] == "METADATA" or "LICENSE" in parts[-1].upper()):
                continue
            files[Path(str(file)).as_posix()] = Path(str(file.locate())).read_bytes()
    return files


def build(project_dir: Path) -> Package:
    files = {**_dependency_files(project_dir), **_source_files(project_dir)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # unix, so the mode bits are read
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, files[name])
    return Package(data=buffer.getvalue(), names=tuple(sorted(files)))


def write(package: Package, destination: Path) -> Path:
    """Write the zip atomically (a reader never sees half a file); unchanged bytes are left alone."""
    if destination.is_file() and destination.read_bytes() == package.data:
        return destination
    write_atomic(destination, package.data)
    return destination
