"""Buckets from settings: private, with retention, optional versioning, object lock, encryption,
quota, more lifecycle rules and tags.

Each bucket gets exactly one lifecycle policy: the provider's IlmPolicy replaces a bucket's whole
lifecycle configuration, so two of them on one bucket would overwrite each other on every update.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_minio as minio
import pulumi_random as random

from components.bucket_tags import BucketTags
from components.settings import AnonymousAccess, BucketSettings, LifecycleRuleSettings


def lifecycle_rules(bucket: BucketSettings) -> list[dict]:
    """The bucket's one lifecycle rule set: expire objects after ``retention_days``, then the
    bucket's own rules (``lifecycle``) in their order.

    With versioning, expiring the current version leaves a delete marker and a noncurrent
    version, which then expires after ``noncurrent_retention_days``; MinIO expires a locked
    version only once its lock has ended. The provider (pulumi-minio 0.17.1) reads ``expiration``
    as ``<N>d``, a date or ``DeleteMarker``, and a rule with ``tags`` as an ``And`` filter of the
    prefix and every tag.
    """
    rule: dict = {
        "id": f"expire-after-{bucket.retention_days}-days",
        "expiration": f"{bucket.retention_days}d",
    }
    if bucket.versioned:
        rule["noncurrent_version_expiration_days"] = bucket.noncurrent_retention_days
    return [rule, *(_rule(r, f"rule-{i + 1}") for i, r in enumerate(bucket.lifecycle))]


def _rule(rule: LifecycleRuleSettings, default_id: str) -> dict:
    converted: dict = {"id": rule.id or default_id}
    if rule.prefix:
        converted["filter"] = rule.prefix
    if rule.tags:
        converted["tags"] = dict(rule.tags)
    if rule.expire_days is not None:
        converted["expiration"] = f"{rule.expire_days}d"
    elif rule.expire_on is not None:
        converted["expiration"] = rule.expire_on.isoformat()
    elif rule.expire_delete_markers:
        converted["expiration"] = "DeleteMarker"
    if rule.noncurrent_days is not None:
        converted["noncurrent_version_expiration_days"] = rule.noncurrent_days
    return converted


MIB = 1024 * 1024
ON_PURPOSE_SID = "PublicOnPurpose"
"""How an anonymous statement of a bucket marked publicOnPurpose begins its Sid: the mark the
policy pack looks for in prod (policies/pack/rules.py, prod-buckets-not-anonymous)."""
_ANONYMOUS_ACTIONS = {
    # MinIO's own `mc anonymous` levels (minio-go pkg/policy: bucket and object actions per level).
    AnonymousAccess.DOWNLOAD: (("s3:GetBucketLocation", "s3:ListBucket"), ("s3:GetObject",)),
    AnonymousAccess.UPLOAD: (
        ("s3:GetBucketLocation", "s3:ListBucketMultipartUploads"),
        ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:ListMultipartUploadParts", "s3:PutObject"),
    ),
}


def anonymous_policy(bucket: BucketSettings) -> dict | None:
    """The bucket policy that lets anyone do what ``bucket.anonymous`` names (None: nobody)."""
    if bucket.anonymous is AnonymousAccess.NONE:
        return None
    levels = (
        [AnonymousAccess.DOWNLOAD, AnonymousAccess.UPLOAD]
        if bucket.anonymous is AnonymousAccess.PUBLIC
        else [bucket.anonymous]
    )
    on_bucket = sorted({a for level in levels for a in _ANONYMOUS_ACTIONS[level][0]})
    on_objects = sorted({a for level in levels for a in _ANONYMOUS_ACTIONS[level][1]})
    sid = ON_PURPOSE_SID if bucket.public_on_purpose else "Anonymous"
    arn = f"arn:aws:s3:::{bucket.name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": f"{sid}Bucket", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": on_bucket,
             "Resource": [arn]},
            {"Sid": f"{sid}Objects", "Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": on_objects,
             "Resource": [f"{arn}/*"]},
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class TaggingAccess:
    """Where and as whom BucketTags signs in: the minio provider's endpoint and identity."""

    endpoint: str
    """The S3 listener's URL, with its scheme."""
    access_key: pulumi.Input[str]
    secret_key: pulumi.Input[str]
    insecure: bool = False
    """A self-signed gateway certificate (dev): not verified, as the minio provider does not."""


@dataclass(frozen=True)
class BucketsArgs:
    buckets: Sequence[BucketSettings]
    kms_key_id: str
    """The cluster's KMS key, for buckets with encryption on."""
    protect: bool = False
    """Refuse to delete buckets (prod)."""
    generate_seal_key: bool = True
    """Make the backups' seal key (with a backups bucket), unless the stack gives one (backupSealKey)."""
    tagging: TaggingAccess | None = None
    """How bucket tags reach the cluster (buckets with tags need it)."""


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
                # A hard quota, in bytes (the provider's unit): MinIO refuses a write past it.
                quota=settings.quota_mb * MIB if settings.quota_mb is not None else None,
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
            )
            self.buckets[settings.name] = bucket
            minio.IlmPolicy(
                f"{name}-{settings.name}-lifecycle",
                bucket=bucket.bucket,
                rules=lifecycle_rules(settings),
                opts=child,
            )
            anonymous = anonymous_policy(settings)
            if anonymous is not None:
                # Written as its own bucket policy (the provider's acl would write a shape of its own).
                minio.S3BucketPolicy(
                    f"{name}-{settings.name}-anonymous",
                    bucket=bucket.bucket,
                    policy=json.dumps(anonymous, sort_keys=True),
                    opts=child,
                )
            if settings.notifications:
                minio.S3BucketNotification(
                    f"{name}-{settings.name}-notifications",
                    bucket=bucket.bucket,
                    queues=[
                        minio.S3BucketNotificationQueueArgs(
                            queue_arn=n.queue_arn,
                            events=list(n.events),
                            filter_prefix=n.prefix or None,
                            filter_suffix=n.suffix or None,
                        )
                        for n in settings.notifications
                    ],
                    opts=child,
                )
            if settings.tags:
                if args.tagging is None:
                    raise ValueError(f"bucket {settings.name} has tags but the stack gave no tagging access")
                # pulumi-minio 0.17.1 has no bucket tags: a dynamic provider puts them (bucket_tags.py).
                BucketTags(
                    f"{name}-{settings.name}-tags",
                    bucket=bucket.bucket,
                    tags=settings.tags,
                    endpoint=args.tagging.endpoint,
                    access_key=args.tagging.access_key,
                    secret_key=args.tagging.secret_key,
                    insecure=args.tagging.insecure,
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
