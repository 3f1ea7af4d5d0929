"""Targets: where workspaces' state lives and where their AWS calls go.

- local (default): a moto server on 127.0.0.1 (tenantform.local) holds the state bucket and
  serves every AWS call; endpoints and test credentials travel only in the environment of the
  terraform processes, never in a file.
- aws: a real account; state in an S3 bucket created by `invoke bootstrap`.
- tfc: HCP Terraform / Terraform Enterprise (tenantform.tfc).
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenantform.errors import InvalidInput, TenantformError
from tenantform.local import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LocalAws, MotoServer
from tenantform.pins import PROVIDER_REQUIREMENTS, REQUIRED_TERRAFORM_VERSION
from tenantform.platform_config import PlatformConfig, check_for_target
from tenantform.roots import escape
from tenantform.settings_sources import (MIRROR_ENV, config_defaults, provider_mirror, remember_provider_mirror,
                                         tfc_mapping)
from tenantform.state_bucket import (
    BootstrapResult,
    default_bucket_name,
    ensure_state_bucket,
    require_bucket_owner,
    verify_state_bucket,
)

LOCAL_STATE_BUCKET = "tenantform-state"

# Environment a terraform child must never inherit on the local target: it would send calls,
# or credentials, to a real account.
_REAL_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE", "AWS_CA_BUNDLE")


class TargetKind(str, enum.Enum):
    LOCAL = "local"
    AWS = "aws"
    TFC = "tfc"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Tool settings: `tenantform:` in invoke.yaml, overridable per command (see README)."""

    project_dir: Path
    target: TargetKind = TargetKind.LOCAL
    state_bucket: str | None = None
    """S3 bucket of every workspace's state. Unset: `tenantform-state` on the local target,
    `tenantform-state-<account id>-<region>` on the aws target (a name no other account holds)."""
    aws_profile: str | None = None
    provider_mirror: Path | None = None
    kubeconfig: str | None = None
    """A kubeconfig for the apps workspaces; without one they are synthesised, not planned."""
    kube_context: str | None = None
    lock_timeout: str = "120s"
    parallelism: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    terraform_bin: str = "terraform"
    tfc: dict[str, Any] = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        """Synthesised output: module versions and workspace roots (cdktf.json `output`)."""
        return self.project_dir / "cdktf.out"

    @property
    def work_dir(self) -> Path:
        """Tool state that is not output: CLI config, plugin cache, logs, records, local server."""
        return self.project_dir / ".tenantform"

    @property
    def tenants_dir(self) -> Path:
        return self.project_dir / "tenants"

    @property
    def platform_config_path(self) -> Path:
        return self.project_dir / "platform.toml"

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, project_dir: Path) -> "Settings":
        known = set(cls.__dataclass_fields__) - {"project_dir", "provider_mirror"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(field=f"tenantform.{unknown[0]}", problem="is not a setting",
                               allowed=", ".join(sorted(known)), source="invoke.yaml")
        values = {k: v for k, v in data.items() if v is not None}
        if "target" in values:
            try:
                values["target"] = TargetKind(values["target"])
            except ValueError:
                raise InvalidInput(field="target", problem=f"is {values['target']!r}",
                                   allowed=", ".join(t.value for t in TargetKind)) from None
        if "parallelism" in values:
            values["parallelism"] = int(values["parallelism"])
        values["tfc"] = tfc_mapping(values.get("tfc"))
        mirror = provider_mirror(project_dir / ".tenantform")
        return cls(project_dir=project_dir, provider_mirror=mirror, **values)

    @classmethod
    def config_defaults(cls) -> dict[str, Any]:
        """Every setting for `ns.configure` (so INVOKE_TENANTFORM_<NAME> always maps onto one)."""
        return config_defaults(sorted(set(cls.__dataclass_fields__) - {"project_dir", "provider_mirror"}))


def _mirror_providers(mirror: Path) -> list[str]:
    """`registry.terraform.io/hashicorp/aws`-style addresses the mirror holds."""
    found = []
    for host in sorted(p for p in mirror.iterdir() if p.is_dir()):
        for namespace in sorted(p for p in host.iterdir() if p.is_dir()):
            for provider in sorted(p for p in namespace.iterdir() if p.is_dir()):
                found.append(f"{host.name}/{namespace.name}/{provider.name}")
    return found


def write_cli_config(settings: Settings) -> Path:
    """Our own Terraform CLI config: plugin cache, and the filesystem mirror when configured."""
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    cache = settings.work_dir / "plugin-cache"
    cache.mkdir(parents=True, exist_ok=True)
    lines = [f'plugin_cache_dir = "{cache}"', "disable_checkpoint = true"]
    if settings.provider_mirror is not None:
        mirror = settings.provider_mirror
        if not mirror.is_dir():
            raise TenantformError(f"{MIRROR_ENV}={mirror} is not a directory (set {MIRROR_ENV} to a Terraform "
                                  f"filesystem mirror, or delete {settings.work_dir / 'provider-mirror'} to use "
                                  "the registry)")
        providers = _mirror_providers(mirror)
        if providers:  # a directory holding providers: worth remembering for later commands
            remember_provider_mirror(settings.work_dir, mirror)
        quoted = ", ".join(f'"{p}"' for p in providers)
        lines += [
            "provider_installation {",
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = [{quoted}]\n  }}',
            f"  direct {{\n    exclude = [{quoted}]\n  }}",
            "}",
        ]
    path = settings.work_dir / "terraformrc"
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


class Target:
    """What differs between targets, for workspaces whose state is in S3."""

    kind: TargetKind
    emulated = False
    """AWS is the local emulator (moto): module versions and roots are built for it."""
    deploys_platform_on_demand = False
    """Onboarding deploys the platform when it never was (only where that costs nothing)."""
    aws_credentials_needed = True
    """AWS calls from this machine (offboarding's data steps) need real credentials."""
    runs_here = True
    """terraform runs on this machine, so roots may name local files (a kubeconfig)."""

    def __init__(self, settings: Settings, platform: PlatformConfig) -> None:
        self.settings = settings
        self.platform = platform

    @property
    def state_bucket(self) -> str:
        """The bucket holding every workspace's state: the setting, else this target's default."""
        return self.settings.state_bucket or self.default_state_bucket()

    def default_state_bucket(self) -> str:
        return LOCAL_STATE_BUCKET

    # -- rendering (pure) ---------------------------------------------------------------------
    def s3_settings(self) -> dict[str, Any]:
        return {"bucket": self.state_bucket, "region": self.platform.region,
                "encrypt": True, "use_lockfile": True}

    def terraform_block(self, *, state_key: str, workspace: str, providers: tuple[str, ...]) -> dict[str, Any]:
        return {
            "required_version": REQUIRED_TERRAFORM_VERSION,
            "required_providers": {name: PROVIDER_REQUIREMENTS[name] for name in providers},
            "backend": {"s3": {**self.s3_settings(), "key": state_key}},
        }

    def remote_state(self, *, state_key: str, workspace: str) -> dict[str, Any]:
        """A `terraform_remote_state` block body reading another workspace's state."""
        return {"backend": "s3", "config": {**self.s3_settings(), "key": state_key}}

    def aws_provider(self) -> dict[str, Any]:
        # platform.toml data: escaped (keys and values), as every string a root carries
        return {"region": self.platform.region, "default_tags": [{"tags": escape(dict(self.platform.tags))}]}

    # -- running ------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Make the target usable (start servers, check the state bucket)."""

    def bootstrap(self) -> BootstrapResult:
        """Create the state bucket with its protections, or re-apply those that are missing."""
        raise TenantformError(f"the {self.kind.value} target has no state bucket to bootstrap "
                              "(bootstrap targets: local, aws)")

    def terraform_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["TF_CLI_CONFIG_FILE"] = str(write_cli_config(self.settings))
        env["TF_IN_AUTOMATION"] = "1"
        env["CHECKPOINT_DISABLE"] = "1"
        return env

    def boto3_session(self):  # noqa: ANN201 - boto3 types are optional
        import boto3

        return boto3.session.Session(profile_name=self.settings.aws_profile, region_name=self.platform.region)

    def client(self, service: str):  # noqa: ANN201
        return self.boto3_session().client(service)

    def data_client(self, service: str):  # noqa: ANN201
        """A boto3 client for the AWS calls tenantform makes itself (backups, pooled rows, checks)."""
        return self.client(service)

    def record_store(self):  # noqa: ANN201
        """Where applied records live beside the state (tenantform/remote_records.py)."""
        from tenantform.remote_records import S3RecordStore

        return S3RecordStore(self)

    def describe(self) -> str:
        return f"{self.kind.value} (region {self.platform.region}, state bucket {self.state_bucket})"


class LocalTarget(Target):
    kind = TargetKind.LOCAL
    emulated = True
    deploys_platform_on_demand = True
    aws_credentials_needed = False  # the emulator's keys

    def __init__(self, settings: Settings, platform: PlatformConfig) -> None:
        super().__init__(settings, platform)
        self.local = LocalAws(settings.work_dir)
        self._server: MotoServer | None = None

    @property
    def server(self) -> MotoServer:
        if self._server is None:
            self._server = self.local.current()
            if self._server is None:
                raise TenantformError("the local AWS emulator is not running (any onboard or "
                                      "platform.deploy starts it; `invoke local.status` shows it)")
        return self._server

    def s3_settings(self) -> dict[str, Any]:
        # moto serves buckets by path, and has no metadata endpoint or real account checks.
        return {**super().s3_settings(), "use_path_style": True, "skip_credentials_validation": True,
                "skip_requesting_account_id": True, "skip_metadata_api_check": True,
                "skip_region_validation": True}

    def aws_provider(self) -> dict[str, Any]:
        return {**super().aws_provider(), "skip_credentials_validation": True,
                "skip_metadata_api_check": "true", "skip_region_validation": True,
                "s3_use_path_style": True}

    def prepare(self) -> None:
        self.bootstrap()

    def bootstrap(self) -> BootstrapResult:
        self._server, _ = self.local.ensure()
        return ensure_state_bucket(self.client("s3"), self.state_bucket, self.platform.region, tls_only=False)

    def _local_aws_env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
                "AWS_REGION": self.platform.region, "AWS_DEFAULT_REGION": self.platform.region,
                "AWS_ENDPOINT_URL": self.server.endpoint, "AWS_EC2_METADATA_DISABLED": "true"}

    def terraform_env(self) -> dict[str, str]:
        env = super().terraform_env()
        for name in _REAL_AWS_ENV:
            env.pop(name, None)
        env.update(self._local_aws_env())
        return env

    def client(self, service: str):  # noqa: ANN201
        import boto3

        return boto3.client(service, endpoint_url=self.server.endpoint, region_name=self.platform.region,
                            aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_SECRET_KEY)

    def describe(self) -> str:
        where = self._server.endpoint if self._server else "not started"
        return f"local (moto at {where}, region {self.platform.region}, state bucket {self.state_bucket})"


class AwsTarget(Target):
    """A real account. Every S3 call carries ExpectedBucketOwner (this account), and `prepare`
    refuses a state bucket that lacks a protection before any state is written to it. boto3 and
    the terraform aws provider both honour AWS_ENDPOINT_URL (the tests point it at moto)."""

    kind = TargetKind.AWS
    BOOTSTRAP = "invoke bootstrap target=aws"

    def __init__(self, settings: Settings, platform: PlatformConfig) -> None:
        super().__init__(settings, platform)
        self._account_id: str | None = None

    @property
    def account_id(self) -> str:
        """The account of the caller's credentials (STS GetCallerIdentity, asked once)."""
        if self._account_id is None:
            from botocore.exceptions import BotoCoreError, ClientError

            try:
                self._account_id = self.boto3_session().client("sts").get_caller_identity()["Account"]
            except (BotoCoreError, ClientError) as exc:
                raise TenantformError(f"cannot tell which AWS account to use ({exc}); configure credentials "
                                      "(tenantform.aws_profile or the AWS_* variables)") from None
        return self._account_id

    def default_state_bucket(self) -> str:
        return default_bucket_name(account_id=self.account_id, region=self.platform.region)

    def client(self, service: str):  # noqa: ANN201
        client = super().client(service)
        return require_bucket_owner(client, self.account_id) if service == "s3" else client

    def prepare(self) -> None:
        verify_state_bucket(self.client("s3"), self.state_bucket, fix=self.BOOTSTRAP)

    def bootstrap(self) -> BootstrapResult:
        return ensure_state_bucket(self.client("s3"), self.state_bucket, self.platform.region, tls_only=True)

    def terraform_env(self) -> dict[str, str]:
        env = super().terraform_env()
        if self.settings.aws_profile:
            env["AWS_PROFILE"] = self.settings.aws_profile
        env.setdefault("AWS_REGION", self.platform.region)
        return env


def make_target(settings: Settings, platform: PlatformConfig) -> Target:
    check_for_target(platform, settings.target.value, str(settings.platform_config_path))
    if settings.target is TargetKind.LOCAL:
        return LocalTarget(settings, platform)
    if settings.target is TargetKind.AWS:
        return AwsTarget(settings, platform)
    from tenantform.tfc_target import TfcTarget  # wired by the tfc integration

    return TfcTarget(settings, platform)
