"""Buckets and the applications' service accounts."""

from __future__ import annotations

import re
from datetime import date
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
    raise_all,
    repeated,
)

MAX_BUCKET_TAGS = 50
TAG_TEXT_RE = re.compile(r"[A-Za-z0-9 +\-=._:/@]+")
"""The characters MinIO takes in a tag's key or value (minio-go ``pkg/tags``, as AWS S3)."""
TAG_CHARACTERS = "letters, digits, spaces and + - = . _ : / @"


class LockMode(StrEnum):
    """S3 object lock retention modes."""

    GOVERNANCE = "GOVERNANCE"
    """A locked version can be deleted, or its retention shortened, by an identity allowed
    s3:BypassGovernanceRetention (root): mistakes can be undone, a compromised root can erase."""
    COMPLIANCE = "COMPLIANCE"
    """Nobody, root included, deletes a locked version or shortens its retention before it ends."""


class AnonymousAccess(StrEnum):
    """What anyone may do in a bucket without credentials (MinIO's `mc anonymous` levels)."""

    NONE = "none"
    DOWNLOAD = "download"
    """List the bucket and read its objects."""
    UPLOAD = "upload"
    """Write objects (and abort uploads), never read or list them."""
    PUBLIC = "public"
    """Both."""


class ObjectLockSettings(Section):
    """Write once, read many: each new object version is locked for ``days``."""

    mode: LockMode = Field(
        LockMode.COMPLIANCE, description="GOVERNANCE (root may undo) or COMPLIANCE (nobody may)"
    )
    days: int = Field(gt=0, le=36500, description="How long each new version stays locked, in days")


class LifecycleRuleSettings(Section):
    """One more lifecycle rule: which objects (a prefix, tags: all must match) and what happens to
    them. retentionDays stays the whole bucket's rule; these add to it (docs/buckets-and-iam.md)."""

    id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$",
        description="The rule's ID in the bucket's lifecycle (default: rule-<position>)",
    )
    prefix: str = Field("", max_length=1024, description="Only keys starting with this ('' : every key)")
    tags: dict[str, str] = Field(
        default_factory=dict, description="Only objects carrying every one of these tags {key: value}"
    )
    expire_days: int | None = Field(None, gt=0, le=36500, description="Expire current versions after N days")
    expire_on: date | None = Field(None, description="Expire current versions on this day (YYYY-MM-DD, UTC)")
    expire_delete_markers: bool = Field(
        False, description="Remove delete markers with no version left behind them (versioned buckets)"
    )
    noncurrent_days: int | None = Field(
        None, gt=0, le=36500, description="Expire noncurrent versions N days after they became noncurrent"
    )

    @model_validator(mode="after")
    def _one_expiration_and_an_action(self) -> Self:
        """S3 gives a rule one kind of expiration; a rule that does nothing is a mistake."""
        kinds = [k for k, on in (("expireDays", self.expire_days is not None),
                                 ("expireOn", self.expire_on is not None),
                                 ("expireDeleteMarkers", self.expire_delete_markers)) if on]  # fmt: skip
        if len(kinds) > 1:
            raise Invalid(kinds[1], "set", f"one expiration per rule: {' or '.join(kinds)}")
        if not kinds and self.noncurrent_days is None:
            raise Invalid(
                "expireDays",
                None,
                "a rule without an action: expireDays, expireOn, expireDeleteMarkers or noncurrentDays",
            )
        if any(not k or not v for k, v in self.tags.items()):
            raise Invalid("tags", self.tags, "each tag a key and a value")
        return self

    @property
    def whole_bucket(self) -> bool:
        return not self.prefix and not self.tags


class NotificationSettings(Section):
    """Events of a bucket sent to a webhook target the nodes know (cluster.extraEnvironment)."""

    webhook: str = Field(
        pattern=r"^[A-Z0-9_]{1,64}$",
        description="The target's ID: its MINIO_NOTIFY_WEBHOOK_ENABLE_<ID> and ..._ENDPOINT_<ID> variables",
    )
    events: tuple[str, ...] = Field(
        ("s3:ObjectCreated:*",),
        min_length=1,
        description="S3 event names (s3:ObjectCreated:*, s3:ObjectRemoved:*, s3:ObjectAccessed:Get...)",
    )
    prefix: str = Field("", max_length=1024, description="Only keys starting with this")
    suffix: str = Field("", max_length=1024, description="Only keys ending with this")

    @model_validator(mode="after")
    def _event_names(self) -> Self:
        """S3's event names, as MinIO takes them."""
        wrong = [e for e in self.events if not re.fullmatch(r"s3:[A-Za-z]+:(\*|[A-Za-z]+)", e)]
        if wrong:
            raise Invalid(
                "events", wrong, "S3 event names, like s3:ObjectCreated:* or s3:ObjectRemoved:Delete"
            )
        return self

    @property
    def queue_arn(self) -> str:
        return f"arn:minio:sqs::{self.webhook}:webhook"


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
    anonymous: AnonymousAccess = Field(
        AnonymousAccess.NONE,
        description="What anyone may do without credentials: none, download (list and read), upload (write, "
        "never read), public (both); in prod only with publicOnPurpose",
    )
    public_on_purpose: bool = Field(
        False,
        description="This bucket is public by design: what prod requires for anonymous access (the policy "
        "pack refuses an anonymous bucket policy without this mark)",
    )
    quota_mb: int | None = Field(
        None,
        gt=0,
        description="Hard quota in MiB: a write taking the bucket past it is refused (none: no quota)",
    )
    notifications: tuple[NotificationSettings, ...] = Field(
        (),
        description="Each {webhook, events, prefix, suffix}: the bucket's events sent to a webhook target "
        "configured on the nodes",
    )
    lifecycle: tuple[LifecycleRuleSettings, ...] = Field(
        (),
        description="More lifecycle rules, each {id, prefix, tags, expireDays | expireOn | "
        "expireDeleteMarkers, noncurrentDays}, besides retentionDays for the whole bucket",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description=f"The bucket's own tags {{key: value}}, at most {MAX_BUCKET_TAGS} (S3 bucket tagging: "
        "cost centres, owners; not the objects' tags)",
    )

    @model_validator(mode="after")
    def _bucket_tags(self) -> Self:
        """What MinIO takes (minio-go's pkg/tags: 50 tags, keys of 1-128 and values of up to 256
        letters, digits, spaces and + - = . _ : / @), each tag by its key."""
        if len(self.tags) > MAX_BUCKET_TAGS:
            raise Invalid("tags", f"{len(self.tags)} tags", f"at most {MAX_BUCKET_TAGS} tags per bucket")
        found = []
        for key, value in self.tags.items():
            if not (1 <= len(key) <= 128 and TAG_TEXT_RE.fullmatch(key)):
                found.append(Invalid("tags", key, f"a tag key: 1 to 128 of {TAG_CHARACTERS}"))
            elif value and not (len(value) <= 256 and TAG_TEXT_RE.fullmatch(value)):
                found.append(Invalid(f"tags.{key}", value, f"a tag value: up to 256 of {TAG_CHARACTERS}"))
        raise_all(found)
        return self

    @model_validator(mode="after")
    def _lock_needs_versions(self) -> Self:
        """S3 locks versions: a locked bucket keeps them, and says so in its settings."""
        if self.object_lock is not None and not (self.versioning or self.backups):
            raise Invalid("versioning", self.versioning, "objectLock needs versioning: true")
        return self

    @model_validator(mode="after")
    def _purpose_needs_access(self) -> Self:
        """publicOnPurpose marks a bucket open to anyone: only with anonymous access."""
        if self.public_on_purpose and self.anonymous == AnonymousAccess.NONE:
            raise Invalid("publicOnPurpose", True, "only with anonymous: download, upload or public")
        return self

    @model_validator(mode="after")
    def _lifecycle_rules(self) -> Self:
        """IDs once each (the retention rule's too); versions and markers only where versioning
        keeps them; the whole bucket's expiry is retentionDays."""
        found = []
        ids = [f"expire-after-{self.retention_days}-days", *(r.id or f"rule-{i + 1}" for i, r in
                                                               enumerate(self.lifecycle))]  # fmt: skip
        for i, rule_id in repeated(ids):
            found.append(Invalid(f"lifecycle[{i - 1}].id", rule_id, "each rule's ID once in the bucket"))
        for i, rule in enumerate(self.lifecycle):
            where = f"lifecycle[{i}]"
            if not self.versioned and rule.noncurrent_days is not None:
                found.append(
                    Invalid(f"{where}.noncurrentDays", rule.noncurrent_days, "only with versioning: true")
                )
            if not self.versioned and rule.expire_delete_markers:
                found.append(Invalid(f"{where}.expireDeleteMarkers", True, "only with versioning: true"))
            if rule.whole_bucket and rule.expire_days is not None:
                whole = "the whole bucket's expiry is retentionDays: give this rule a prefix or tags"
                found.append(Invalid(f"{where}.expireDays", rule.expire_days, whole))
        raise_all(found)
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
