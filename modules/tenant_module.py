"""The per-tenant module stacks: one TerraformStack per layer, synthesised once per module version.

The stack declares one variable per entry of tenantform.module_schema, builds the layer's
construct from those variables, and drops everything a *module* must not carry: the default
local backend and any provider block (a provider inside a module silently replaces the
root's, which once sent a plan to real AWS instead of moto).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from cdktf import TerraformOutput, TerraformStack, TerraformVariable, TerraformVariableValidationConfig, Token
from constructs import Construct

from modules.tenant_infra import TenantInfra
from modules.tenant_props import AppsProps, InfraProps
from tenantform.module_schema import APPS_OUTPUTS, APPS_VARIABLES, INFRA_OUTPUTS, INFRA_VARIABLES, Variable
from tenantform.names import APPS, INFRA
from tenantform.pins import PROVIDER_REQUIREMENTS


def variable_inputs(scope: Construct, variables: Mapping[str, Variable]) -> dict[str, Any]:
    """Declare the module's variables; return their values as tokens, typed for the constructs' props."""
    values: dict[str, Any] = {}
    for name, spec in variables.items():
        var = TerraformVariable(scope, f"var_{name}", type=spec.type, description=spec.description,
                                nullable=False, validation=[
                                    TerraformVariableValidationConfig(
                                        condition=condition.replace("{var}", f"var.{name}"), error_message=message)
                                    for condition, message in spec.validation] or None)
        var.override_logical_id(name)
        if spec.type == "bool":
            values[name] = var.boolean_value
        elif spec.type == "number":
            values[name] = var.number_value
        elif spec.type.startswith("list("):
            values[name] = var.list_value
        elif spec.type.startswith("map("):
            values[name] = Token.as_string_map(var.value)
        else:
            values[name] = var.string_value
    return values


class TenantModuleStack(TerraformStack):
    """One layer of the tenant module, as a reusable Terraform module directory."""

    def __init__(self, scope: Construct, stack_id: str, *, layer: str, emulator: bool = False) -> None:
        super().__init__(scope, stack_id)
        if layer == INFRA:
            props = InfraProps.from_values(variable_inputs(self, INFRA_VARIABLES))
            construct = TenantInfra(self, "tenant", props=props, ignore_emulator_drift=emulator)
            descriptions = INFRA_OUTPUTS
            providers = ("aws",)
        elif layer == APPS:
            from modules.tenant_apps import TenantApps  # kubernetes bindings only when needed

            construct = TenantApps(self, "tenant", props=AppsProps.from_values(variable_inputs(self, APPS_VARIABLES)))
            descriptions = APPS_OUTPUTS
            providers = ("kubernetes",)
        else:
            raise ValueError(f"unknown layer {layer!r}")
        for name, value in construct.outputs().items():
            output = TerraformOutput(self, f"out_{name}", value=value, description=descriptions[name])
            output.override_logical_id(name)
        self.add_override("terraform.backend", None)
        self.add_override("terraform.required_providers",
                          {name: PROVIDER_REQUIREMENTS[name] for name in providers})
