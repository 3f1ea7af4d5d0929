"""Backends placed into CDKTF stacks exactly as the target rendered them."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("cdktf")
from cdktf import Testing, TerraformStack  # noqa: E402

from modules.target_blocks import apply_backend  # noqa: E402
from tenantform.pins import PROVIDER_REQUIREMENTS  # noqa: E402


def synth_terraform_block(entries: dict) -> dict:
    stack = TerraformStack(Testing.app(), "s")
    apply_backend(stack, entries, providers=("aws",))
    return json.loads(Testing.synth(stack))["terraform"]


def test_s3_backend_replaces_the_default_local_one() -> None:
    block = synth_terraform_block({"backend": {"s3": {"bucket": "b", "key": "k", "use_lockfile": True}},
                                   "required_version": ">= 1.10.0"})
    assert block["backend"] == {"s3": {"bucket": "b", "key": "k", "use_lockfile": True}}
    assert block["required_version"] == ">= 1.10.0"
    assert block["required_providers"] == {"aws": PROVIDER_REQUIREMENTS["aws"]}


def test_cloud_block_leaves_no_backend_at_all() -> None:
    # terraform rejects an empty `backend` object beside `cloud` ("Missing block label")
    block = synth_terraform_block({"cloud": {"organization": "o", "workspaces": {"name": "platform"}}})
    assert "backend" not in block
    assert block["cloud"] == {"organization": "o", "workspaces": {"name": "platform"}}
