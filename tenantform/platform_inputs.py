"""Platform-aware change detection: which platform outputs a tenant root reads, and their values now.

A tenant root reads the platform's outputs through `terraform_remote_state` (tenantform/contract.py:
`${data.terraform_remote_state.platform.outputs.<name>}`, and `usage_plan_ids["<tier>"]` for one
tier's usage plan). A record of an applied root carries `platform`: a digest of exactly the
values that root read, at apply time. Change detection renders the root, finds the outputs it
reads, takes their current values from the platform's state (one read of the platform state
per command) and compares digests: a new cluster endpoint marks the apps roots (which read it),
a new premium usage plan marks only premium tenants, a new VPC marks nobody (no root reads it).

The outputs come from a source, a callable returning the platform's outputs by name (None when
unknown): `s3_outputs` reads the platform state object from the state bucket (local, aws);
tenantform/tfc_records.py `tfc_outputs` reads the platform workspace's current state version
outputs from HCP Terraform (tfc). Both feed the same digest.

Where the platform state cannot be read (not deployed, unreachable) the digest is "": no
platform information, and detection falls back to the root and module version alone.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import TYPE_CHECKING, Any, Callable

from tenantform.contract import platform_output_names
from tenantform.names import PLATFORM_STATE_KEY

if TYPE_CHECKING:
    from tenantform.targets import Target

OutputsSource = Callable[[], "dict[str, Any] | None"]
"""Returns the platform's outputs, name -> value; None when they cannot be read."""

_READ = re.compile(r"data\.terraform_remote_state\.platform\.outputs\.([a-z_]+)(\[\\?\"([^\"\\]+)\\?\"\])?")


def outputs_read(root_text: str) -> list[tuple[str, str | None]]:
    """(output, key or None) pairs the root reads, sorted; `usage_plan_ids["basic"]` -> ("usage_plan_ids", "basic")."""
    known = set(platform_output_names())
    found = {(m.group(1), m.group(3)) for m in _READ.finditer(root_text) if m.group(1) in known}
    # reading the whole map (no key) also counts every key
    return sorted(found, key=lambda item: (item[0], item[1] or ""))


def digest(reads: list[tuple[str, str | None]], outputs: dict[str, Any] | None) -> str:
    """16 hex of SHA-256 over the values read; "" when the platform's outputs are unknown."""
    if outputs is None:
        return ""
    values = []
    for name, key in reads:
        value = outputs.get(name)
        if key is not None and isinstance(value, dict):
            value = value.get(key)
        values.append([name, key, value])
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def s3_outputs(target: Target) -> OutputsSource:
    """The outputs in the platform state object of the target's state bucket (local, aws)."""

    def read() -> dict[str, Any] | None:
        try:
            s3 = target.client("s3")
            body = s3.get_object(Bucket=target.state_bucket, Key=PLATFORM_STATE_KEY)["Body"].read()
            state = json.loads(body)
        except Exception:  # noqa: BLE001 - not deployed or unreachable: no platform information
            return None
        return {name: out.get("value") for name, out in (state.get("outputs") or {}).items()}

    return read


class PlatformOutputs:
    """The platform's outputs, read from `source` once per command (None if unreadable)."""

    def __init__(self, source: OutputsSource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._loaded = False
        self._values: dict[str, Any] | None = None

    def values(self) -> dict[str, Any] | None:
        with self._lock:
            if not self._loaded:
                self._values = self.source()
                self._loaded = True
            return self._values

    def refresh(self) -> None:
        with self._lock:
            self._loaded = False

    def digest_of(self, root_text: str) -> str:
        return digest(outputs_read(root_text), self.values())
