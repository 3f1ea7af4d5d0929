"""The shared platform's configuration: `platform.toml`, every input typed, documented, defaulted.

Loaded and validated once; the platform stacks (modules/) and the tenant roots (roots.py) all
read it, so a name used on both sides comes from here. The docstring under each field is the
documentation (README "Platform configuration" and platform.toml repeat it).
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from tenantform.errors import InvalidInput
from tenantform.pins import CLUSTER_AUTOSCALER_IMAGE_TAGS
from tenantform.tiers import Deployment, Tier

PLATFORM_NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$")
MAX_PLATFORM_NAME_LENGTH = 20
DOMAIN_PATTERN = re.compile(r"^(?=.{4,200}\Z)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
TABLE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,255}")
API_STAGE_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,64}$")
CLUSTER_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
NODE_AMI_TYPES = ("AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64",
                  "BOTTLEROCKET_ARM_64")
NODE_PORT_RANGE = (30000, 32767)

CapacityType = Literal["ON_DEMAND", "SPOT"]
PriceClass = Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"]


@dataclass(frozen=True, kw_only=True)
class PlatformConfig:
    """Inputs of the `platform` and `platform-k8s` workspaces (see README, "Platform configuration")."""

    # --- identity -------------------------------------------------------------------------
    name: str = "tenantform"
    """Prefix of every platform-level name (cluster, roles, Cognito domains). 1-20 of a-z, 0-9, '-'."""
    region: str = "us-east-1"
    """AWS region of every workspace."""
    tags: dict[str, str] = field(default_factory=lambda: {"managed-by": "tenantform"})
    """Applied to every AWS resource of every workspace (provider default_tags)."""

    # --- data -----------------------------------------------------------------------------
    product_table_name: str = "Product"
    """The pooled product table; partition key `tenant_id`, sort key `product_id`."""
    catalogue_table_name: str = "TenantCatalogue"
    """The tenant catalogue the SPAs read to find a tenant's Cognito settings."""
    pooled_order_table_name: str = "Order"
    """The pooled order table of the pool deployment; partition key `tenant_id`, sort key `order_id`."""

    # --- pool -----------------------------------------------------------------------------
    pooled_tiers: tuple[Tier, ...] = ()
    """Tiers whose tenants run in the shared `pool` namespace on the pooled tables (e.g. ["basic"]);
    every other tier is a silo (own namespace, workloads and order table). Empty: every tenant is a
    silo."""

    # --- network --------------------------------------------------------------------------
    vpc_cidr: str = "10.0.0.0/16"
    """IPv4 CIDR of the VPC, a /16 to /20. Per availability zone, a private subnet of a quarter of
    it (/18 of a /16: nodes and pods) and a public subnet of a 32nd (/21 of a /16: NAT) in the last
    quarter."""
    availability_zone_count: int = 3
    """Availability zones the subnets, NAT and node group span: 2 or 3."""
    enable_nat_gateway_per_az: bool = False
    """One NAT gateway per availability zone (true, survives an AZ outage) or one shared NAT gateway
    (false, cheaper)."""
    enable_vpc_flow_logs: bool = True
    """Send the VPC's flow logs (all traffic) to CloudWatch Logs."""

    # --- cluster --------------------------------------------------------------------------
    kubernetes_version: str = "1.33"
    """EKS control-plane version, pinned; one of the versions tenantform/pins.py has an autoscaler for."""
    enable_endpoint_private_access: bool = True
    """Reach the Kubernetes API from inside the VPC (nodes use it)."""
    enable_endpoint_public_access: bool = False
    """Reach the Kubernetes API from outside the VPC, from `endpoint_public_access_cidrs` only. Off
    (the default): a private cluster, so terraform for `platform-k8s` and the tenants' apps layers
    runs inside the VPC (or over a VPN / Direct Connect)."""
    endpoint_public_access_cidrs: tuple[str, ...] = ()
    """Source CIDRs allowed to the public endpoint (your CI runners and operators), required when it
    is on. 0.0.0.0/0 is refused unless `endpoint_public_access_open_reason` says why."""
    endpoint_public_access_open_reason: str = ""
    """Why the public endpoint may be open to 0.0.0.0/0 (the API still requires IAM authentication);
    without a reason such a CIDR is refused."""
    cluster_log_types: tuple[str, ...] = CLUSTER_LOG_TYPES
    """Control-plane log types sent to CloudWatch: any of api, audit, authenticator,
    controllerManager, scheduler."""
    log_retention_days: int = 90
    """Retention of every platform log group (control plane, API access log, flow logs)."""
    enable_secrets_encryption: bool = True
    """Envelope-encrypt Kubernetes secrets with a platform KMS key (rotation on)."""
    enable_vpc_cni_addon: bool = True
    """Manage the VPC CNI as an EKS add-on with network-policy enforcement switched on, so the
    tenants' NetworkPolicies are enforced. The aws and tfc targets refuse false (NetworkPolicies
    would not be enforced); the local target turns it off itself (moto has no add-on API)."""
    vpc_cni_addon_version: str = ""
    """VPC CNI add-on version, e.g. "v1.19.5-eksbuild.1"; empty: the default version EKS pairs
    with `kubernetes_version` (read when planning)."""

    # --- nodes ----------------------------------------------------------------------------
    node_instance_types: tuple[str, ...] = ("m5.large",)
    """Instance types of the managed node group (one group, spread over the AZs)."""
    node_capacity_type: CapacityType = "ON_DEMAND"
    """ON_DEMAND or SPOT."""
    node_ami_type: str = "AL2023_x86_64_STANDARD"
    """EKS AMI type of the nodes (AL2023 or Bottlerocket, x86_64 or ARM_64)."""
    node_disk_size_gib: int = 50
    """Encrypted gp3 root volume of each node, GiB (20-1000)."""
    node_min_size: int = 2
    """Fewest nodes the cluster autoscaler keeps (>= 1)."""
    node_desired_size: int = 3
    """Nodes at creation; afterwards the cluster autoscaler owns it (changes are ignored)."""
    node_max_size: int = 6
    """Most nodes the cluster autoscaler may run (>= node_desired_size >= node_min_size)."""

    # --- ingress --------------------------------------------------------------------------
    ingress_node_port: int = 30080
    """NodePort of the NGINX ingress controller's HTTP port (30000-32767); the NLB target group
    forwards to it on every node."""
    ingress_controller_replicas: int = 2
    """Replicas of the NGINX ingress controller (spread over zones), 1-10."""
    enable_node_target_registration: bool = True
    """Attach the node group's Auto Scaling group to the NLB target group, so nodes are
    registered as they come and go. Turn off when something else registers targets (e.g. the AWS
    Load Balancer Controller's TargetGroupBinding). The local target turns it off (moto's node
    groups have no real Auto Scaling group)."""
    enable_api_gateway_logging_role: bool = True
    """Set the account's API Gateway CloudWatch Logs role (one per account and region; access
    logging needs it). Turn off when another stack already manages it."""
    api_stage_name: str = "v1"
    """Name of the API Gateway stage (and the first path segment of the default invoke URL)."""

    # --- frontends and domain --------------------------------------------------------------
    cloudfront_price_class: PriceClass = "PriceClass_100"
    """Edge locations of both SPA distributions: PriceClass_100, PriceClass_200 or PriceClass_All."""
    domain: str | None = None
    """Custom domain (a Route53 public hosted zone): tenants at `<tenant>.app.<domain>`, the admin
    SPA at `admin.<domain>`, the API at `api.<domain>`. Unset: the default CloudFront and API
    Gateway endpoints, no Route53 and no ACM."""
    enable_hosted_zone_creation: bool = False
    """With `domain`: create its public hosted zone (true; delegate to its name servers), or use
    the existing one (false)."""

    # --- registry -------------------------------------------------------------------------
    enable_registry_force_delete: bool = False
    """Let `platform.destroy` delete ECR repositories that still hold images."""

    @property
    def cluster_name(self) -> str:
        return f"{self.name}-eks"

    def deployment_of(self, tier: Tier | str) -> Deployment:
        """Pool or silo: where a tenant of this tier runs (derived, never stored in the tenant file)."""
        return Deployment.POOL if Tier(tier) in self.pooled_tiers else Deployment.SILO

    def for_emulator(self) -> PlatformConfig:
        """This configuration with every switch the AWS emulator (moto) cannot serve turned off."""
        return replace(self, **{name: False for name in EMULATOR_UNSUPPORTED})


EMULATOR_UNSUPPORTED: dict[str, str] = {
    "enable_vpc_cni_addon": "moto 5.2.5 has no EKS add-on API (CreateAddon answers 404)",
    "enable_node_target_registration": "moto 5.2.5 node groups report an Auto Scaling group that "
                                       "does not exist, so attaching it to a target group fails",
}
"""Switches the local (moto) target turns off, and why. Everything else applies for real."""


TARGET_REQUIRED: dict[str, str] = {
    "enable_vpc_cni_addon": "without the VPC CNI add-on's network-policy agent the tenants' NetworkPolicies "
                            "would not be enforced (namespaces could reach each other)",
}
"""Switches the aws and tfc targets refuse to turn off, and why (the local target turns them off
itself: EMULATOR_UNSUPPORTED)."""


def check_for_target(config: PlatformConfig, target: str, source: str = "platform configuration") -> None:
    """Refuse settings that are unsafe on a real account: one line naming the field."""
    if target == "local":
        return
    for name, why in TARGET_REQUIRED.items():
        _require(getattr(config, name), field=name, problem=f"is false on the {target} target: {why}",
                 allowed="true (only the local target turns it off)", source=source)


def field_docs() -> dict[str, str]:
    """The docstring under each field, read from this file's source (one source of truth)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(PlatformConfig))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr):
            docs[node.target.id] = " ".join(following.value.value.split())  # type: ignore[union-attr]
    return docs


# --- loading and validation -----------------------------------------------------------------

def _check_name(value: Any, source: str) -> str:
    if not isinstance(value, str) or not PLATFORM_NAME_PATTERN.fullmatch(value):
        raise InvalidInput(field="name", problem=f"is {value!r}", source=source,
                           allowed=f"1-{MAX_PLATFORM_NAME_LENGTH} characters of a-z, 0-9 and '-', "
                                   "starting with a letter")
    for word in ("aws", "amazon", "cognito"):
        if word in value:
            raise InvalidInput(field="name", problem=f"is {value!r}, which contains {word!r}",
                               source=source, allowed="a name without aws, amazon or cognito")
    return value


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(annotation))
    return {bool: "true or false", int: "an integer", str: "a string"}.get(
        annotation, "an array of strings" if origin is tuple else
        "a table of strings" if origin is dict else "a string (or leave it out)")


def _coerce(name: str, value: Any, annotation: Any, source: str) -> Any:
    """Check one TOML value against the field's annotation; lists become tuples."""
    origin = typing.get_origin(annotation)
    ok: bool
    if annotation is bool:
        ok = isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif annotation is str:
        ok = isinstance(value, str)
    elif origin is Literal:
        ok = value in typing.get_args(annotation)
    elif origin is tuple:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif origin is dict:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    else:  # str | None: TOML has no null, so a present value must be a string
        ok = isinstance(value, str)
    if not ok:
        if origin is dict:
            raise InvalidInput(field=name, problem="must be a table of strings",
                               allowed=f'[{name}] with key = "value" lines', source=source)
        problem = f"is {value!r}" if origin is Literal else f"has type {type(value).__name__}"
        raise InvalidInput(field=name, problem=problem, allowed=_type_name(annotation), source=source)
    return value


def _require(condition: bool, *, field: str, problem: str, allowed: str, source: str) -> None:
    if not condition:
        raise InvalidInput(field=field, problem=problem, allowed=allowed, source=source)


def validate(config: PlatformConfig, source: str = "platform configuration") -> PlatformConfig:
    """Checks across and within fields; raises InvalidInput naming the field and what is allowed."""
    _check_name(config.name, source)
    _require(bool(REGION_PATTERN.fullmatch(config.region)), field="region", problem=f"is {config.region!r}",
             allowed="an AWS region name such as us-east-1", source=source)
    try:
        network = ipaddress.IPv4Network(config.vpc_cidr)
        valid_cidr = 16 <= network.prefixlen <= 20
    except ValueError:
        valid_cidr = False
    _require(valid_cidr, field="vpc_cidr", problem=f"is {config.vpc_cidr!r}",
             allowed="an IPv4 network from /16 to /20, such as 10.0.0.0/16", source=source)
    _require(config.availability_zone_count in (2, 3), field="availability_zone_count",
             problem=f"is {config.availability_zone_count}", allowed="2 or 3", source=source)
    _require(config.kubernetes_version in CLUSTER_AUTOSCALER_IMAGE_TAGS, field="kubernetes_version",
             problem=f"is {config.kubernetes_version!r}",
             allowed=", ".join(CLUSTER_AUTOSCALER_IMAGE_TAGS), source=source)
    for cidr in config.endpoint_public_access_cidrs:
        try:
            ipaddress.IPv4Network(cidr)
        except ValueError:
            raise InvalidInput(field="endpoint_public_access_cidrs", problem=f"contains {cidr!r}",
                               allowed="IPv4 CIDRs such as 203.0.113.0/24", source=source) from None
    if config.enable_endpoint_public_access:
        _require(bool(config.endpoint_public_access_cidrs), field="endpoint_public_access_cidrs",
                 problem="is empty while enable_endpoint_public_access is true",
                 allowed="the CIDRs of your CI runners and operators, such as 203.0.113.0/24", source=source)
    open_to_all = [c for c in config.endpoint_public_access_cidrs if ipaddress.IPv4Network(c).prefixlen == 0]
    _require(not open_to_all or bool(config.endpoint_public_access_open_reason.strip()),
             field="endpoint_public_access_cidrs", problem=f"contains {open_to_all[0] if open_to_all else ''} "
             "(the Kubernetes API open to the whole internet)",
             allowed="narrower CIDRs, or endpoint_public_access_open_reason = \"<why>\" to accept it", source=source)
    _require(config.enable_endpoint_private_access or config.enable_endpoint_public_access,
             field="enable_endpoint_private_access", problem="and enable_endpoint_public_access are both false",
             allowed="at least one of the two endpoints", source=source)
    unknown_logs = sorted(set(config.cluster_log_types) - set(CLUSTER_LOG_TYPES))
    _require(not unknown_logs, field="cluster_log_types", problem=f"contains {unknown_logs}",
             allowed=", ".join(CLUSTER_LOG_TYPES), source=source)
    _require(config.log_retention_days in LOG_RETENTION_DAYS, field="log_retention_days",
             problem=f"is {config.log_retention_days}",
             allowed=", ".join(map(str, LOG_RETENTION_DAYS)), source=source)
    _require(config.vpc_cni_addon_version == "" or bool(re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+",
                                                                 config.vpc_cni_addon_version)),
             field="vpc_cni_addon_version", problem=f"is {config.vpc_cni_addon_version!r}",
             allowed='"" or a version such as "v1.19.5-eksbuild.1"', source=source)
    _require(bool(config.node_instance_types), field="node_instance_types", problem="is empty",
             allowed="one or more EC2 instance types", source=source)
    _require(config.node_ami_type in NODE_AMI_TYPES, field="node_ami_type", problem=f"is {config.node_ami_type!r}",
             allowed=", ".join(NODE_AMI_TYPES), source=source)
    _require(20 <= config.node_disk_size_gib <= 1000, field="node_disk_size_gib",
             problem=f"is {config.node_disk_size_gib}", allowed="20 to 1000", source=source)
    _require(1 <= config.node_min_size <= config.node_desired_size <= config.node_max_size <= 450,
             field="node_desired_size",
             problem=(f"gives min/desired/max {config.node_min_size}/{config.node_desired_size}/"
                      f"{config.node_max_size}"),
             allowed="1 <= node_min_size <= node_desired_size <= node_max_size <= 450", source=source)
    _require(NODE_PORT_RANGE[0] <= config.ingress_node_port <= NODE_PORT_RANGE[1], field="ingress_node_port",
             problem=f"is {config.ingress_node_port}", allowed="30000 to 32767", source=source)
    _require(1 <= config.ingress_controller_replicas <= 10, field="ingress_controller_replicas",
             problem=f"is {config.ingress_controller_replicas}", allowed="1 to 10", source=source)
    _require(bool(API_STAGE_PATTERN.fullmatch(config.api_stage_name)), field="api_stage_name",
             problem=f"is {config.api_stage_name!r}", allowed="1-64 of A-Z, a-z, 0-9 and _", source=source)
    _require(all(isinstance(tier, Tier) for tier in config.pooled_tiers), field="pooled_tiers",
             problem=f"is {[str(tier) for tier in config.pooled_tiers]}",
             allowed=", ".join(tier.value for tier in Tier), source=source)
    for table_field in ("product_table_name", "catalogue_table_name", "pooled_order_table_name"):
        _require(bool(TABLE_NAME_PATTERN.fullmatch(getattr(config, table_field))), field=table_field,
                 problem=f"is {getattr(config, table_field)!r}", allowed="3-255 of A-Z, a-z, 0-9, '_', '-' and '.'",
                 source=source)
    table_names = [config.product_table_name, config.catalogue_table_name, config.pooled_order_table_name]
    _require(len(set(table_names)) == len(table_names) and not config.pooled_order_table_name.startswith("Order-"),
             field="pooled_order_table_name",
             problem=f"is {config.pooled_order_table_name!r}, the name of another platform or tenant table",
             allowed="a name other than product_table_name, catalogue_table_name and Order-<tenant>",
             source=source)
    if config.domain is not None:
        _require(bool(DOMAIN_PATTERN.fullmatch(config.domain)), field="domain", problem=f"is {config.domain!r}",
                 allowed="a lower-case DNS name such as example.com", source=source)
    return config


def load_platform_config(path: Path) -> PlatformConfig:
    """Read platform.toml (a missing file means every default) and validate it."""
    source = str(path)
    if not path.is_file():
        return validate(PlatformConfig(), source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(field="(file)", problem=f"is not valid TOML ({exc})",
                           allowed="a TOML document", source=source) from None
    known = {f.name: f for f in fields(PlatformConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InvalidInput(field=unknown[0], problem="is not a platform setting",
                           allowed=", ".join(known), source=source)
    if "name" in data:
        _check_name(data["name"], source)
    hints = typing.get_type_hints(PlatformConfig)
    values = {name: _coerce(name, value, hints[name], source) for name, value in data.items()}
    if "pooled_tiers" in values:
        values["pooled_tiers"] = _pooled_tiers(values["pooled_tiers"], source)
    return validate(PlatformConfig(**values), source)


def _pooled_tiers(names: tuple[str, ...], source: str) -> tuple[Tier, ...]:
    allowed = ", ".join(tier.value for tier in Tier)
    tiers: list[Tier] = []
    for name in names:
        if not any(re.fullmatch(re.escape(tier.value), name) for tier in Tier):
            raise InvalidInput(field="pooled_tiers", problem=f"contains {name!r}", source=source,
                               allowed=f"a list of tier names, each one of {allowed} (e.g. [\"basic\"])")
        if Tier(name) in tiers:
            raise InvalidInput(field="pooled_tiers", problem=f"names {name!r} twice", source=source,
                               allowed=f"each of {allowed} at most once")
        tiers.append(Tier(name))
    return tuple(tiers)
