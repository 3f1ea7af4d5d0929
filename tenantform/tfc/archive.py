"""The configuration archive uploaded for a remote run: a root and the local modules it calls."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tenantform.tfc.errors import TfcError

_SKIP_DIRS = {".terraform", "terraform.tfstate.d"}
_SKIP_SUFFIXES = (".tfstate", ".tfstate.backup", ".tfplan", ".tfvars", ".tfvars.json", ".tfrc",
                  ".log")
_SKIP_NAMES = {".terraform.lock.hcl", ".terraformrc", "terraform.rc", "crash.log"}
_HCL_MODULE_SOURCE = re.compile(r'\bsource\s*=\s*"(\.{1,2}/[^"]*)"')


@dataclass(frozen=True, kw_only=True)
class ConfigArchive:
    """A deterministic tar.gz of a root and the local modules it calls."""

    data: bytes
    files: tuple[str, ...]
    """Archive member names (posix paths relative to the archive base)."""
    working_directory: str
    """Path of the root inside the archive; set as the workspace's working directory."""
    sha256: str


def _skipped(rel: PurePosixPath) -> bool:
    if any(part.startswith(".") or part in _SKIP_DIRS for part in rel.parts[:-1]):
        return True
    name = rel.name
    return (name in _SKIP_NAMES or name.startswith(".") or name.endswith(_SKIP_SUFFIXES)
            or ".tfstate" in name)


def _local_module_sources(directory: Path) -> Iterator[str]:
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        if path.name.endswith(".tf.json"):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise TfcError(f"{path}: not valid JSON ({exc})") from None
            blocks = doc.get("module", {}) if isinstance(doc, dict) else {}
            items = blocks if isinstance(blocks, list) else [blocks]
            for item in items:
                for body in (item or {}).values():
                    for b in body if isinstance(body, list) else [body]:
                        src = b.get("source") if isinstance(b, dict) else None
                        if isinstance(src, str) and src.startswith(("./", "../")):
                            yield src
        elif path.suffix == ".tf":
            yield from _HCL_MODULE_SOURCE.findall(path.read_text(encoding="utf-8"))


def module_directories(root_dir: Path) -> list[Path]:
    """Every local module directory the root calls, directly or through other modules."""
    root_dir = root_dir.resolve()
    seen: dict[Path, None] = {}
    pending = [root_dir]
    while pending:
        current = pending.pop()
        for src in _local_module_sources(current):
            target = (current / src).resolve()
            if not target.is_dir():
                raise TfcError(f"{current}: module source {src!r} is not a directory "
                               f"({target}); synthesise the module before uploading")
            if target != root_dir and target not in seen:
                seen[target] = None
                pending.append(target)
    return sorted(seen)


def build_config_archive(root_dir: Path, *, base_dir: Path | None = None,
                         forbidden: Iterable[str] = ()) -> ConfigArchive:
    """Pack `root_dir` and the local modules it calls into one tar.gz.

    Members are relative to `base_dir` (default: the deepest directory holding the root and
    every module, i.e. `cdktf.out` for `cdktf.out/workspaces/<ws>` calling
    `../../modules/...`), so relative module sources resolve unchanged and the root is
    uploaded byte for byte; the workspace's working directory points at the root. Left out:
    `.terraform/`, state, plans, tfvars, lock and CLI config files, logs and dotfiles. The
    archive is deterministic (sorted members, zero mtimes and owners), so its sha256 changes
    only when the uploaded configuration does. A file containing any `forbidden` string
    (the API token) is refused.
    """
    root_dir = root_dir.resolve()
    if not root_dir.is_dir():
        raise TfcError(f"{root_dir}: workspace root does not exist; synthesise it first")
    dirs = [root_dir, *module_directories(root_dir)]
    base = base_dir.resolve() if base_dir is not None else Path(os.path.commonpath(dirs))
    for d in dirs:
        if not d.is_relative_to(base):
            raise TfcError(f"{d} is outside the archive base {base}: the uploaded configuration "
                           "would not contain it")
    members: dict[str, bytes] = {}
    bad = [s.encode() for s in forbidden if s]
    for d in dirs:
        for path in sorted(d.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            rel = PurePosixPath(path.relative_to(base).as_posix())
            if _skipped(PurePosixPath(path.relative_to(d).as_posix())):
                continue
            content = path.read_bytes()
            if any(b in content for b in bad):
                raise TfcError(f"refusing to upload {path}: it contains the API token")
            members[str(rel)] = content
    if not any(PurePosixPath(m).parent == PurePosixPath(root_dir.relative_to(base).as_posix())
               and m.endswith((".tf", ".tf.json")) for m in members):
        raise TfcError(f"{root_dir}: no *.tf or *.tf.json file to upload")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(members[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    data = packed.getvalue()
    workdir = root_dir.relative_to(base).as_posix()
    return ConfigArchive(data=data, files=tuple(sorted(members)),
                         working_directory="" if workdir == "." else workdir,
                         sha256=hashlib.sha256(data).hexdigest())

