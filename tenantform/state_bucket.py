"""The state bucket: versioned, encrypted, private, TLS-only. Same code for moto and AWS.

The protections are declared once (PROTECTIONS): each knows how to read its current setting,
whether that setting is what we want, and how to apply what we want. `ensure_state_bucket`
(`invoke bootstrap`) applies the missing ones and says what it changed; `verify_state_bucket`
(the aws target's `prepare`, before any state is written) refuses a bucket that lacks one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from tenantform.errors import TenantformError

TLS_SID = "DenyInsecureTransport"
VERSIONING = {"Status": "Enabled"}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                         "BucketKeyEnabled": True}]}
"""SSE-KMS with the AWS-managed `aws/s3` key and an S3 bucket key (README: KMS-encrypted)."""
PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                       "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
_ABSENT = ("NoSuchBucketPolicy", "ServerSideEncryptionConfigurationNotFoundError",
           "NoSuchPublicAccessBlockConfiguration")
_DENIED = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled")


def default_bucket_name(*, account_id: str, region: str) -> str:
    """A name no other account can hold: S3 names are global, account ids are not shared."""
    return f"tenantform-state-{account_id}-{region}"


def tls_only_policy(bucket: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [tls_statement(bucket)]}


def tls_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


class StateBucketError(TenantformError):
    """The state bucket cannot be used: missing, not ours, or unprotected."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _denied(bucket: str, exc: ClientError, doing: str) -> StateBucketError:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 403)
    answer = f"HTTP {status}" + ("" if not code or code.isdigit() else f" {code}")
    return StateBucketError(
        f"state bucket {bucket!r} exists but is not yours or not readable ({doing}: {answer}); "
        "check the account and credentials, or set tenantform.state_bucket to a bucket of this account")


def _read(s3: Any, bucket: str, operation: str, absent: Any = None) -> Any:
    """Call a Get* operation; an absent configuration is `absent`, a 403 is an error."""
    try:
        return getattr(s3, operation)(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in _ABSENT:
            return absent
        if _code(exc) in _DENIED:
            raise _denied(bucket, exc, operation) from None
        raise StateBucketError(f"state bucket {bucket!r}: {operation} failed ({_code(exc)}: {exc})") from None


# -- the protections, declared once --------------------------------------------------------------
@dataclass(frozen=True)
class Protection:
    name: str
    wanted: str
    """What we want, in words (for messages)."""
    read: Callable[[Any, str], Any]
    """The current setting, in a form `ok` and `describe` understand (None when absent)."""
    ok: Callable[[Any, str], bool]
    describe: Callable[[Any], str]
    apply: Callable[[Any, str, Any], None]
    """Apply what we want, given the current setting (the TLS policy keeps other statements)."""
    aws_only: bool = False
    """Not applied on the local target: the emulator speaks plain HTTP on 127.0.0.1 and enforces
    bucket policies on objects, so a TLS-only policy would lock terraform out of its own state."""


def _versioning_status(s3: Any, bucket: str) -> str | None:
    return _read(s3, bucket, "get_bucket_versioning", {}).get("Status")


def _encryption(s3: Any, bucket: str) -> str | None:
    config = _read(s3, bucket, "get_bucket_encryption")
    if not config:
        return None
    rules = config["ServerSideEncryptionConfiguration"]["Rules"]
    algorithms = [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules]
    return ",".join(a for a in algorithms if a) or None


def _public_access_block(s3: Any, bucket: str) -> dict[str, bool]:
    found = _read(s3, bucket, "get_public_access_block")
    return dict(found["PublicAccessBlockConfiguration"]) if found else {}


def _policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    found = _read(s3, bucket, "get_bucket_policy")
    return json.loads(found["Policy"]) if found else None


def has_tls_statement(policy: dict[str, Any] | None, bucket: str) -> bool:
    """A Deny of every action on the bucket and its objects to any principal without TLS."""
    if not policy:
        return False
    wanted = tls_statement(bucket)
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource")
        resources = {resources} if isinstance(resources, str) else set(resources or ())
        principal = statement.get("Principal")
        if (statement.get("Effect") == "Deny" and statement.get("Action") in ("s3:*", ["s3:*"])
                and principal in ("*", {"AWS": "*"}) and set(wanted["Resource"]) <= resources
                and statement.get("Condition") == wanted["Condition"]):
            return True
    return False


def _apply_policy(s3: Any, bucket: str, current: dict[str, Any] | None) -> None:
    policy = current or {"Version": "2012-10-17", "Statement": []}
    policy["Statement"] = [s for s in policy.get("Statement", []) if s.get("Sid") != TLS_SID] + [tls_statement(bucket)]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


PROTECTIONS: tuple[Protection, ...] = (
    Protection(
        "versioning", "Enabled", _versioning_status,
        ok=lambda status, _: status == VERSIONING["Status"],
        describe=lambda status: status or "never enabled",
        apply=lambda s3, bucket, _: s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=VERSIONING)),
    Protection(
        "encryption", "aws:kms (SSE-KMS)", _encryption,
        ok=lambda algorithm, _: algorithm == "aws:kms",
        describe=lambda algorithm: {None: "none", "AES256": "AES256 (SSE-S3)"}.get(algorithm, algorithm),
        apply=lambda s3, bucket, _: s3.put_bucket_encryption(Bucket=bucket,
                                                              ServerSideEncryptionConfiguration=ENCRYPTION)),
    Protection(
        "public access block", "all four blocks on", _public_access_block,
        ok=lambda config, _: all(config.get(k) is True for k in PUBLIC_ACCESS_BLOCK),
        describe=lambda config: (", ".join(f"{k} off" for k in PUBLIC_ACCESS_BLOCK if config.get(k) is not True)
                                 if config else "none"),
        apply=lambda s3, bucket, _: s3.put_public_access_block(Bucket=bucket,
                                                               PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)),
    Protection(
        "TLS-only policy", f"a {TLS_SID} statement", _policy,
        ok=lambda policy, bucket: has_tls_statement(policy, bucket),
        describe=lambda policy: "no bucket policy" if policy is None else "a policy without it",
        apply=_apply_policy, aws_only=True),
)


def _protections(tls_only: bool) -> tuple[Protection, ...]:
    return tuple(p for p in PROTECTIONS if tls_only or not p.aws_only)


# -- verify and apply ------------------------------------------------------------------------------
def bucket_exists(s3: Any, bucket: str) -> bool:
    """True if the bucket is there and readable by us; False if missing; a 403 is an error."""
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if _code(exc) in _DENIED:
            raise _denied(bucket, exc, "HeadBucket") from None
        raise StateBucketError(f"state bucket {bucket!r}: HeadBucket failed ({_code(exc)})") from None


def missing_protections(s3: Any, bucket: str, *, tls_only: bool = True) -> list[str]:
    """Each protection that is not in place, as 'name is <current> (wanted <wanted>)'."""
    problems = []
    for protection in _protections(tls_only):
        current = protection.read(s3, bucket)
        if not protection.ok(current, bucket):
            problems.append(f"{protection.name} is {protection.describe(current)} (wanted {protection.wanted})")
    return problems


def verify_state_bucket(s3: Any, bucket: str, *, fix: str, tls_only: bool = True) -> None:
    """Refuse a bucket that is missing, not ours, or lacks a protection. One line, naming `fix`."""
    if not bucket_exists(s3, bucket):
        raise StateBucketError(f"state bucket {bucket!r} does not exist; create it with `{fix}`")
    problems = missing_protections(s3, bucket, tls_only=tls_only)
    if problems:
        raise StateBucketError(f"state bucket {bucket!r} is not protected: {'; '.join(problems)}; "
                               f"apply the protections with `{fix}`")


@dataclass
class BootstrapResult:
    bucket: str
    created: bool = False
    changes: list[str] = field(default_factory=list)
    """One line per protection changed: 'versioning: was Suspended, now Enabled'."""
    skipped: list[str] = field(default_factory=list)
    """Protections deliberately not applied on this target, with the reason."""


def ensure_state_bucket(s3: Any, bucket: str, region: str, *, tls_only: bool = True) -> BootstrapResult:
    """Create the bucket if missing and (re)apply each missing protection; report what changed.

    `tls_only=False` is for the local emulator only (see Protection.aws_only).
    """
    result = BootstrapResult(bucket)
    if not bucket_exists(s3, bucket):
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        result.created = True
    for protection in _protections(tls_only):
        current = protection.read(s3, bucket)
        if protection.ok(current, bucket):
            continue
        protection.apply(s3, bucket, current)
        result.changes.append(f"{protection.name}: was {protection.describe(current)}, now {protection.wanted}")
    if not tls_only:
        result.skipped = [f"{p.name} (the emulator speaks plain HTTP)" for p in PROTECTIONS if p.aws_only]
    return result


def delete_state_objects(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Delete every version and delete marker under `prefix` (a versioned bucket keeps them)."""
    removed: list[str] = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if batch:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            removed.extend(sorted({item["Key"] for item in batch}))
    return sorted(set(removed))


def list_state_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def require_bucket_owner(s3: Any, account_id: str) -> Any:
    """Make every call of this S3 client that accepts ExpectedBucketOwner carry `account_id`:
    a bucket of that name in another account then answers 403 instead of being used."""
    def add_owner(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.input_shape is not None and "ExpectedBucketOwner" in model.input_shape.members:
            params.setdefault("ExpectedBucketOwner", account_id)

    s3.meta.events.register("provide-client-params.s3.*", add_owner)
    return s3
