"""`invoke check --target aws` builds what users deploy without an AWS account, and scans every
synthesised module version as it is (variables unresolved) besides the per-tier instances."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import REPO, Cli


@pytest.mark.integration
def test_check_renders_the_aws_build_without_credentials_and_scans_module_versions(fresh_project: Cli) -> None:
    shutil.copy2(REPO / "security-exceptions.toml", fresh_project.project_dir / "security-exceptions.toml")
    no_aws = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_CONFIG_FILE": "/nonexistent",
              "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}
    proc = fresh_project.run("check", "--target", "aws", "--only", "parliament", env_overrides=no_aws, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rendering the aws build with state bucket 'tenantform-state-check-only'" in proc.stderr
    scan = fresh_project.project_dir / ".tenantform" / "check" / "scan"
    modules = sorted(p.name for p in (fresh_project.project_dir / "cdktf.out" / "modules").iterdir())
    assert len(modules) == 1
    assert {p.name for p in scan.iterdir()} == {
        "platform", "platform-k8s", *(f"module-{layer}-{tier}" for layer in ("infra", "apps")
                                      for tier in ("basic", "standard", "premium", "platinum")),
        f"module-infra-version-{modules[0]}", f"module-apps-version-{modules[0]}"}
    # the pool's ABAC roles (created on every platform) were read from the synthesised platform
    report = json.loads((fresh_project.project_dir / ".tenantform" / "check" / "report.json").read_text())
    (abac,) = [r for r in report if r["tool"] == "abac"]
    assert (abac["checked"], abac["passed"], abac["findings"]) == (4, 4, [])
    backend = (fresh_project.project_dir / "cdktf.out" / "workspaces" / "platform" / "cdk.tf.json").read_text()
    assert '"bucket": "tenantform-state-check-only"' in backend


def test_an_exception_can_be_limited_to_the_builds_it_applies_to(tmp_path) -> None:  # noqa: ANN001
    from tenantform.checks import load_exceptions
    from tenantform.errors import TenantformError

    path = tmp_path / "security-exceptions.toml"
    path.write_text('[[checkov]]\ncheck = "CKV2_AWS_15"\ntarget = "platform"\nresource = "x"\n'
                    'builds = ["aws", "tfc"]\nreason = "r"\n', encoding="utf-8")
    (entry,) = load_exceptions(path)
    assert entry.builds == ("aws", "tfc")
    path.write_text(path.read_text(encoding="utf-8").replace('["aws", "tfc"]', '["prod"]'), encoding="utf-8")
    with pytest.raises(TenantformError, match=r"builds is \['prod'\]; allowed: a list of local, aws, tfc"):
        load_exceptions(path)
    shipped = {e.check: e.builds for e in load_exceptions(REPO / "security-exceptions.toml")}
    assert shipped["CKV2_AWS_15"] == ("aws", "tfc") and shipped["CKV_AWS_119"] == ()
