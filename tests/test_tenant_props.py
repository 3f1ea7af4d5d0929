"""The constructs' typed props and the module interface name the same inputs, with the same types.

modules/tenant_props.py has one frozen dataclass per tenant layer; tenantform/module_schema.py
declares the module's variables. A field without a variable (or the reverse) would be a
construct input the shared module never receives. No input is deliberately outside the
variables: TenantInfra's `ignore_emulator_drift` is a construct argument, not a prop.
"""

from __future__ import annotations

import dataclasses

import pytest

from modules.tenant_props import AppsProps, InfraProps
from tenantform.module_schema import APPS_VARIABLES, INFRA_VARIABLES, apps_inputs, infra_inputs
from tenantform.platform_config import PlatformConfig
from tenantform.tenant import Tenant

# Terraform type of a variable -> the annotation its field must carry (tenant_props' aliases)
ANNOTATIONS = {"string": "str", "bool": "Flag", "number": "Number", "list(string)": "Strings",
               "map(string)": "StringMap"}
LAYERS = [(InfraProps, INFRA_VARIABLES), (AppsProps, APPS_VARIABLES)]


@pytest.mark.parametrize(("props", "variables"), LAYERS, ids=["infra", "apps"])
def test_props_fields_are_the_module_variables(props: type, variables: dict) -> None:
    fields = {field.name: field.type for field in dataclasses.fields(props)}
    assert sorted(fields) == sorted(variables), (
        f"missing fields: {sorted(set(variables) - set(fields))}; extra fields: {sorted(set(fields) - set(variables))}")
    assert {name: fields[name] for name in variables} == {
        name: ANNOTATIONS[spec.type] for name, spec in variables.items()}


@pytest.mark.parametrize(("props", "variables"), LAYERS, ids=["infra", "apps"])
def test_props_are_frozen_and_refuse_unknown_or_missing_names(props: type, variables: dict) -> None:
    values = dict.fromkeys(variables, "x")
    built = props.from_values(values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.tenant_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError, match="order_tabel_name"):
        props.from_values({**values, "order_tabel_name": "x"})
    del values["order_table_name"]
    with pytest.raises(TypeError, match="order_table_name"):
        props.from_values(values)


def test_a_tenants_literal_inputs_make_props() -> None:
    tenant = Tenant.create(id="acme", company_name="Acme", admin_email="admin@acme.example.com", tier="premium")
    platform = PlatformConfig()
    infra = InfraProps.from_values(infra_inputs(tenant, platform, platform_refs=False))
    apps = AppsProps.from_values(apps_inputs(tenant, platform, irsa_role_arn="arn:aws:iam::1:role/r",
                                             image_registry="registry.example.com"))
    assert (infra.tenant_id, infra.tier, apps.namespace) == ("acme", "premium", infra.namespace)
    assert apps.image("order") == "registry.example.com/order:1.0.0"
    assert apps.table_name("order") == infra.order_table_name
