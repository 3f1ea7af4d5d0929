"""Where settings come from besides invoke.yaml: defaults declared for invoke, environment variables
terraform itself defines, and what the project remembers (README.md, "Targets and configuration").

- `config_defaults()`: every setting, declared in the collection's configuration (`ns.configure`),
  so that invoke maps `INVOKE_TENANTFORM_<NAME>` (and `INVOKE_TENANTFORM_TFC_<KEY>`) onto it
  whether or not invoke.yaml names it. A `None` default means "the Settings default".
- `TF_CLOUD_ORGANIZATION`, `TF_CLOUD_PROJECT`, `TF_CLOUD_HOSTNAME`: terraform's own variables for
  HCP Terraform; a value in invoke.yaml (or INVOKE_TENANTFORM_TFC_*) wins.
- The provider mirror (`TENANTFORM_PROVIDER_MIRROR`) is remembered in `.tenantform/provider-mirror`
  the first time a command runs terraform with it, and used when the variable is unset.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from tenantform.errors import InvalidInput

MIRROR_ENV = "TENANTFORM_PROVIDER_MIRROR"
MIRROR_FILE = "provider-mirror"
TF_CLOUD_ENV = {"organization": "TF_CLOUD_ORGANIZATION", "project": "TF_CLOUD_PROJECT",
                "hostname": "TF_CLOUD_HOSTNAME"}
# The keys of tenantform.tfc (tenantform.tfc.TfcSettings; importing it costs pytfe's ~2 s, so they are
# listed here and tests/test_settings.py checks the two agree) and how an environment string converts.
TFC_KEYS: dict[str, type] = {
    "organization": str, "project": str, "hostname": str, "address": str, "terraform_version": str,
    "execution_mode": str, "agent_pool_id": str, "variable_sets": tuple, "plan_only": bool,
    "poll_interval": float, "run_timeout": float, "ca_bundle": str, "enable_kubernetes_runs": bool,
}
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def config_defaults(setting_names: list[str]) -> dict[str, Any]:
    """`tenantform:` defaults for invoke's configuration: every setting, every tfc key, all None."""
    values: dict[str, Any] = {name: None for name in setting_names}
    values["tfc"] = {key: None for key in TFC_KEYS}
    return values


def _convert(key: str, value: Any) -> Any:
    kind = TFC_KEYS.get(key)
    if not isinstance(value, str) or kind in (None, str):
        return value
    if kind is bool:
        lowered = value.strip().lower()
        if lowered in TRUE_WORDS + FALSE_WORDS:
            return lowered in TRUE_WORDS
        raise InvalidInput(field=f"tfc.{key}", problem=f"is {value!r}", allowed="true or false",
                           source="INVOKE_TENANTFORM_TFC_" + key.upper())
    if kind is tuple:
        return [part.strip() for part in value.split(",") if part.strip()]
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(field=f"tfc.{key}", problem=f"is {value!r}", allowed="a number",
                           source="INVOKE_TENANTFORM_TFC_" + key.upper()) from None


def tfc_mapping(configured: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """tenantform.tfc with unset keys dropped, environment strings converted, TF_CLOUD_* filled in."""
    env = os.environ if environ is None else environ
    result = {key: _convert(key, value) for key, value in (configured or {}).items() if value is not None}
    for key, variable in TF_CLOUD_ENV.items():
        if key not in result and env.get(variable, "").strip():
            result[key] = env[variable].strip()
    return result


def provider_mirror(work_dir: Path, environ: Mapping[str, str] | None = None) -> Path | None:
    """TENANTFORM_PROVIDER_MIRROR, else the one this project remembered, else None (the registry)."""
    env = os.environ if environ is None else environ
    given = env.get(MIRROR_ENV, "").strip()
    if given:
        return Path(given)
    saved = work_dir / MIRROR_FILE
    if saved.is_file():
        text = saved.read_text(encoding="utf-8").strip()
        return Path(text) if text else None
    return None


def remember_provider_mirror(work_dir: Path, mirror: Path | None, environ: Mapping[str, str] | None = None) -> None:
    """Save a mirror given in the environment, for the commands that run without it."""
    env = os.environ if environ is None else environ
    if mirror is None or not env.get(MIRROR_ENV, "").strip():
        return
    saved = work_dir / MIRROR_FILE
    text = f"{mirror}\n"
    if not saved.is_file() or saved.read_text(encoding="utf-8") != text:
        work_dir.mkdir(parents=True, exist_ok=True)
        saved.write_text(text, encoding="utf-8")
