"""Tenant definitions: one TOML file per tenant in tenants/, validated once, at load time.

    # tenants/acme.toml
    id = "acme"
    company_name = "Acme Corporation"
    admin_email = "admin@acme.example"
    tier = "basic"

Every rule below produces an InvalidInput that names the file, the field and what is allowed.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from tenantform.atomic import write_atomic

from tenantform.errors import InvalidInput, TenantformError
from tenantform.tiers import Tier

# Longest tenant id such that every derived name fits its service's limit with the longest
# allowed platform name (see names.py; tests/test_names.py checks each limit).
MAX_TENANT_ID_LENGTH = 32
TENANT_ID_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Namespaces and host names the platform itself uses, or that Kubernetes reserves.
RESERVED_TENANT_IDS = frozenset({
    "default", "platform", "platform-k8s", "tenantform", "ingress-nginx", "cert-manager",
    "metrics-server", "cluster-autoscaler", "monitoring", "logging", "amazon-cloudwatch",
    "aws-observability", "karpenter", "istio-system", "argocd", "flux-system", "admin",
    "api", "app", "www", "auth", "system", "root",
})
RESERVED_TENANT_PREFIXES = ("kube-", "openshift-", "eks-")
# Cognito refuses hosted-UI domain prefixes that contain these words.
FORBIDDEN_TENANT_WORDS = ("aws", "amazon", "cognito")
EMAIL_PATTERN = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MAX_EMAIL_LENGTH = 254
MAX_COMPANY_NAME_LENGTH = 128

ALLOWED_TENANT_ID = (
    f"a DNS-1123 label: 1-{MAX_TENANT_ID_LENGTH} characters of a-z, 0-9 and '-', starting with a "
    f"letter and ending with a letter or digit; not reserved ({', '.join(sorted(RESERVED_TENANT_IDS))}, "
    f"or starting with {', '.join(RESERVED_TENANT_PREFIXES)}); not containing "
    f"{', '.join(FORBIDDEN_TENANT_WORDS)} (Cognito refuses such domains)"
)
ALLOWED_TIERS = ", ".join(t.value for t in Tier)
ALLOWED_EMAIL = f"an address like name@example.com, ASCII, at most {MAX_EMAIL_LENGTH} characters"
ALLOWED_COMPANY_NAME = f"1-{MAX_COMPANY_NAME_LENGTH} printable characters, no control characters"


def validate_tenant_id(value: Any, *, source: str | None = None) -> str:
    def bad(problem: str) -> InvalidInput:
        return InvalidInput(field="id", problem=problem, allowed=ALLOWED_TENANT_ID, source=source)

    if not isinstance(value, str):
        raise bad(f"must be a string, got {type(value).__name__}")
    shown = value if len(value) <= 80 else value[:77] + "..."
    if not value:
        raise bad("is empty")
    if len(value) > MAX_TENANT_ID_LENGTH:
        raise bad(f"is {len(value)} characters long ({shown!r})")
    if not value.isascii() or not TENANT_ID_PATTERN.fullmatch(value):
        raise bad(f"is {shown!r}, not a DNS-1123 label starting with a letter")
    if value in RESERVED_TENANT_IDS or value.startswith(RESERVED_TENANT_PREFIXES):
        raise bad(f"is {value!r}, which is reserved")
    for word in FORBIDDEN_TENANT_WORDS:
        if word in value:
            raise bad(f"is {value!r}, which contains {word!r}")
    return value


def validate_tier(value: Any, *, source: str | None = None) -> Tier:
    try:
        return Tier(value)
    except ValueError:
        raise InvalidInput(field="tier", problem=f"is {value!r}, an unknown tier",
                           allowed=ALLOWED_TIERS, source=source) from None


def validate_email(value: Any, *, source: str | None = None) -> str:
    def bad(problem: str) -> InvalidInput:
        return InvalidInput(field="admin_email", problem=problem, allowed=ALLOWED_EMAIL, source=source)

    if not isinstance(value, str):
        raise bad(f"must be a string, got {type(value).__name__}")
    shown = value if len(value) <= 80 else value[:77] + "..."
    if len(value) > MAX_EMAIL_LENGTH:
        raise bad(f"is {len(value)} characters long")
    if not value.isascii() or not EMAIL_PATTERN.fullmatch(value):
        raise bad(f"is {shown!r}, not an email address")
    return value


def validate_company_name(value: Any, *, source: str | None = None) -> str:
    def bad(problem: str) -> InvalidInput:
        return InvalidInput(field="company_name", problem=problem, allowed=ALLOWED_COMPANY_NAME,
                            source=source)

    if not isinstance(value, str):
        raise bad(f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise bad("is empty")
    if len(value) > MAX_COMPANY_NAME_LENGTH:
        raise bad(f"is {len(value)} characters long")
    if not value.isprintable():
        raise bad("contains control or non-printable characters")
    if value != value.strip():
        raise bad(f"is {value!r}, with leading or trailing whitespace")
    return value


class InvalidInputs(InvalidInput):
    """Several fields wrong at once; `field`/`problem`/`allowed` are the first one's, the message has all."""

    def __init__(self, problems: list[InvalidInput], *, source: str | None = None) -> None:
        first = problems[0]
        super().__init__(field=first.field, problem=first.problem, allowed=first.allowed, source=source)
        self.problems = tuple(problems)
        where = f"{source}: " if source else ""
        listed = " ".join(f"({n}) field '{p.field}' {p.problem}; allowed: {p.allowed}."
                          for n, p in enumerate(problems, 1))
        self.args = (f"{where}{len(problems)} problems: {listed}",)

    def __str__(self) -> str:
        return self.args[0]


def raise_all(problems: list[InvalidInput], *, source: str | None) -> None:
    """Raise the one problem, or all of them together; nothing when there are none."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidInputs(problems, source=source)


@dataclass(frozen=True, kw_only=True)
class Tenant:
    """One tenant, as its definition file states it. Construct through `Tenant.create`."""

    id: str
    company_name: str
    admin_email: str
    tier: Tier

    @classmethod
    def create(cls, *, id: Any, company_name: Any, admin_email: Any, tier: Any,
               source: str | None = None) -> "Tenant":
        """A valid tenant, or InvalidInput naming every field that is wrong (all at once)."""
        problems: list[InvalidInput] = []
        values = {}
        for name, validate, value in (("id", validate_tenant_id, id),
                                      ("company_name", validate_company_name, company_name),
                                      ("admin_email", validate_email, admin_email), ("tier", validate_tier, tier)):
            try:
                values[name] = validate(value, source=source)
            except InvalidInput as exc:
                problems.append(exc)
        raise_all(problems, source=source)
        return cls(**values)

    def to_toml(self) -> str:
        return tomli_w.dumps({
            "id": self.id, "company_name": self.company_name,
            "admin_email": self.admin_email, "tier": self.tier.value,
        })

    def with_tier(self, tier: Tier) -> "Tenant":
        return Tenant(id=self.id, company_name=self.company_name, admin_email=self.admin_email, tier=tier)


TENANT_FIELDS = tuple(f.name for f in fields(Tenant))


def parse_tenant(text: str, *, source: str, expected_id: str | None = None) -> Tenant:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(field="(file)", problem=f"is not valid TOML ({exc})",
                           allowed="a TOML document with the fields " + ", ".join(TENANT_FIELDS),
                           source=source) from None
    problems = [InvalidInput(field=name, problem="is not a tenant field", allowed=", ".join(TENANT_FIELDS),
                             source=source) for name in sorted(set(data) - set(TENANT_FIELDS))]
    problems += [InvalidInput(field=name, problem="is missing", allowed="a value for each of "
                              + ", ".join(TENANT_FIELDS), source=source)
                 for name in TENANT_FIELDS if name not in data]
    try:
        tenant = Tenant.create(source=source, **{name: data.get(name) for name in TENANT_FIELDS})
    except InvalidInput as exc:
        # a missing field is reported once, as missing (not also as "must be a string")
        problems += [p for p in getattr(exc, "problems", (exc,)) if p.field in data]
    raise_all(problems, source=source)
    if expected_id is not None and tenant.id != expected_id:
        raise InvalidInput(field="id", problem=f"is {tenant.id!r} but the file is named {expected_id!r}.toml",
                           allowed="the file name without .toml", source=source)
    return tenant


class TenantRegistry:
    """The tenants/ directory: one `<id>.toml` per tenant."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, tenant_id: str) -> Path:
        return self.directory / f"{validate_tenant_id(tenant_id)}.toml"

    def exists(self, tenant_id: str) -> bool:
        return self.path(tenant_id).is_file()

    def get(self, tenant_id: str) -> Tenant:
        path = self.path(tenant_id)
        if not path.is_file():
            known = ", ".join(self.ids()) or "none yet"
            raise TenantformError(f"no tenant {tenant_id!r}: {path} does not exist (known tenants: {known})")
        return parse_tenant(path.read_text(encoding="utf-8"), source=str(path), expected_id=tenant_id)

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.toml"))

    def all(self) -> list[Tenant]:
        """Every tenant; the first malformed file stops the load with its error."""
        if not self.directory.is_dir():
            return []
        return [parse_tenant(path.read_text(encoding="utf-8"), source=str(path), expected_id=path.stem)
                for path in sorted(self.directory.glob("*.toml"))]

    def save(self, tenant: Tenant) -> Path:
        path = self.path(tenant.id)
        write_atomic(path, tenant.to_toml())
        return path

    def remove(self, tenant_id: str) -> None:
        self.path(tenant_id).unlink(missing_ok=True)
