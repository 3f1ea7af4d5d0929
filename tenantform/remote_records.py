"""Change records kept in the state backend, beside each workspace's state (docs/fleet.md, "Change records").

On the S3 targets (local, aws) a successful apply leaves one small object next to the
workspace's state key `tenants/<id>/<layer>.tfstate`:

    tenants/<id>/<layer>.record.<module version>.<fingerprint>.<platform digest or "none">.json

The key alone answers the fleet's question "was this exact root applied?", so change detection
for a whole fleet is one paginated ListObjectsV2 over `tenants/` (1,000 keys a page), with no
GET per tenant; the body holds the full record (resources, time, log) for whoever wants it.
Writes are conditional: `If-None-Match: *` (moto 5.2.5 and S3 both honour it: an existing object
answers 412, which means the same record is already there). The record of an earlier root of the
same workspace is deleted after the new one is written, only when it is older (LastModified), so
two operators applying different tenants never touch each other's records, and the state lock
already serialises applies of one workspace.

Records go with the state: offboarding deletes everything under `tenants/<id>/`, and the local
target's emulator keeps them in memory, so after `invoke local.down` no record says applied.
When the bucket cannot be listed (emulator stopped, no credentials) the store answers "no
records" and every workspace counts as not applied: a plan, never a wrong "up to date".
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from tenantform.names import LAYERS

if TYPE_CHECKING:
    from tenantform.records import Record, Records
    from tenantform.targets import Target
    from tenantform.tfc_records import TfcRecordStore

PREFIX = "tenants/"
_KEY = re.compile(r"tenants/(?P<tenant>[^/]+)/(?P<layer>[a-z]+)\.record\.(?P<version>[^/]+)\."
                  r"(?P<fingerprint>[0-9a-f]{64})\.(?P<platform>[0-9a-f]{16}|none)\.json")
_WORKSPACE = re.compile(r"tenant-(?P<tenant>.+)-(?P<layer>" + "|".join(LAYERS) + r")")


@dataclass(frozen=True)
class RemoteEntry:
    key: str
    module_version: str
    fingerprint: str
    platform: str
    """Digest of the platform outputs the root read ("" unknown)."""
    modified: str
    """ISO-8601 UTC time the object was written (LastModified)."""


def record_key(workspace: str, module_version: str, fingerprint: str, platform: str = "") -> str | None:
    """The object key of a tenant workspace's record; None for a workspace that is not a tenant's."""
    m = _WORKSPACE.fullmatch(workspace)
    if m is None or not re.fullmatch(r"[0-9a-f]{64}", fingerprint) or "/" in module_version:
        return None
    if not re.fullmatch(r"[0-9a-f]{16}", platform):
        platform = "none"
    return f"{PREFIX}{m['tenant']}/{m['layer']}.record.{module_version}.{fingerprint}.{platform}.json"


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    return str(value or "")


class S3RecordStore:
    """Records as objects in the state bucket; the listing is read once per command."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._entries: dict[str, list[RemoteEntry]] | None = None
        self._lock = threading.Lock()
        self.listings = 0
        """ListObjectsV2 pages read (for tests and the benchmark)."""

    @property
    def bucket(self) -> str:
        """The target's state bucket (on aws its default name needs the account: resolved when used)."""
        return self.target.state_bucket

    def _client(self) -> Any:
        return self.target.client("s3")

    def load(self) -> dict[str, list[RemoteEntry]]:
        """workspace -> its record objects, newest first (normally one)."""
        with self._lock:
            if self._entries is None:
                self._entries = self._list()
            return self._entries

    def _list(self) -> dict[str, list[RemoteEntry]]:
        entries: dict[str, list[RemoteEntry]] = {}
        try:
            pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=PREFIX)
            for page in pages:
                self.listings += 1
                for obj in page.get("Contents", []):
                    m = _KEY.fullmatch(obj["Key"])
                    if m is None:
                        continue
                    workspace = f"tenant-{m['tenant']}-{m['layer']}"
                    entries.setdefault(workspace, []).append(RemoteEntry(
                        key=obj["Key"], module_version=m["version"], fingerprint=m["fingerprint"],
                        platform="" if m["platform"] == "none" else m["platform"],
                        modified=_iso(obj.get("LastModified"))))
        except Exception:  # noqa: BLE001 - unreachable backend: no records, so everything plans
            return {}
        for items in entries.values():
            items.sort(key=lambda e: e.modified, reverse=True)
        return entries

    @staticmethod
    def holds(workspace: str) -> bool:
        """Only tenant workspaces have records in the bucket (the platform's stay local)."""
        return _WORKSPACE.fullmatch(workspace) is not None

    def get(self, workspace: str) -> RemoteEntry | None:
        items = self.load().get(workspace)
        return items[0] if items else None

    def put(self, record: Record) -> str | None:
        """Write the record of an applied root; returns its key (None when it is not a tenant's)."""
        key = record_key(record.workspace, record.module_version, record.fingerprint, record.platform)
        if key is None:
            return None
        s3 = self._client()
        body = json.dumps(asdict(record), indent=1).encode()
        try:
            s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                          IfNoneMatch="*")
        except Exception as exc:  # noqa: BLE001
            if _status(exc) != 412:  # 412: this very record is already there
                raise
        written = s3.head_object(Bucket=self.bucket, Key=key)
        mine = _iso(written.get("LastModified"))
        stale_prefix = key.split(".record.", 1)[0] + ".record."
        old = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                                  Prefix=stale_prefix)
               for o in page.get("Contents", []) if o["Key"] != key and _iso(o.get("LastModified")) <= mine]
        if old:
            s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in old], "Quiet": True})
        with self._lock:
            if self._entries is not None:
                self._entries[record.workspace] = [RemoteEntry(key=key, module_version=record.module_version,
                                                               fingerprint=record.fingerprint,
                                                               platform=record.platform, modified=mine)]
        return key

    def remove(self, workspace: str) -> None:
        m = _WORKSPACE.fullmatch(workspace)
        if m is None:
            return
        try:
            s3 = self._client()
            prefix = f"{PREFIX}{m['tenant']}/{m['layer']}.record."
            keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                                       Prefix=prefix)
                    for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        except Exception:  # noqa: BLE001 - offboarding deletes the whole prefix anyway
            pass
        with self._lock:
            if self._entries is not None:
                self._entries.pop(workspace, None)


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None) or {}
    return (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")


def record_store(target: Target) -> S3RecordStore | TfcRecordStore | None:
    """The store for a target: the state bucket on local/aws; the workspaces' tags on tfc
    (tenantform/tfc_records.py)."""
    return target.record_store()


def project_records(project: Any) -> Records:
    """The records of a project: the state backend's (with the platform's outputs for detection),
    cached in `.tenantform/records/`."""
    from tenantform.platform_inputs import PlatformOutputs, s3_outputs
    from tenantform.records import Records
    from tenantform.roots import ROOT_FILE

    def root_text(workspace: str) -> str | None:
        try:
            return (project.workspace_dir(workspace) / ROOT_FILE).read_text(encoding="utf-8")
        except OSError:
            return None

    store = record_store(project.target)
    platform = None
    if isinstance(store, S3RecordStore):
        platform = PlatformOutputs(s3_outputs(project.target))
    elif store is not None:
        from tenantform.tfc_records import tfc_outputs

        platform = PlatformOutputs(tfc_outputs(store))
    return Records(project.settings.work_dir, remote=store, platform=platform, root_text=root_text)
