"""Bad input through the real command line: a clear message naming the field, a non-zero exit,
and nothing written, synthesised, started or applied."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import Cli

CASES = [
    (("onboard", "tenant=Acme"), "field 'id'", "DNS-1123"),
    (("onboard", "tenant=kube-system"), "reserved", "DNS-1123"),
    (("onboard", "tenant=default"), "reserved", "DNS-1123"),
    (("onboard", "tenant=../etc/passwd"), "field 'id'", "DNS-1123"),
    (("onboard", "tenant=a;rm -rf /"), "field 'id'", "DNS-1123"),
    (("onboard", "tenant=" + "a" * 64), "characters long", "1-32 characters"),
    (("onboard", "tenant=acme", "tier=gold"), "field 'tier'", "basic, standard, premium, platinum"),
    (("onboard", "tenant=acme", "email=not-an-email"), "field 'admin_email'", "name@example.com"),
    (("onboard", "tenant=acme", "name="), "field 'company_name'", "printable"),
    (("onboard",), "field 'tenant' is missing", "tenant=<id>"),
    (("onboard", "tenant=acme", "target=mars"), "target", "local, aws, tfc"),
    (("offboard", "tenant=ghost", "--yes"), "no tenant 'ghost'", "known tenants"),
    (("update", "tenant=ghost", "tier=premium", "--yes"), "no tenant 'ghost'", "known tenants"),
]


def tree_digest(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, problem, allowed", CASES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_refused_with_the_field_named_and_nothing_written(fresh_project: Cli, args: tuple[str, ...],
                                                          problem: str, allowed: str) -> None:
    before = tree_digest(fresh_project.project_dir)
    result = fresh_project.run(*args, check=False)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert problem in message and allowed in message, message
    assert "Traceback" not in message
    assert tree_digest(fresh_project.project_dir) == before  # no tenant file, no cdktf.out, no server state


def test_malformed_tenant_file_is_named_and_stops_synth(fresh_project: Cli) -> None:
    tenants = fresh_project.project_dir / "tenants"
    (tenants / "good.toml").write_text('id = "good"\ncompany_name = "Good"\nadmin_email = "a@good.example"\ntier = "basic"\n')
    (tenants / "bad.toml").write_text('id = "bad"\ncompany_name = "Bad"\nadmin_email = "a@bad.example"\ntier = "gold"\n')
    (tenants / "broken.toml").write_text('id = "broken\n')
    before = tree_digest(fresh_project.project_dir)
    for args, fragment in ((("onboard", "tenant=bad"), "bad.toml: field 'tier' is 'gold'"),
                           (("onboard", "tenant=broken"), "broken.toml: field '(file)' is not valid TOML"),
                           (("synth",), "bad.toml: field 'tier'"),
                           (("tenants",), "bad.toml: field 'tier'")):
        result = fresh_project.run(*args, check=False)
        assert result.returncode != 0, args
        assert fragment in result.stderr, (args, result.stderr)
    assert tree_digest(fresh_project.project_dir) == before


def test_unknown_field_in_tenant_file(fresh_project: Cli) -> None:
    (fresh_project.project_dir / "tenants" / "acme.toml").write_text(
        'id = "acme"\ncompany_name = "A"\nadmin_email = "a@acme.example"\ntier = "basic"\nquota = 9\n')
    result = fresh_project.run("onboard", "tenant=acme", check=False)
    assert result.returncode != 0
    assert "field 'quota' is not a tenant field; allowed: id, company_name, admin_email, tier" in result.stderr


@pytest.mark.integration
def test_bad_input_leaves_the_state_bucket_untouched(local_project: Cli) -> None:
    project = local_project.project()
    s3 = project.target.client("s3")

    def bucket() -> list[tuple[str, str]]:
        versions = s3.list_object_versions(Bucket=project.target.state_bucket)
        return sorted((v["Key"], v["VersionId"]) for v in versions.get("Versions", []))

    before_bucket, before_tree = bucket(), tree_digest(local_project.project_dir / "tenants")
    before_out = tree_digest(local_project.project_dir / "cdktf.out")
    for args, _, _ in CASES:
        assert local_project.run(*args, check=False).returncode != 0
    assert bucket() == before_bucket
    assert tree_digest(local_project.project_dir / "tenants") == before_tree
    assert tree_digest(local_project.project_dir / "cdktf.out") == before_out
