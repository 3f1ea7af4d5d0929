"""Tenant definitions: every rule refuses with the field named, and good files load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantform.errors import InvalidInput, TenantformError
from tenantform.tenant import MAX_TENANT_ID_LENGTH, Tenant, TenantRegistry, parse_tenant
from tenantform.tiers import Tier

GOOD = 'id = "acme"\ncompany_name = "Acme Corp"\nadmin_email = "admin@acme.example.com"\ntier = "premium"\n'


def test_good_file_loads() -> None:
    tenant = parse_tenant(GOOD, source="tenants/acme.toml", expected_id="acme")
    assert tenant == Tenant(id="acme", company_name="Acme Corp", admin_email="admin@acme.example.com",
                            tier=Tier.PREMIUM)


@pytest.mark.parametrize("tenant_id, problem", [
    ("", "is empty"),
    ("Acme", "not a DNS-1123 label"),
    ("acme_corp", "not a DNS-1123 label"),
    ("-acme", "not a DNS-1123 label"),
    ("acme-", "not a DNS-1123 label"),
    ("1acme", "not a DNS-1123 label"),
    ("acme.corp", "not a DNS-1123 label"),
    ("a" * (MAX_TENANT_ID_LENGTH + 1), "characters long"),
    ("default", "reserved"),
    ("kube-system", "reserved"),
    ("kube-anything", "reserved"),
    ("platform", "reserved"),
    ("ingress-nginx", "reserved"),
    ("lawsons", "contains 'aws'"),
    ("acmé", "not a DNS-1123 label"),
    ("аcme", "not a DNS-1123 label"),  # Cyrillic a
    ("../etc", "not a DNS-1123 label"),
    ("acme;rm -rf", "not a DNS-1123 label"),
])
def test_bad_ids_are_refused_naming_the_field(tenant_id: str, problem: str) -> None:
    text = GOOD.replace('id = "acme"', f"id = {tenant_id!r}".replace("'", '"'))
    with pytest.raises(InvalidInput) as info:
        parse_tenant(text, source="tenants/x.toml")
    assert info.value.field == "id"
    assert problem in str(info.value)
    assert "DNS-1123" in info.value.allowed
    assert str(info.value).startswith("tenants/x.toml: field 'id'")


def test_longest_id_is_accepted() -> None:
    tenant_id = "a" * MAX_TENANT_ID_LENGTH
    assert Tenant.create(id=tenant_id, company_name="A", admin_email="a@b.example", tier="basic").id == tenant_id


@pytest.mark.parametrize("field, value, fragment", [
    ("tier", '"gold"', "allowed: basic, standard, premium, platinum"),
    ("tier", "3", "allowed: basic, standard, premium, platinum"),
    ("admin_email", '"not-an-email"', "not an email address"),
    ("admin_email", '"a@b"', "not an email address"),
    ("admin_email", '"a b@example.com"', "not an email address"),
    ("admin_email", '"ädmin@example.com"', "not an email address"),
    ("company_name", '""', "is empty"),
    ("company_name", '"Acme\\u0000Corp"', "control"),
    ("company_name", '"' + "x" * 200 + '"', "characters long"),
])
def test_bad_fields_are_refused(field: str, value: str, fragment: str) -> None:
    lines = [line for line in GOOD.splitlines() if not line.startswith(field)] + [f"{field} = {value}"]
    with pytest.raises(InvalidInput) as info:
        parse_tenant("\n".join(lines), source="t.toml")
    assert info.value.field == field
    assert fragment in str(info.value)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_tenant(GOOD + 'owner = "me"\n', source="t.toml")
    assert info.value.field == "owner"
    assert "id, company_name, admin_email, tier" in info.value.allowed


def test_missing_field_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_tenant(GOOD.replace('tier = "premium"\n', ""), source="t.toml")
    assert info.value.field == "tier"
    assert "is missing" in str(info.value)


def test_malformed_toml_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_tenant('id = "acme\n', source="t.toml")
    assert "not valid TOML" in str(info.value)


def test_file_name_must_match_id(tmp_path: Path) -> None:
    (tmp_path / "other.toml").write_text(GOOD)
    with pytest.raises(InvalidInput) as info:
        TenantRegistry(tmp_path).get("other")
    assert info.value.field == "id" and "named 'other'.toml" in str(info.value)


def test_registry_round_trip_and_missing(tmp_path: Path) -> None:
    registry = TenantRegistry(tmp_path / "tenants")
    tenant = Tenant.create(id="acme", company_name='Acme "${jndi}" Corp', admin_email="a@acme.example",
                           tier="basic")
    registry.save(tenant)
    assert registry.get("acme") == tenant
    assert registry.ids() == ["acme"]
    with pytest.raises(TenantformError, match="no tenant 'globex'.*known tenants: acme"):
        registry.get("globex")
    registry.remove("acme")
    assert registry.ids() == []
