"""S3 + CloudFront for the two single-page apps: the tenants' e-commerce app and the admin app.

Buckets are private (public access blocked, owner-enforced, encrypted, TLS-only policy) and
read by CloudFront alone through an origin access control. Unknown paths return index.html, so
the SPA's router handles deep links. With a custom domain the distributions serve
`*.app.<domain>` / `admin.<domain>` over TLS 1.2+ (CloudFront's default *.cloudfront.net
certificate cannot enforce a minimum version).
"""

from __future__ import annotations

from cdktf import TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.cloudfront_distribution import (
    CloudfrontDistribution,
    CloudfrontDistributionCustomErrorResponse,
    CloudfrontDistributionDefaultCacheBehavior,
    CloudfrontDistributionOrigin,
    CloudfrontDistributionRestrictions,
    CloudfrontDistributionRestrictionsGeoRestriction,
    CloudfrontDistributionViewerCertificate,
)
from cdktf_cdktf_provider_aws.cloudfront_origin_access_control import CloudfrontOriginAccessControl
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from tenantform.platform_config import PlatformConfig

# AWS-managed CloudFront policies (global ids, the same in every account).
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
SECURITY_HEADERS_POLICY_ID = "67f7725c-6f97-4210-82d7-5512b31e9d03"
MINIMUM_TLS = "TLSv1.2_2021"
ORIGIN_ID = "spa-bucket"
SPA_ERROR_CODES = (403, 404)
"""S3 answers 403 for a missing key (no ListBucket for CloudFront): both become index.html."""


class SpaSite(Construct):
    """One private bucket behind one CloudFront distribution."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig, site: str,
                 aliases: list[str], certificate_arn: str | None, ignore_emulator_drift: bool) -> None:
        super().__init__(scope, construct_id)
        self.bucket = S3Bucket(
            self, "bucket",
            bucket_prefix=f"{platform.name}-{site}-",
            # The bucket holds build output that the SPA pipeline re-uploads: destroy may empty it.
            force_destroy=True,
        )
        S3BucketPublicAccessBlock(self, "public_access", bucket=self.bucket.id, block_public_acls=True,
                                  block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketOwnershipControls(self, "ownership", bucket=self.bucket.id,
                                  rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"))
        S3BucketServerSideEncryptionConfigurationA(
            self, "encryption", bucket=self.bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="AES256")))],
        )
        S3BucketVersioningA(self, "versioning", bucket=self.bucket.id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
        access_control = CloudfrontOriginAccessControl(
            self, "origin_access",
            name=f"{platform.name}-{site}",
            description=f"CloudFront reads the {site} SPA bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
        )
        if certificate_arn:
            viewer_certificate = CloudfrontDistributionViewerCertificate(
                acm_certificate_arn=certificate_arn, ssl_support_method="sni-only",
                minimum_protocol_version=MINIMUM_TLS)
        else:
            viewer_certificate = CloudfrontDistributionViewerCertificate(cloudfront_default_certificate=True)
        self.distribution = CloudfrontDistribution(
            self, "distribution",
            enabled=True,
            comment=f"{platform.name} {site} SPA",
            aliases=aliases or None,
            default_root_object="index.html",
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class=platform.cloudfront_price_class,
            origin=[CloudfrontDistributionOrigin(
                origin_id=ORIGIN_ID,
                domain_name=self.bucket.bucket_regional_domain_name,
                origin_access_control_id=access_control.id,
            )],
            default_cache_behavior=CloudfrontDistributionDefaultCacheBehavior(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD", "OPTIONS"],
                cached_methods=["GET", "HEAD"],
                cache_policy_id=CACHING_OPTIMIZED_POLICY_ID,
                response_headers_policy_id=SECURITY_HEADERS_POLICY_ID,
                compress=True,
            ),
            custom_error_response=[
                CloudfrontDistributionCustomErrorResponse(
                    error_code=code, response_code=200, response_page_path="/index.html",
                    error_caching_min_ttl=10)
                for code in SPA_ERROR_CODES
            ],
            restrictions=CloudfrontDistributionRestrictions(
                geo_restriction=CloudfrontDistributionRestrictionsGeoRestriction(restriction_type="none")),
            viewer_certificate=viewer_certificate,
            # When moto reads a distribution back it drops the origin's access-control id, adds
            # legacy `forwarded_values` next to the cache policy, and reports `sni-only` with the
            # default certificate and the default certificate next to an ACM one. AWS does none of
            # this, so only the local target ignores them.
            lifecycle=TerraformResourceLifecycle(ignore_changes=[
                "origin", "default_cache_behavior[0].forwarded_values", "viewer_certificate[0].ssl_support_method",
                "viewer_certificate[0].cloudfront_default_certificate",
            ]) if ignore_emulator_drift else None,
        )
        policy = DataAwsIamPolicyDocument(
            self, "bucket_policy_document",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="CloudFrontReadsThroughOriginAccessControl",
                    effect="Allow",
                    actions=["s3:GetObject"],
                    resources=[f"{self.bucket.arn}/*"],
                    principals=[DataAwsIamPolicyDocumentStatementPrincipals(
                        type="Service", identifiers=["cloudfront.amazonaws.com"])],
                    condition=[DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable="AWS:SourceArn", values=[self.distribution.arn])],
                ),
                DataAwsIamPolicyDocumentStatement(
                    sid="DenyInsecureTransport",
                    effect="Deny",
                    actions=["s3:*"],
                    resources=[self.bucket.arn, f"{self.bucket.arn}/*"],
                    principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="*", identifiers=["*"])],
                    condition=[DataAwsIamPolicyDocumentStatementCondition(
                        test="Bool", variable="aws:SecureTransport", values=["false"])],
                ),
            ],
        )
        S3BucketPolicy(self, "bucket_policy", bucket=self.bucket.id, policy=policy.json)


class Frontends(Construct):
    """The app SPA (every tenant, `<tenant>.app.<domain>`) and the admin SPA (`admin.<domain>`)."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig,
                 certificate_arn: str | None, ignore_emulator_drift: bool) -> None:
        super().__init__(scope, construct_id)
        domain = platform.domain
        self.app = SpaSite(self, "app", platform=platform, site="app",
                           aliases=[f"*.app.{domain}"] if domain else [], certificate_arn=certificate_arn,
                           ignore_emulator_drift=ignore_emulator_drift)
        self.admin = SpaSite(self, "admin", platform=platform, site="admin",
                             aliases=[f"admin.{domain}"] if domain else [], certificate_arn=certificate_arn,
                             ignore_emulator_drift=ignore_emulator_drift)
