"""The cluster's configuration as a document: exported to the backups bucket, compared with a cluster.

``export-config`` reads the IAM side (policies, users, groups, the users' service accounts) and
each bucket's settings (versioning, object lock, lifecycle, default encryption, quota, tags) through
MinIO's admin API and S3, with no secret: MinIO's admin API never answers a secret key, and an
export does not ask for one. The document goes to ``config/`` in the backups bucket, written once
(``If-None-Match``) and locked like a backup. ``import-config --dry-run`` compares a document with a
cluster and lists what applying it would change.

Volatile fields (``updatedAt``, the time of an export) are left out, so two exports of an unchanged
cluster compare equal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minio import MinioAdmin

from day2.backups import Lock
from day2.buckets import NO_ENCRYPTION, NO_LIFECYCLE, object_lock_configuration, unless_absent
from day2.errors import BackupNotFound, CorruptBackup, UsageError

FORMAT = "minio-platform/cluster-config/1"
CONFIG_PREFIX = "config"
"""Where exports live in the backups bucket: ``config/cluster-config-<time>-<random>.json``."""
SECTIONS = ("policies", "users", "groups", "service_accounts", "buckets")
NO_TAGS = {"NoSuchTagSet", "NoSuchTagSetError"}
NO_QUOTA = {"quota": 0}


def _loads(text: str) -> Any:
    return json.loads(text) if text and text.strip() else None


def _names(value: str | None) -> list[str]:
    """MinIO's comma-separated policy names as a sorted list."""
    return sorted(p for p in (value or "").split(",") if p)


def normal_policy(document: dict[str, Any]) -> dict[str, Any]:
    """A policy with its statements' action and resource lists sorted: MinIO answers them in a
    different order from one call to the next."""
    return {
        **document,
        "Statement": [
            {k: sorted(v) if k in _LISTS and isinstance(v, list) else v for k, v in statement.items()}
            for statement in document.get("Statement") or []
        ],
    }


_LISTS = {"Action", "NotAction", "Resource", "NotResource"}


def _policies(admin: MinioAdmin) -> dict[str, Any]:
    return {name: normal_policy(doc) for name, doc in sorted((_loads(admin.policy_list()) or {}).items())}


def _users(admin: MinioAdmin) -> dict[str, Any]:
    return {
        name: {
            "status": info.get("status", "enabled"),
            "policies": _names(info.get("policyName")),
            "groups": sorted(info.get("memberOf") or []),
        }
        for name, info in sorted((_loads(admin.user_list()) or {}).items())
    }


def _groups(admin: MinioAdmin) -> dict[str, Any]:
    groups = {}
    for name in sorted(_loads(admin.group_list()) or []):
        info = _loads(admin.group_info(name)) or {}
        groups[name] = {
            "status": info.get("status", "enabled"),
            "members": sorted(info.get("members") or []),
            "policies": _names(info.get("policy")),
        }
    return groups


def _service_accounts(admin: MinioAdmin, users: list[str]) -> dict[str, Any]:
    """The service accounts of each user: parent, name, description, status, expiry and the
    policy of its own (None: it inherits its parent's)."""
    accounts = {}
    for user in users:
        listed = (_loads(admin.list_service_account(user)) or {}).get("accounts") or []
        for entry in listed:
            expiration = entry.get("expiration")
            implied = entry.get("impliedPolicy", True)
            accounts[entry["accessKey"]] = {
                "parent": entry.get("parentUser", user),
                "name": entry.get("name", ""),
                "description": entry.get("description", ""),
                "status": entry.get("accountStatus", "on"),
                "expiration": None if not expiration or expiration.startswith("1970-") else expiration,
                "policy": None
                if implied
                else normal_policy(_loads(_loads(admin.get_service_account(entry["accessKey"]))["policy"])),
            }
    return dict(sorted(accounts.items()))


def bucket_settings(s3, admin: MinioAdmin, bucket: str) -> dict[str, Any]:
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    encryption = unless_absent(
        lambda: s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
        NO_ENCRYPTION,
        [],
    )
    quota = _loads(admin.bucket_quota_get(bucket)) or {}
    quota = {k: v for k, v in quota.items() if k in ("quota", "quotatype")}
    return {
        "versioning": versioning or "Off",
        "object_lock": object_lock_configuration(s3, bucket),
        "lifecycle": unless_absent(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"], NO_LIFECYCLE, []
        ),
        "encryption": encryption,
        "quota": None if not quota.get("quota") else quota,
        "tags": {
            t["Key"]: t["Value"]
            for t in unless_absent(lambda: s3.get_bucket_tagging(Bucket=bucket)["TagSet"], NO_TAGS, [])
        },
    }


def read_configuration(admin: MinioAdmin, s3) -> dict[str, Any]:
    """The cluster's configuration as an export holds it (without its time)."""
    users = _users(admin)
    return {
        "format": FORMAT,
        "policies": _policies(admin),
        "users": users,
        "groups": _groups(admin),
        "service_accounts": _service_accounts(admin, list(users)),
        "buckets": {
            b["Name"]: bucket_settings(s3, admin, b["Name"])
            for b in sorted(s3.list_buckets()["Buckets"], key=lambda b: b["Name"])
        },
    }


def export_key(now: datetime | None = None) -> str:
    """A key no other export takes: the microsecond and 8 random hex digits."""
    now = now or datetime.now(UTC)
    return f"{CONFIG_PREFIX}/cluster-config-{now:%Y%m%dT%H%M%S}.{now:%f}Z-{secrets.token_hex(4)}.json"


@dataclass(frozen=True)
class Export:
    bucket: str
    key: str
    version_id: str | None
    size: int
    sha256: str
    counts: dict[str, int]
    locked_until: str | None = None


def write_export(s3, bucket: str, document: dict[str, Any], lock: Lock | None) -> Export:
    """The document under a new key, written once (``If-None-Match``: never over another export),
    with its SHA-256 checked by the server and locked like a backup."""
    now = datetime.now(UTC)
    key = export_key(now)
    body = json.dumps({**document, "exported_at": now.isoformat()}, indent=2).encode()
    digest = hashlib.sha256(body)
    locking = lock.arguments(now) if lock else {}
    answer = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/json",
        ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
        IfNoneMatch="*",
        Metadata={"sha256": digest.hexdigest(), "format": FORMAT},
        **locking,
    )
    return Export(
        bucket=bucket,
        key=key,
        version_id=answer.get("VersionId"),
        size=len(body),
        sha256=digest.hexdigest(),
        counts={section: len(document[section]) for section in SECTIONS},
        locked_until=locking["ObjectLockRetainUntilDate"].isoformat() if locking else None,
    )


def newest_export_key(s3, bucket: str) -> str:
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{CONFIG_PREFIX}/")
        for item in page.get("Contents", [])
        if item["Key"].endswith(".json")
    ]
    if not keys:
        raise BackupNotFound(f"no configuration export in s3://{bucket}/{CONFIG_PREFIX}/")
    return max(keys)  # the keys sort by their time


def read_export(s3, bucket: str, key: str | None = None) -> tuple[str, dict[str, Any]]:
    """An export from the bucket (``key``, or the newest), refused when it was written again
    (an export is written once) or its content does not match the SHA-256 it was written with."""
    key = key or newest_export_key(s3, bucket)
    where = f"s3://{bucket}/{key}"
    versions = [
        v
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key)
        for v in page.get("Versions", [])
        if v["Key"] == key
    ]
    if not versions:
        raise BackupNotFound(f"no configuration export {where}")
    if len(versions) > 1:
        raise CorruptBackup(f"{where} was written {len(versions)} times (an export is written once): refused")
    answer = s3.get_object(Bucket=bucket, Key=key, VersionId=versions[0]["VersionId"])
    body = answer["Body"].read()
    if hashlib.sha256(body).hexdigest() != answer.get("Metadata", {}).get("sha256"):
        raise CorruptBackup(f"{where} does not match the SHA-256 it was written with: refused")
    return key, parse_export(body, where)


def parse_export(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as err:
        raise UsageError(f"{where} is not JSON: {err}") from err
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UsageError(f"{where} is not a configuration export ({FORMAT})")
    missing = [s for s in SECTIONS if not isinstance(document.get(s), dict)]
    if missing:
        raise UsageError(f"{where} has no {', '.join(missing)}")
    return document


@dataclass(frozen=True)
class Difference:
    """What applying an export would do to one item of the cluster."""

    action: str
    """``add`` (in the export, not on the cluster), ``change``, or ``extra`` (on the cluster only:
    applying leaves it, the export does not know it)."""
    section: str
    name: str
    fields: tuple[str, ...] = ()
    """With ``change``: the settings that differ."""

    @property
    def kind(self) -> str:
        return {
            "policies": "policy",
            "users": "user",
            "groups": "group",
            "service_accounts": "service account",
            "buckets": "bucket",
        }[self.section]


def differences(exported: dict[str, Any], live: dict[str, Any]) -> list[Difference]:
    """What applying ``exported`` to a cluster holding ``live`` would change, section by section."""
    found = []
    for section in SECTIONS:
        wanted, present = exported[section], live[section]
        for name in sorted(wanted.keys() | present.keys()):
            if name not in present:
                found.append(Difference("add", section, name))
            elif name not in wanted:
                found.append(Difference("extra", section, name))
            elif wanted[name] != present[name]:
                found.append(
                    Difference("change", section, name, tuple(_changed(wanted[name], present[name])))
                )
    return found


def _changed(wanted: Any, present: Any) -> Iterator[str]:
    if (
        isinstance(wanted, dict)
        and isinstance(present, dict)
        and not {"Version", "Statement"} <= wanted.keys()
    ):
        for field in sorted(wanted.keys() | present.keys()):
            if wanted.get(field) != present.get(field):
                yield field
    else:
        yield "document"
