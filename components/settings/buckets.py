"""Buckets and the applications' service accounts."""

from __future__ import annotations

from pydantic import (
    Field,
)

from components.settings.base import (
    BucketName,
    Identifier,
    Section,
)


class BucketSettings(Section):
    name: BucketName = Field(description="Bucket name, unique in the stack")
    retention_days: int = Field(gt=0, description="Objects expire this many days after creation")
    versioning: bool = Field(False, description="Keep noncurrent versions (off: deleted objects really go)")
    noncurrent_retention_days: int = Field(
        7, gt=0, description="With versioning: noncurrent versions expire after this many days"
    )
    encryption: bool = Field(False, description="SSE-KMS with the stack's KMS key")
    backups: bool = Field(
        False,
        description="The day-2 tool's PostgreSQL backups go here: what an interrupted backup leaves "
        "under pending/ expires after a day",
    )


class ServiceAccountSettings(Section):
    name: Identifier = Field(description="The account's name (its MinIO user), unique")
    policy: str = Field(description="Name of a template in policies/iam/")
    buckets: tuple[BucketName, ...] = Field(
        (), description="Configured buckets a per-bucket template applies to (empty for the others)"
    )


def _default_buckets() -> tuple[BucketSettings, ...]:
    return (
        BucketSettings(name="backups-postgresql", retention_days=30, backups=True),
        BucketSettings(name="logs", retention_days=90),
        BucketSettings(name="application-files", retention_days=365),
    )


def _default_service_accounts() -> tuple[ServiceAccountSettings, ...]:
    return (
        ServiceAccountSettings(
            name="backup-service", policy="backup-service", buckets=("backups-postgresql",)
        ),
    )
