"""A complete stand-alone stack for one tenant's AWS layer, with its provider and literal inputs.

Not what tenants run (they run thin roots over the shared module): this is what the tests
assert on per tier, and what the naive benchmark baseline instantiates once per tenant.
"""

from __future__ import annotations

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider
from constructs import Construct

from modules.tenant_infra import TenantInfra
from modules.tenant_props import InfraProps
from tenantform.module_schema import infra_inputs
from tenantform.platform_config import PlatformConfig
from tenantform.roots import escape
from tenantform.synthesis import AppConfig
from tenantform.tenant import Tenant


class TenantStack(TerraformStack):
    def __init__(self, scope: Construct, stack_id: str, *, tenant: Tenant, platform: PlatformConfig,
                 config: AppConfig) -> None:
        super().__init__(scope, stack_id)
        AwsProvider(self, "aws", region=platform.region)
        # Literal inputs are data: escaped like a root's (`${`, `%{`, keys included)
        props = InfraProps.from_values(escape(infra_inputs(tenant, platform, platform_refs=False)))
        self.infra = TenantInfra(self, "tenant", props=props, ignore_emulator_drift=config.emulator)
        for name, value in self.infra.outputs().items():
            TerraformOutput(self, name, value=value)
