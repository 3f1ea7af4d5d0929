"""Tiers and what each one changes. The one place a tier becomes numbers.

Quota values follow the EKS SaaS reference (requests cpu/memory, limits cpu/memory).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Tier(str, enum.Enum):
    BASIC = "basic"
    STANDARD = "standard"
    PREMIUM = "premium"
    PLATINUM = "platinum"

    def __str__(self) -> str:  # so f-strings and TOML show "basic", not "Tier.BASIC"
        return self.value


class Deployment(str, enum.Enum):
    """Where a tenant's workloads and data live. Derived from its tier and platform.toml's
    `pooled_tiers` (PlatformConfig.deployment_of); the tenant file never stores it."""

    POOL = "pool"
    """The shared `pool` namespace and pooled tables: the tenant owns only its identity (user pool,
    client, API key, catalogue entry) and one workspace (infra)."""
    SILO = "silo"
    """Its own namespace, workloads, order table and IRSA role: two workspaces (infra, apps)."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True)
class TierProfile:
    """Everything a tier changes, for both tenant layers and the platform's usage plans."""

    # apps layer
    quota_requests_cpu: str
    quota_requests_memory: str
    quota_limits_cpu: str
    quota_limits_memory: str
    container_request_cpu: str
    container_request_memory: str
    container_limit_cpu: str
    container_limit_memory: str
    min_replicas: int
    max_replicas: int
    hpa_cpu_utilization: int
    # infra layer
    enable_point_in_time_recovery: bool
    enable_deletion_protection: bool
    # platform (API Gateway usage plan)
    throttle_rate_limit: int
    throttle_burst_limit: int


TIER_PROFILES: dict[Tier, TierProfile] = {
    Tier.BASIC: TierProfile(
        quota_requests_cpu="1", quota_requests_memory="1Gi",
        quota_limits_cpu="2", quota_limits_memory="2Gi",
        container_request_cpu="100m", container_request_memory="128Mi",
        container_limit_cpu="250m", container_limit_memory="256Mi",
        min_replicas=1, max_replicas=2, hpa_cpu_utilization=80,
        enable_point_in_time_recovery=False, enable_deletion_protection=False,
        throttle_rate_limit=10, throttle_burst_limit=20,
    ),
    Tier.STANDARD: TierProfile(
        quota_requests_cpu="2", quota_requests_memory="2Gi",
        quota_limits_cpu="4", quota_limits_memory="4Gi",
        container_request_cpu="100m", container_request_memory="128Mi",
        container_limit_cpu="500m", container_limit_memory="512Mi",
        min_replicas=1, max_replicas=3, hpa_cpu_utilization=75,
        enable_point_in_time_recovery=False, enable_deletion_protection=False,
        throttle_rate_limit=50, throttle_burst_limit=100,
    ),
    Tier.PREMIUM: TierProfile(
        quota_requests_cpu="3", quota_requests_memory="3Gi",
        quota_limits_cpu="6", quota_limits_memory="6Gi",
        container_request_cpu="200m", container_request_memory="256Mi",
        container_limit_cpu="500m", container_limit_memory="512Mi",
        min_replicas=2, max_replicas=4, hpa_cpu_utilization=70,
        enable_point_in_time_recovery=True, enable_deletion_protection=True,
        throttle_rate_limit=200, throttle_burst_limit=400,
    ),
    Tier.PLATINUM: TierProfile(
        quota_requests_cpu="4", quota_requests_memory="4Gi",
        quota_limits_cpu="8", quota_limits_memory="8Gi",
        container_request_cpu="250m", container_request_memory="256Mi",
        container_limit_cpu="500m", container_limit_memory="512Mi",
        min_replicas=2, max_replicas=6, hpa_cpu_utilization=65,
        enable_point_in_time_recovery=True, enable_deletion_protection=True,
        throttle_rate_limit=1000, throttle_burst_limit=2000,
    ),
}


def profile(tier: Tier) -> TierProfile:
    return TIER_PROFILES[tier]
