"""A per-bucket report for Quebec's Loi 25, read from the live cluster (never from configuration).

For each bucket: how long objects are kept (lifecycle expiration, noncurrent versions), whether
versioning and server-side encryption are on, and the object-lock mode. For the cluster: where
audit events go (MinIO's audit webhook and Kafka targets, as the running servers report them).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from day2.buckets import default_encryption, expiration_days
from day2.connection import Connection
from day2.verify import admin_client


@dataclass(frozen=True)
class BucketReport:
    bucket: str
    retention_days: int | None
    noncurrent_retention_days: int | None
    versioning: str
    encryption: str
    object_lock: str


@dataclass(frozen=True)
class AuditTarget:
    kind: str
    name: str
    enabled: bool
    endpoint: str


def _encryption(s3, bucket: str) -> str:
    default = default_encryption(s3, bucket)
    if default is None:
        return "none"
    key = default.get("KMSMasterKeyID")
    return f"{default['SSEAlgorithm']} ({key})" if key else default["SSEAlgorithm"]


def _object_lock(s3, bucket: str) -> str:
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as err:
        if err.response["Error"]["Code"] in {
            "ObjectLockConfigurationNotFoundError",
            "NoSuchObjectLockConfiguration",
        }:
            return "off"
        raise
    retention = config.get("Rule", {}).get("DefaultRetention")
    if not retention:
        return "on, no default retention"
    period = f"{retention['Days']} days" if "Days" in retention else f"{retention.get('Years')} years"
    return f"{retention['Mode'].lower()}, {period}"


def bucket_reports(s3) -> list[BucketReport]:
    reports = []
    for bucket in sorted(b["Name"] for b in s3.list_buckets()["Buckets"]):
        current, noncurrent = expiration_days(s3, bucket)
        reports.append(
            BucketReport(
                bucket=bucket,
                retention_days=current,
                noncurrent_retention_days=noncurrent,
                versioning=s3.get_bucket_versioning(Bucket=bucket).get("Status", "Off").lower(),
                encryption=_encryption(s3, bucket),
                object_lock=_object_lock(s3, bucket),
            )
        )
    return reports


_ENV_RE = re.compile(r"^#?\s*MINIO_AUDIT_(WEBHOOK|KAFKA)_(ENABLE|ENDPOINT|BROKERS)(?:_(\w+))?=(.*)$")
_TARGET_RE = re.compile(r"^audit_(webhook|kafka)(?::(\S+))?\s+(.*)$")


def parse_audit_config(text: str) -> list[AuditTarget]:
    """Audit targets from MinIO's ``config get`` text: ``key=value`` lines and environment overrides."""
    settings: dict[tuple[str, str], dict[str, str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        env = _ENV_RE.match(line)
        if env:
            kind, field, name, value = env.groups()
            settings.setdefault((kind.lower(), name or "_"), {})[field.lower()] = value.strip()
            continue
        target = _TARGET_RE.match(line)
        if target:
            kind, name, pairs = target.groups()
            values = settings.setdefault((kind, name or "_"), {})
            for key, value in re.findall(r'(\w+)=("[^"]*"|\S*)', pairs):
                values.setdefault(key, value.strip('"'))
    targets = []
    for (kind, name), values in sorted(settings.items()):
        endpoint = values.get("endpoint") or values.get("brokers") or ""
        enabled = values.get("enable", "off") == "on"
        if endpoint or enabled:
            targets.append(AuditTarget(kind, name, enabled, endpoint))
    return targets


def audit_targets(connection: Connection) -> list[AuditTarget]:
    admin = admin_client(connection)
    return [
        t for kind in ("audit_webhook", "audit_kafka") for t in parse_audit_config(admin.config_get(kind))
    ]


def compliance_report(connection: Connection) -> dict[str, Any]:
    s3 = connection.s3()
    return {
        "buckets": [asdict(r) for r in bucket_reports(s3)],
        "audit_targets": [asdict(t) for t in audit_targets(connection)],
    }
