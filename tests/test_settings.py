"""Settings as documented: INVOKE_TENANTFORM_<NAME> for every setting (named in invoke.yaml or not),
TF_CLOUD_* for HCP Terraform (invoke.yaml wins), a provider mirror remembered by the project.

The settings are observed as the real `invoke tenants` resolves them: a test-only sitecustomize on
PYTHONPATH replaces the library call behind the task with one that prints the Settings it got.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from tenantform.settings_sources import TFC_KEYS
from tenantform.targets import Settings
from tests.conftest import Cli

SHOW = textwrap.dedent("""
    import json, os
    if os.environ.get("TENANTFORM_TEST_SHOW_SETTINGS"):
        import tenantform.workflows as workflows

        def show(project):
            s = project.settings
            print("SETTINGS " + json.dumps({
                "target": s.target.value, "state_bucket": s.state_bucket, "aws_profile": s.aws_profile,
                "kubeconfig": s.kubeconfig, "kube_context": s.kube_context, "lock_timeout": s.lock_timeout,
                "parallelism": s.parallelism, "terraform_bin": s.terraform_bin, "tfc": dict(s.tfc),
                "provider_mirror": str(s.provider_mirror) if s.provider_mirror else None}))
            return []

        workflows.list_tenants = show
""")


@pytest.fixture
def show(fresh_project: Cli, tmp_path: Path):  # noqa: ANN201
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SHOW, encoding="utf-8")

    def settings(env: dict[str, str] | None = None, yaml: str | None = None) -> dict:
        if yaml is not None:
            (fresh_project.project_dir / "invoke.yaml").write_text(yaml, encoding="utf-8")
        env = {"PYTHONPATH": str(site), "TENANTFORM_TEST_SHOW_SETTINGS": "1", **(env or {})}
        proc = fresh_project.run("tenants", env_overrides=env)
        (line,) = [x for x in proc.stdout.splitlines() if x.startswith("SETTINGS ")]
        return json.loads(line.removeprefix("SETTINGS "))

    return settings


OVERRIDES = {
    "target": ("aws", "aws"), "state_bucket": ("other-bucket", "other-bucket"), "aws_profile": ("ops", "ops"),
    "kubeconfig": ("/k/config", "/k/config"), "kube_context": ("ctx", "ctx"), "lock_timeout": ("5m", "5m"),
    "parallelism": ("7", 7), "terraform_bin": ("tofu", "tofu"),
}


def test_every_setting_is_covered_here() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)} - {"project_dir", "provider_mirror", "tfc"}
    assert fields == set(OVERRIDES)


def test_tfc_keys_match_the_tfc_settings() -> None:
    from tenantform.tfc import TfcSettings

    assert set(TFC_KEYS) == {f.name for f in dataclasses.fields(TfcSettings)}


def test_every_setting_follows_its_environment_variable(show) -> None:  # noqa: ANN001
    env = {f"INVOKE_TENANTFORM_{name.upper()}": given for name, (given, _) in OVERRIDES.items()}
    env |= {"INVOKE_TENANTFORM_TFC_ORGANIZATION": "org-from-env", "INVOKE_TENANTFORM_TFC_PLAN_ONLY": "true",
            "INVOKE_TENANTFORM_TFC_VARIABLE_SETS": "aws-creds, other", "INVOKE_TENANTFORM_TFC_POLL_INTERVAL": "0.5"}
    got = show(env)
    for name, (_, expected) in OVERRIDES.items():
        assert got[name] == expected, name
    assert got["tfc"] == {"organization": "org-from-env", "plan_only": True, "variable_sets": ["aws-creds", "other"],
                          "poll_interval": 0.5}


def test_defaults_without_environment(show) -> None:  # noqa: ANN001
    got = show()
    # state_bucket unset: the target derives it (tenantform-state locally, an account-scoped name on aws).
    assert (got["target"], got["state_bucket"], got["aws_profile"], got["tfc"]) == ("local", None, None, {})


def test_tf_cloud_variables_fill_what_invoke_yaml_leaves_out(show) -> None:  # noqa: ANN001
    env = {"TF_CLOUD_ORGANIZATION": "env-org", "TF_CLOUD_PROJECT": "env-project", "TF_CLOUD_HOSTNAME": "tfe.example"}
    assert show(env)["tfc"] == {"organization": "env-org", "project": "env-project", "hostname": "tfe.example"}
    yaml = "tenantform:\n  tfc:\n    organization: yaml-org\n"
    assert show(env, yaml=yaml)["tfc"] == {"organization": "yaml-org", "project": "env-project",
                                           "hostname": "tfe.example"}


def test_a_provider_mirror_given_once_is_remembered(show, fresh_project: Cli, tmp_path: Path,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tenantform.targets import write_cli_config

    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io" / "hashicorp" / "aws").mkdir(parents=True)
    assert show({"TENANTFORM_PROVIDER_MIRROR": ""})["provider_mirror"] is None
    monkeypatch.setenv("TENANTFORM_PROVIDER_MIRROR", str(mirror))
    # what every terraform run does first (a command run with the variable set)
    write_cli_config(Settings.from_mapping({}, project_dir=fresh_project.project_dir))
    assert show({"TENANTFORM_PROVIDER_MIRROR": ""})["provider_mirror"] == str(mirror)
    other = tmp_path / "other"
    other.mkdir()
    assert show({"TENANTFORM_PROVIDER_MIRROR": str(other)})["provider_mirror"] == str(other)  # the variable wins


def test_init_without_a_registry_says_how_to_point_at_a_mirror(tmp_path: Path, terraform: str) -> None:
    import os

    from tenantform.errors import TerraformFailed
    from tenantform.terraform import Terraform

    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf.json").write_text(json.dumps({"terraform": {"required_providers": {
        "aws": {"source": "hashicorp/aws", "version": "5.100.0"}}}}), encoding="utf-8")
    rc = tmp_path / "terraformrc"
    rc.write_text("disable_checkpoint = true\n", encoding="utf-8")  # no mirror: the registry, unreachable here
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")} | {"TF_CLI_CONFIG_FILE": str(rc)}
    with pytest.raises(TerraformFailed) as raised:
        Terraform(root, env=env, log_dir=tmp_path / "logs").init()
    message = str(raised.value)
    assert "could not reach the provider registry" in message and "TENANTFORM_PROVIDER_MIRROR=" in message
    assert "\n" not in message
