"""A per-bucket report for Quebec's Loi 25, read from the live cluster (never from configuration).

For each bucket: how long objects are kept (lifecycle expiration, noncurrent versions), whether
versioning and server-side encryption are on, and the object-lock mode. For the cluster: where
audit events go (MinIO's audit webhook and Kafka targets, as the running servers report them).
Read as ``platform-auditor`` by default: every bucket's settings and server info, nothing else.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from day2.buckets import default_encryption, expiration_days, object_lock_configuration
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
    """``webhook`` or ``kafka``."""
    name: str
    """The webhook target's name (``MINIO_AUDIT_WEBHOOK_ENABLE_<NAME>``); empty for Kafka."""
    status: str
    """``online`` or ``offline``, as the answering server last saw it deliver."""


def _encryption(s3, bucket: str) -> str:
    default = default_encryption(s3, bucket)
    if default is None:
        return "none"
    key = default.get("KMSMasterKeyID")
    return f"{default['SSEAlgorithm']} ({key})" if key else default["SSEAlgorithm"]


def _object_lock(s3, bucket: str) -> str:
    config = object_lock_configuration(s3, bucket)
    if config is None:
        return "off"
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


WEBHOOK_PREFIX = "audit-"
"""How MinIO's server info names an audit webhook target (``audit-<name>``); Kafka is ``kafka``."""


def audit_targets(server_info: dict[str, Any]) -> list[AuditTarget]:
    """The enabled audit targets in MinIO's server info (``services.audit``), by name.

    Server info, not the configuration: MinIO serves its configuration only to identities allowed
    to change it (``admin:ConfigUpdate``), which the read-only auditor is not. Server info names
    each enabled target and its state, not its endpoint.
    """
    targets = []
    for entry in server_info.get("services", {}).get("audit") or []:
        for name, state in entry.items():
            kind, label = (
                ("webhook", name[len(WEBHOOK_PREFIX) :]) if name.startswith(WEBHOOK_PREFIX) else (name, "")
            )
            targets.append(AuditTarget(kind, label, (state or {}).get("status", "unknown")))
    return sorted(targets, key=lambda t: (t.kind, t.name))


def compliance_report(connection: Connection) -> dict[str, Any]:
    s3 = connection.s3()
    return {
        "buckets": [asdict(r) for r in bucket_reports(s3)],
        "audit_targets": [asdict(t) for t in audit_targets(json.loads(admin_client(connection).info()))],
    }
