"""Put what the target rendered (tenantform.targets) into a CDKTF stack: backend and aws provider.

The orchestration decides backends and provider settings per target; stacks only place them.
"""

from __future__ import annotations

from typing import Any

from cdktf import TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from constructs import Construct

from tenantform.pins import PROVIDER_REQUIREMENTS


def apply_backend(stack: TerraformStack, entries: dict[str, Any], *, providers: tuple[str, ...]) -> None:
    """`entries` holds `backend` ({type: config}), or `cloud`, and `required_version`."""
    if "cloud" in entries:
        stack.add_override("terraform.backend", None)  # no backend block at all beside `cloud`
    elif "backend" in entries:
        stack.add_override("terraform.backend.local", None)  # CDKTF's default
    for kind, settings in entries.get("backend", {}).items():
        stack.add_override(f"terraform.backend.{kind}", settings)
    if "cloud" in entries:
        stack.add_override("terraform.cloud", entries["cloud"])
    if "required_version" in entries:
        stack.add_override("terraform.required_version", entries["required_version"])
    stack.add_override("terraform.required_providers",
                       {name: PROVIDER_REQUIREMENTS[name] for name in providers})


def aws_provider(scope: Construct, settings: dict[str, Any], *, region: str) -> AwsProvider:
    """The aws provider with the target's settings (region, default tags, emulator switches)."""
    settings = dict(settings) or {"region": region}
    default_tags = [AwsProviderDefaultTags(tags=block["tags"]) for block in settings.pop("default_tags", [])]
    return AwsProvider(scope, "aws", default_tags=default_tags or None, **settings)
