"""Safe defaults on the targets users deploy: a private EKS endpoint unless CIDRs are listed
(0.0.0.0/0 only with a reason), the VPC CNI add-on (network policies) required on aws and tfc,
and no localhost OAuth callback anywhere. Each refusal: one line, a non-zero exit, nothing
synthesised."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantform.errors import InvalidInput
from tenantform.platform_config import PlatformConfig, check_for_target, load_platform_config
from tests.conftest import Cli


def _load(tmp_path: Path, body: str) -> PlatformConfig:
    path = tmp_path / "platform.toml"
    path.write_text(body + "\n", encoding="utf-8")
    return load_platform_config(path)


def test_the_default_cluster_endpoint_is_private() -> None:
    config = PlatformConfig()
    assert (config.enable_endpoint_private_access, config.enable_endpoint_public_access) == (True, False)
    assert config.endpoint_public_access_cidrs == ()


@pytest.mark.parametrize(("body", "problem", "allowed"), [
    ("enable_endpoint_public_access = true", "is empty while enable_endpoint_public_access is true",
     "the CIDRs of your CI runners and operators"),
    ('enable_endpoint_public_access = true\nendpoint_public_access_cidrs = ["0.0.0.0/0"]',
     "contains 0.0.0.0/0 (the Kubernetes API open to the whole internet)", "endpoint_public_access_open_reason"),
    ('enable_endpoint_public_access = true\nendpoint_public_access_cidrs = ["203.0.113.0/24", "0.0.0.0/0"]\n'
     'endpoint_public_access_open_reason = "   "',
     "contains 0.0.0.0/0 (the Kubernetes API open to the whole internet)", "narrower CIDRs"),
])
def test_an_open_or_unlisted_public_endpoint_is_refused(tmp_path: Path, body: str, problem: str,
                                                         allowed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _load(tmp_path, body)
    assert (refused.value.field, refused.value.problem) == ("endpoint_public_access_cidrs", problem)
    assert allowed in refused.value.allowed and "\n" not in str(refused.value)


def test_listed_cidrs_or_an_explicit_reason_are_accepted(tmp_path: Path) -> None:
    listed = _load(tmp_path, 'enable_endpoint_public_access = true\nendpoint_public_access_cidrs = ["203.0.113.0/24"]')
    assert listed.endpoint_public_access_cidrs == ("203.0.113.0/24",)
    reasoned = _load(tmp_path, 'enable_endpoint_public_access = true\nendpoint_public_access_cidrs = ["0.0.0.0/0"]\n'
                               'endpoint_public_access_open_reason = "CI runs from changing addresses; IAM auth"')
    assert reasoned.endpoint_public_access_cidrs == ("0.0.0.0/0",)


@pytest.mark.parametrize("target", ["aws", "tfc"])
def test_no_vpc_cni_addon_is_refused_on_real_targets(target: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_for_target(PlatformConfig(enable_vpc_cni_addon=False), target, "platform.toml")
    assert str(refused.value) == (
        f"platform.toml: field 'enable_vpc_cni_addon' is false on the {target} target: without the VPC CNI "
        "add-on's network-policy agent the tenants' NetworkPolicies would not be enforced (namespaces could "
        "reach each other); allowed: true (only the local target turns it off)")
    check_for_target(PlatformConfig(), target, "platform.toml")  # the default passes
    check_for_target(PlatformConfig(enable_vpc_cni_addon=False), "local", "platform.toml")  # local: fine


@pytest.mark.parametrize("target", ["aws", "tfc"])
def test_the_cli_refuses_no_vpc_cni_addon_before_synthesising(fresh_project: Cli, target: str) -> None:
    toml = fresh_project.project_dir / "platform.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("enable_vpc_cni_addon = true",
                                                             "enable_vpc_cni_addon = false"), encoding="utf-8")
    refused = fresh_project.run("synth", "--target", target, check=False)
    assert refused.returncode == 2
    lines = [line for line in (refused.stdout + refused.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "field 'enable_vpc_cni_addon' is false on the" in lines[0], lines
    assert "Traceback" not in refused.stderr
    assert not (fresh_project.project_dir / "cdktf.out").exists()


def test_no_localhost_callback_on_any_target(tmp_path: Path) -> None:
    from tenantform.module_schema import infra_inputs
    from tenantform.tenant import Tenant

    tenant = Tenant.create(id="acme", company_name="Acme", admin_email="a@acme.example.com", tier="basic")
    for platform in (PlatformConfig(), PlatformConfig(domain="saas.example.com")):
        for refs in (True, False):
            urls = infra_inputs(tenant, platform, platform_refs=refs)["callback_urls"]
            assert len(urls) == 1 and urls[0].startswith("https://") and "localhost" not in urls[0], urls
    assert infra_inputs(tenant, PlatformConfig(domain="saas.example.com"))["callback_urls"] == \
        ["https://acme.app.saas.example.com/"]


@pytest.mark.parametrize(("image", "accepted"), [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantform/product:1.0.0", True),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantform/product@sha256:" + "a" * 64, True),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantform/product:latest", False),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/tenantform/product", False),
    ("registry.example.com:5000/product", False),
    ("product:", False),
])
def test_the_image_variables_refuse_latest_and_untagged_images(tmp_path: Path, image: str, accepted: bool) -> None:
    """The module's image variable validation, evaluated by terraform (console on a scratch root)."""
    import json
    import os
    import subprocess

    from tenantform.module_schema import APPS_VARIABLES
    from tests.conftest import require_terraform

    for name in ("product_image", "order_image"):
        ((condition, message),) = APPS_VARIABLES[name].validation
        assert "latest" in message
        (tmp_path / "main.tf.json").write_text(json.dumps({"locals": {
            "image": image.replace("${", "$${"), "ok": condition.replace("{var}", "local.image")}}), encoding="utf-8")
        proc = subprocess.run([require_terraform(), "console"], input="local.ok\n", cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env={k: v for k, v in os.environ.items() if not k.startswith("TF_")})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == ("true" if accepted else "false"), (image, proc.stdout)
