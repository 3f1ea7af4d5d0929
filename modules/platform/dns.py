"""The optional custom domain: Route53 zone, ACM certificates, API custom domain, records.

`*.app.<domain>` (one per tenant; each tenant's own state adds its alias record) and
`admin.<domain>` are served by CloudFront, whose certificate must live in us-east-1;
`api.<domain>` is a regional API Gateway custom domain with a certificate in the platform's region.
"""

from __future__ import annotations

from cdktf import TerraformProvider, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.acm_certificate import AcmCertificate
from cdktf_cdktf_provider_aws.acm_certificate_validation import AcmCertificateValidation
from cdktf_cdktf_provider_aws.api_gateway_base_path_mapping import ApiGatewayBasePathMapping
from cdktf_cdktf_provider_aws.api_gateway_domain_name import (
    ApiGatewayDomainName,
    ApiGatewayDomainNameEndpointConfiguration,
)
from cdktf_cdktf_provider_aws.data_aws_route53_zone import DataAwsRoute53Zone
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordAlias
from cdktf_cdktf_provider_aws.route53_zone import Route53Zone
from constructs import Construct

from modules.platform.frontends import Frontends
from modules.platform.ingress import Ingress
from tenantform.platform_config import PlatformConfig


def app_wildcard(domain: str) -> str:
    return f"*.app.{domain}"


def admin_host(domain: str) -> str:
    return f"admin.{domain}"


def api_host(domain: str) -> str:
    return f"api.{domain}"


class CustomDomain(Construct):
    """Zone + validated certificates; `route()` adds the API domain and the alias records."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig,
                 us_east_1: TerraformProvider) -> None:
        super().__init__(scope, construct_id)
        assert platform.domain, "CustomDomain needs platform.domain"
        self.domain = platform.domain
        self.name_servers: list[str] | None = None
        if platform.enable_hosted_zone_creation:
            zone = Route53Zone(self, "zone", name=self.domain, comment=f"{platform.name} platform")
            self.zone_id = zone.zone_id
            self.name_servers = zone.name_servers
        else:
            self.zone_id = DataAwsRoute53Zone(self, "zone", name=self.domain, private_zone=False).zone_id

        # CloudFront only takes certificates from us-east-1.
        self.frontend_certificate_arn = self._certificate(
            "frontend", app_wildcard(self.domain), [admin_host(self.domain)], provider=us_east_1)
        self.api_certificate_arn = self._certificate("api", api_host(self.domain), [], provider=None)

    def _certificate(self, construct_id: str, name: str, alternative_names: list[str],
                     provider: TerraformProvider | None) -> str:
        certificate = AcmCertificate(
            self, f"{construct_id}_certificate",
            domain_name=name,
            subject_alternative_names=alternative_names or None,
            validation_method="DNS",
            provider=provider,
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),
        )
        # One record per name, all known when synthesising: a `for_each` over the certificate's
        # validation options would not be (a set with unknown members has no known keys).
        by_name = f"{{ for option in {certificate.fqn}.domain_validation_options : option.domain_name => option }}"
        records = []
        for index, domain_name in enumerate([name, *alternative_names]):
            def option(attribute: str, domain_name: str = domain_name) -> str:
                return "${" + by_name + '["' + domain_name + '"].' + attribute + "}"

            records.append(Route53Record(
                self, f"{construct_id}_validation_{index}",
                zone_id=self.zone_id,
                name=option("resource_record_name"),
                type=option("resource_record_type"),
                records=[option("resource_record_value")],
                ttl=60,
                allow_overwrite=True,
            ))
        validation = AcmCertificateValidation(
            self, f"{construct_id}_certificate_validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn for record in records],
            provider=provider,
        )
        return validation.certificate_arn

    def route(self, *, frontends: Frontends, ingress: Ingress) -> None:
        """admin.<domain> -> admin distribution; api.<domain> -> the API's stage."""
        for record_type in ("A", "AAAA"):
            Route53Record(
                self, f"admin_{record_type.lower()}",
                zone_id=self.zone_id, name=admin_host(self.domain), type=record_type,
                alias=Route53RecordAlias(name=frontends.admin.distribution.domain_name,
                                         zone_id=frontends.admin.distribution.hosted_zone_id,
                                         evaluate_target_health=False),
            )
        api_domain = ApiGatewayDomainName(
            self, "api_domain",
            domain_name=api_host(self.domain),
            regional_certificate_arn=self.api_certificate_arn,
            endpoint_configuration=ApiGatewayDomainNameEndpointConfiguration(types=["REGIONAL"]),
            security_policy="TLS_1_2",
        )
        ApiGatewayBasePathMapping(self, "api_mapping", api_id=ingress.api.id, stage_name=ingress.stage.stage_name,
                                  domain_name=api_domain.domain_name)
        Route53Record(
            self, "api_a",
            zone_id=self.zone_id, name=api_host(self.domain), type="A",
            alias=Route53RecordAlias(name=api_domain.regional_domain_name, zone_id=api_domain.regional_zone_id,
                                     evaluate_target_health=False),
        )
        self.api_endpoint = f"https://{api_host(self.domain)}"
