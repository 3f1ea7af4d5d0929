"""ECR repositories for the two services: scanned on push, immutable tags, encrypted."""

from __future__ import annotations

import json

from cdktf import Fn
from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from constructs import Construct

from tenantform.platform_config import PlatformConfig

SERVICES = ("product", "order")
UNTAGGED_IMAGE_DAYS = 14

LIFECYCLE_POLICY = {"rules": [{
    "rulePriority": 1,
    "description": f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} days",
    "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                  "countNumber": UNTAGGED_IMAGE_DAYS},
    "action": {"type": "expire"},
}]}


def repository_name(platform: PlatformConfig, service: str) -> str:
    """`<platform>/<service>`: the apps layer's image is `<image_registry>/<service>:<tag>`."""
    return f"{platform.name}/{service}"


class Registry(Construct):
    """One repository per service; `image_registry` is the prefix the tenant apps layer uses."""

    def __init__(self, scope: Construct, construct_id: str, *, platform: PlatformConfig) -> None:
        super().__init__(scope, construct_id)
        self.repositories: dict[str, EcrRepository] = {}
        for service in SERVICES:
            repository = EcrRepository(
                self, service,
                name=repository_name(platform, service),
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
                encryption_configuration=[EcrRepositoryEncryptionConfiguration(encryption_type="AES256")],
                force_delete=platform.enable_registry_force_delete,
            )
            EcrLifecyclePolicy(self, f"{service}_lifecycle", repository=repository.name,
                               policy=json.dumps(LIFECYCLE_POLICY))
            self.repositories[service] = repository
        # `<account>.dkr.ecr.<region>.amazonaws.com/<platform>`
        first_url = self.repositories[SERVICES[0]].repository_url
        self.image_registry = Fn.join("/", [Fn.element(Fn.split("/", first_url), 0), platform.name])
