"""A bucket's lifecycle, default encryption and object lock as the live cluster reports them (absent
is not an error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

NO_LIFECYCLE = {"NoSuchLifecycleConfiguration"}
NO_ENCRYPTION = {"ServerSideEncryptionConfigurationNotFoundError", "NoSuchEncryptionConfiguration"}
NO_OBJECT_LOCK = {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}


def unless_absent(call: Callable[[], Any], absent: set[str], default: Any = None) -> Any:
    """``call()``, or ``default`` when S3 answers one of the ``absent`` codes (a setting not made)."""
    try:
        return call()
    except ClientError as err:
        if err.response["Error"]["Code"] in absent:
            return default
        raise


def enabled_lifecycle_rules(s3, bucket: str) -> list[dict[str, Any]]:
    rules = unless_absent(
        lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"], NO_LIFECYCLE, []
    )
    return [r for r in rules if r.get("Status") == "Enabled"]


def _whole_bucket(rule: dict[str, Any]) -> bool:
    """A rule for every object: no prefix, no tag."""
    scope = rule.get("Filter", {})
    return not (scope.get("Prefix") or rule.get("Prefix") or "Tag" in scope or "And" in scope)


def expiration_days(s3, bucket: str) -> tuple[int | None, int | None]:
    """The shortest expiration of current and of noncurrent versions of every object (None: never).

    Only rules for the whole bucket count: a rule for a prefix keeps the rest no shorter.
    """
    rules = [r for r in enabled_lifecycle_rules(s3, bucket) if _whole_bucket(r)]
    current = [r["Expiration"]["Days"] for r in rules if "Days" in r.get("Expiration", {})]
    noncurrent = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in rules
        if "NoncurrentVersionExpiration" in r
    ]
    return (min(current) if current else None, min(noncurrent) if noncurrent else None)


def default_encryption(s3, bucket: str) -> dict[str, Any] | None:
    """``ApplyServerSideEncryptionByDefault`` of the bucket, or None."""
    rules = unless_absent(
        lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
        NO_ENCRYPTION,
        [],
    )
    return rules[0]["ApplyServerSideEncryptionByDefault"] if rules else None


def object_lock_configuration(s3, bucket: str) -> dict[str, Any] | None:
    """The bucket's ``ObjectLockConfiguration``, or None when object lock is off."""
    return unless_absent(
        lambda: s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"], NO_OBJECT_LOCK
    )


def object_lock_enabled(s3, bucket: str) -> bool:
    config = object_lock_configuration(s3, bucket)
    return config is not None and config.get("ObjectLockEnabled") == "Enabled"
