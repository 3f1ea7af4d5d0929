"""Data stays data in every generated Terraform JSON: `${` and `%{` in a value OR an object key
(a platform.toml tag key), quotes and backslashes inside CDKTF expressions. Checked by terraform
itself: the generated piece goes into a scratch root's `locals`, and `terraform console` must
give back exactly the original data."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tenantform.platform_config import load_platform_config
from tenantform.roots import render_apps_root, render_infra_root
from tenantform.targets import AwsTarget, Settings, TargetKind
from tenantform.tenant import Tenant
from tests.conftest import require_terraform

HOSTILE_KEY = "${path.cwd}"
HOSTILE_VALUE = '%{ if true }x%{ endif }${path.root}'
TAGS = {"managed-by": "tenantform", HOSTILE_KEY: HOSTILE_VALUE, "team": "%{for x in [1]}y%{endfor}"}


def terraform_sees(tmp_path: Path, expressions: dict[str, object]) -> dict[str, object]:
    """Evaluate each piece of generated JSON as terraform reads it; return the values."""
    terraform = require_terraform()
    root = tmp_path / "scratch"
    root.mkdir(exist_ok=True)
    (root / "main.tf.json").write_text(json.dumps({"locals": expressions}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    seen = {}
    for name in expressions:
        proc = subprocess.run([terraform, "console"], input=f"jsonencode(local.{name})\n", cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        seen[name] = json.loads(json.loads(proc.stdout.strip()))
    return seen


@pytest.fixture
def hostile_platform(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "platform.toml"
    lines = "\n".join(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in TAGS.items())
    path.write_text(f"[tags]\n{lines}\n", encoding="utf-8")
    return load_platform_config(path)


def test_roots_escape_keys_and_values_of_tags_and_inputs(tmp_path: Path, hostile_platform) -> None:  # noqa: ANN001
    target = AwsTarget(Settings(project_dir=tmp_path, target=TargetKind.AWS, state_bucket="b"), hostile_platform)
    tenant = Tenant.create(id="acme", company_name='Acme ${path.cwd} %{x} "quoted"', admin_email="a@acme.example.com",
                           tier="basic")
    infra = render_infra_root(tenant, target=target, platform=hostile_platform, version="v1", out_dir=tmp_path)
    apps = render_apps_root(tenant, target=target, platform=hostile_platform, version="v1", out_dir=tmp_path)
    assert f"$${{path.cwd}}" in infra["module"]["tenant"]["tags"]  # escaped key, as written
    seen = terraform_sees(tmp_path, {
        "provider_tags": infra["provider"]["aws"][0]["default_tags"][0]["tags"],
        "module_tags": infra["module"]["tenant"]["tags"],
        "company": infra["module"]["tenant"]["company_name"],
    })
    assert seen["provider_tags"] == TAGS
    assert seen["module_tags"] == {**TAGS, "tenant": "acme", "tier": "basic"}
    assert seen["company"] == tenant.company_name
    assert HOSTILE_KEY not in json.dumps(apps).replace("$" + HOSTILE_KEY, "")  # apps root: only escaped, if at all


def test_the_literal_tenant_stack_keeps_hostile_data_literal(tmp_path: Path, hostile_platform) -> None:  # noqa: ANN001
    """modules/tenant_stack.py (benchmarks, tests): literal inputs, a catalogue item built with
    `${jsonencode(...)}`. Quotes, backslashes, `%{` and `${` must survive both paths."""
    testing = pytest.importorskip("cdktf").Testing
    from modules.tenant_stack import TenantStack
    from tenantform.synthesis import AppConfig

    company = 'Acme "Co" \\ %{x} ${path.cwd}'
    tenant = Tenant.create(id="acme", company_name=company, admin_email="a@acme.example.com", tier="basic")
    stack = TenantStack(testing.app(), "tenant-acme", tenant=tenant, platform=hostile_platform,
                        config=AppConfig(platform_config_path="platform.toml"))
    doc = json.loads(testing.synth(stack))
    item = doc["resource"]["aws_dynamodb_table_item"]["catalogue_entry"]["item"]
    # references to resources are unknown without a plan: replace them with strings, keep the rest
    item = re.sub(r"\b(aws_[a-z0-9_]+)\.(\w+)\.(\w+)\b", r'"\1.\3"', item)  # pools, the API key
    table = doc["resource"]["aws_dynamodb_table"]["order_table"]
    seen = terraform_sees(tmp_path, {"item": item, "tags": table["tags"]})
    assert json.loads(seen["item"])["company_name"] == {"S": company}
    assert seen["tags"] == {**TAGS, "tenant": "acme", "tier": "basic"}
