"""Buckets and the applications' service accounts."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import (
    Field,
    model_validator,
)

from components.settings.base import (
    BucketName,
    Identifier,
    Invalid,
    Section,
)


class LockMode(StrEnum):
    """S3 object lock retention modes."""

    GOVERNANCE = "GOVERNANCE"
    """A locked version can be deleted, or its retention shortened, by an identity allowed
    s3:BypassGovernanceRetention (root): mistakes can be undone, a compromised root can erase."""
    COMPLIANCE = "COMPLIANCE"
    """Nobody, root included, deletes a locked version or shortens its retention before it ends."""


class ObjectLockSettings(Section):
    """Write once, read many: each new object version is locked for ``days``."""

    mode: LockMode = Field(
        LockMode.COMPLIANCE, description="GOVERNANCE (root may undo) or COMPLIANCE (nobody may)"
    )
    days: int = Field(gt=0, le=36500, description="How long each new version stays locked, in days")


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
        description="The day-2 tool's PostgreSQL backups go here: always versioned and locked (objectLock, "
        "default COMPLIANCE for retentionDays)",
    )
    object_lock: ObjectLockSettings | None = Field(
        None,
        description="{mode, days}: lock each new version (needs versioning, created with the bucket); a "
        "backups bucket without it is locked in COMPLIANCE mode for retentionDays",
    )

    @model_validator(mode="after")
    def _lock_needs_versions(self) -> Self:
        """S3 locks versions: a locked bucket keeps them, and says so in its settings."""
        if self.object_lock is not None and not (self.versioning or self.backups):
            raise Invalid("versioning", self.versioning, "objectLock needs versioning: true")
        return self

    @property
    def versioned(self) -> bool:
        """Versioning on: asked for, or needed by the lock (a backups bucket is always locked)."""
        return self.versioning or self.lock is not None

    @property
    def lock(self) -> ObjectLockSettings | None:
        """The lock each new version gets: the settings', or a backups bucket's default."""
        if self.object_lock is None and self.backups:
            return ObjectLockSettings(mode=LockMode.COMPLIANCE, days=self.retention_days)
        return self.object_lock


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
