"""Buckets from settings: private, with retention, optional versioning, object lock and encryption.

Each bucket gets exactly one lifecycle policy: the provider's IlmPolicy replaces a bucket's whole
lifecycle configuration, so two of them on one bucket would overwrite each other on every update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_minio as minio
import pulumi_random as random

from components.settings import BucketSettings


def lifecycle_rules(bucket: BucketSettings) -> list[dict]:
    """The bucket's one lifecycle rule set: expire objects after ``retention_days``.

    With versioning, expiring the current version leaves a delete marker and a noncurrent
    version, which then expires after ``noncurrent_retention_days``; MinIO expires a locked
    version only once its lock has ended.
    """
    rule: dict = {
        "id": f"expire-after-{bucket.retention_days}-days",
        "expiration": f"{bucket.retention_days}d",
    }
    if bucket.versioned:
        rule["noncurrent_version_expiration_days"] = bucket.noncurrent_retention_days
    return [rule]


@dataclass(frozen=True)
class BucketsArgs:
    buckets: Sequence[BucketSettings]
    kms_key_id: str
    """The cluster's KMS key, for buckets with encryption on."""
    protect: bool = False
    """Refuse to delete buckets (prod)."""
    generate_seal_key: bool = True
    """Make the backups' seal key (with a backups bucket), unless the stack gives one (backupSealKey)."""


SEAL_KEY_LENGTH = 64
"""Letters and digits: about 380 bits for the backups' HMAC key."""


class Buckets(pulumi.ComponentResource):
    """One private bucket per setting, with its lifecycle, versioning, lock and encryption; and,
    with a backups bucket, the key that seals each backup."""

    names: list[str]
    buckets: dict[str, minio.S3Bucket]
    seal_key: pulumi.Output[str] | None
    """The HMAC key the day-2 tool seals and checks backups with (secret). No MinIO identity holds
    it: whoever can write the bucket, root included, cannot forge a backup's seal."""

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
                # S3 turns object lock on only when a bucket is created (and versioning with it).
                # pulumi-minio 0.17.1 has no resource for a default retention: whoever writes sets
                # each version's (the day-2 backup tool: the stack's bucket_configuration output).
                object_locking=settings.lock is not None,
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
            if settings.versioned:
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
        self.seal_key = None
        if args.generate_seal_key and any(settings.backups for settings in args.buckets):
            key = random.RandomPassword(
                f"{name}-backup-seal-key",
                length=SEAL_KEY_LENGTH,
                special=False,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.seal_key = pulumi.Output.secret(key.result)
        self.register_outputs({"names": self.names})
