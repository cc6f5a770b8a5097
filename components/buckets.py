"""Buckets from settings: private, with retention, optional versioning and encryption.

Each bucket gets exactly one lifecycle policy: the provider's IlmPolicy replaces a bucket's whole
lifecycle configuration, so two of them on one bucket would overwrite each other on every update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_minio as minio

from components.settings import BucketSettings

PENDING_BACKUPS_PREFIX = "pending/"
"""Where the day-2 tool uploads a backup before its final key (day2/backups.py)."""


def lifecycle_rules(bucket: BucketSettings) -> list[dict]:
    """The bucket's one lifecycle rule set: expire objects after ``retention_days``.

    With versioning, expiring the current version leaves a delete marker and a noncurrent
    version, which then expires after ``noncurrent_retention_days``. A backups bucket also
    expires what interrupted backups left under ``pending/`` after a day.
    """
    rule: dict = {
        "id": f"expire-after-{bucket.retention_days}-days",
        "expiration": f"{bucket.retention_days}d",
    }
    if bucket.versioning:
        rule["noncurrent_version_expiration_days"] = bucket.noncurrent_retention_days
    rules = [rule]
    if bucket.backups:
        pending: dict = {"id": "expire-pending-backups", "expiration": "1d", "filter": PENDING_BACKUPS_PREFIX}
        if bucket.versioning:
            pending["noncurrent_version_expiration_days"] = 1
        rules.append(pending)
    return rules


@dataclass(frozen=True)
class BucketsArgs:
    buckets: Sequence[BucketSettings]
    kms_key_id: str
    """The cluster's KMS key, for buckets with encryption on."""
    protect: bool = False
    """Refuse to delete buckets (prod)."""


class Buckets(pulumi.ComponentResource):
    """One private bucket per setting, with its lifecycle, versioning and encryption."""

    names: list[str]
    buckets: dict[str, minio.S3Bucket]

    def __init__(self, name: str, args: BucketsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("minio-platform:storage:Buckets", name, None, opts)
        self.names = [b.name for b in args.buckets]
        self.buckets = {}
        for settings in args.buckets:
            child = pulumi.ResourceOptions(parent=self)
            bucket = minio.S3Bucket(
                f"{name}-{settings.name}",
                bucket=settings.name,
                acl="private",
                # A bucket with objects is never deleted by Pulumi: empty it deliberately first.
                force_destroy=False,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.buckets[settings.name] = bucket
            minio.IlmPolicy(
                f"{name}-{settings.name}-lifecycle",
                bucket=bucket.bucket,
                rules=lifecycle_rules(settings),
                opts=child,
            )
            # Versioning stays off unless asked for: with it, a delete keeps the data (the note's
            # right-to-deletion default is immediate deletion).
            if settings.versioning:
                minio.S3BucketVersioning(
                    f"{name}-{settings.name}-versioning",
                    bucket=bucket.bucket,
                    versioning_configuration={"status": "Enabled"},
                    opts=child,
                )
            if settings.encryption:
                minio.S3BucketServerSideEncryption(
                    f"{name}-{settings.name}-encryption",
                    bucket=bucket.bucket,
                    encryption_type="aws:kms",
                    kms_key_id=args.kms_key_id,
                    opts=child,
                )
        self.register_outputs({"names": self.names})
