"""Apply the program's recorded buckets and IAM inputs to a real MinIO, as the program would.

The pulumi-minio plugin cannot run without the Pulumi engine, so this performs the operations the
provider performs for each recorded resource, with the recorded inputs unchanged: boto3 for the
S3 bucket configuration, ``mc admin`` for policies, users and service accounts. Each resource is
applied with the credentials its recorded provider was given, providers in dependency order: root
through the bootstrap provider for the administrator, the administrator for everything else. So
a policy too narrow for the program's own work fails here, on the operation it does not allow;
after applying, each resource is read back as the provider reads it on a refresh.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from minio import MinioAdmin
from minio.credentials import StaticProvider

from components.bucket_tags import BucketTagsProvider
from synth.mocks import RecordedResource
from synth.run import Synthesis
from tests.graph import (
    ATTACHMENT,
    BUCKET,
    BUCKET_POLICY,
    BUCKET_TAGS,
    ENCRYPTION,
    GROUP,
    GROUP_ATTACHMENT,
    GROUP_MEMBERSHIP,
    LIFECYCLE,
    NOTIFICATION,
    POLICY,
    SERVICE_ACCOUNT,
    USER,
    VERSIONING,
    plain,
)
from tests.servers import Mc

MINIO_PROVIDER = "pulumi:providers:minio"
Connect = Callable[[str, str], tuple[object, Mc]]
"""Clients (boto3 S3, mc) signed in with an access key and secret key."""


@dataclass
class AppliedIdentities:
    service_accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Access and secret key by parent user name."""
    users: dict[str, str] = field(default_factory=dict)
    """Secret by user name."""
    service_account_ids: dict[str, str] = field(default_factory=dict)
    """The access key of each recorded service account, by resource name."""
    applied_as: dict[str, str] = field(default_factory=dict)
    """The access key each recorded minio resource was applied with, by resource name."""


def lifecycle_configuration(rules: list[dict]) -> dict:
    """The S3 lifecycle document the provider builds from IlmPolicy rules (terraform-provider-minio
    v1.20.1, ``minioCreateILMPolicy``): ``expiration`` as ``<N>d``, a date or ``DeleteMarker``; with
    tags, an ``And`` filter of the prefix and every tag, else the prefix alone."""
    converted = []
    for rule in rules:
        prefix, tags = rule.get("filter", ""), rule.get("tags") or {}
        scope = (
            {"And": {"Prefix": prefix, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}}
            if tags
            else {"Prefix": prefix}
        )
        entry: dict = {"ID": rule["id"], "Status": "Enabled", "Filter": scope}
        expiration = rule.get("expiration", "")
        if expiration == "DeleteMarker":
            entry["Expiration"] = {"ExpiredObjectDeleteMarker": True}
        elif expiration.endswith("d"):
            entry["Expiration"] = {"Days": int(expiration[:-1])}
        elif expiration:
            entry["Expiration"] = {"Date": datetime.fromisoformat(expiration).replace(tzinfo=UTC)}
        if "noncurrentVersionExpirationDays" in rule:
            entry["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["noncurrentVersionExpirationDays"])
            }
        converted.append(entry)
    return {"Rules": converted}


def queue_configuration(queue: dict) -> dict:
    """A queue of S3BucketNotification as the provider sends it (minio-go's notification config: the
    ARN, the events, a prefix and a suffix filter rule)."""
    rules = [
        {"Name": name, "Value": queue[key]}
        for name, key in (("prefix", "filterPrefix"), ("suffix", "filterSuffix"))
        if queue.get(key)
    ]
    configuration: dict = {"QueueArn": queue["queueArn"], "Events": list(queue["events"])}
    if rules:
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def apply_graph(synthesis: Synthesis, connect: Connect, workdir: Path) -> AppliedIdentities:
    """Create what the recorded minio resources describe, each as its provider signs in."""
    applied = AppliedIdentities()
    for provider, resources in _by_provider(synthesis):
        user, password = plain(provider.inputs["minioUser"]), plain(provider.inputs["minioPassword"])
        s3, mc = connect(user, password)
        endpoint = urlparse(s3.meta.endpoint_url)
        admin = MinioAdmin(endpoint=endpoint.netloc, credentials=StaticProvider(user, password), secure=False)
        _apply(resources, s3, mc, admin, workdir, applied)
        _read_back(resources, s3, mc, applied)
        applied.applied_as.update(dict.fromkeys((r.name for r in resources), user))
    _apply_bucket_tags(synthesis, connect, applied)
    return applied


def _apply_bucket_tags(synthesis: Synthesis, connect: Connect, applied: AppliedIdentities) -> None:
    """BucketTags is the program's own dynamic provider: its own code runs here, with the recorded
    identity, against this cluster's endpoint (the recorded one names the stack's gateway); then
    its read (a refresh) must find the tags it put."""
    for resource in [r for r in synthesis.resources if r.type == BUCKET_TAGS]:
        props = {k: v for k, v in plain(resource.inputs).items() if not k.startswith("__")}
        s3, _ = connect(props["accessKey"], props["secretKey"])
        props["endpoint"] = s3.meta.endpoint_url
        provider = BucketTagsProvider()
        created = provider.create(props)
        assert provider.read(created.id, created.outs).outs["tags"] == props["tags"], resource.name
        applied.applied_as[resource.name] = props["accessKey"]


def _by_provider(synthesis: Synthesis) -> list[tuple[RecordedResource, list[RecordedResource]]]:
    """Each minio provider with its resources; a provider after those it depends on."""
    resources = [r for r in synthesis.resources if r.type.startswith("minio:")]
    remaining = {p.urn: p for p in synthesis.of_type(MINIO_PROVIDER)}
    owned = {urn: [r for r in resources if r.provider == urn] for urn in remaining}
    ordered = []
    while remaining:
        pending = {r.urn for urn in remaining for r in owned[urn]}
        ready = [p for p in remaining.values() if not pending & set(p.dependencies)]
        assert ready, f"minio providers depend on each other's resources: {sorted(remaining)}"
        for provider in ready:
            ordered.append((provider, owned[provider.urn]))
            del remaining[provider.urn]
    return ordered


def _apply(
    resources: list[RecordedResource],
    s3,
    mc: Mc,
    admin: MinioAdmin,
    workdir: Path,
    applied: AppliedIdentities,
) -> None:
    def of_type(type_: str) -> list[RecordedResource]:
        return [r for r in resources if r.type == type_]

    for bucket in of_type(BUCKET):
        # A retried request whose first attempt already created the bucket answers "already yours".
        # Object lock, as the provider asks for it: at creation (x-amz-bucket-object-lock-enabled).
        lock = {"ObjectLockEnabledForBucket": True} if bucket.inputs.get("objectLocking") else {}
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket.inputs["bucket"], **lock)
        if bucket.inputs.get("quota"):
            # The provider: madmin SetBucketQuota, a hard quota of that many bytes.
            quota = int(bucket.inputs["quota"])
            mc.run("quota", "set", f"target/{bucket.inputs['bucket']}", "--size", str(quota))
    for versioning in of_type(VERSIONING):
        status = versioning.inputs["versioningConfiguration"]["status"]
        s3.put_bucket_versioning(
            Bucket=versioning.inputs["bucket"], VersioningConfiguration={"Status": status}
        )
    for lifecycle in of_type(LIFECYCLE):
        s3.put_bucket_lifecycle_configuration(
            Bucket=lifecycle.inputs["bucket"],
            LifecycleConfiguration=lifecycle_configuration(lifecycle.inputs["rules"]),
        )
    for policy in of_type(BUCKET_POLICY):
        s3.put_bucket_policy(Bucket=policy.inputs["bucket"], Policy=policy.inputs["policy"])
    for notification in of_type(NOTIFICATION):
        s3.put_bucket_notification_configuration(
            Bucket=notification.inputs["bucket"],
            NotificationConfiguration={
                "QueueConfigurations": [queue_configuration(q) for q in notification.inputs["queues"]]
            },
        )
    for encryption in of_type(ENCRYPTION):
        rule = {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": encryption.inputs["encryptionType"],
                "KMSMasterKeyID": encryption.inputs["kmsKeyId"],
            }
        }
        s3.put_bucket_encryption(
            Bucket=encryption.inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": [rule]}
        )
    for policy in of_type(POLICY):
        path = workdir / f"{policy.inputs['name']}.json"
        path.write_text(policy.inputs["policy"])
        mc.run("admin", "policy", "create", "target", policy.inputs["name"], str(path))
    for user in of_type(USER):
        # The provider generates a secret when the program gives none; so does this. Hex: a secret
        # starting with "-" would reach mc as a flag; 40 characters is MinIO's maximum.
        secret = plain(user.inputs.get("secret")) or secrets.token_hex(20)
        mc.run("admin", "user", "add", "target", user.inputs["name"], secret)
        applied.users[user.inputs["name"]] = secret
    for attachment in of_type(ATTACHMENT):
        mc.run(
            "admin",
            "policy",
            "attach",
            "target",
            attachment.inputs["policyName"],
            "--user",
            attachment.inputs["userName"],
        )
    for group in of_type(GROUP):
        # The provider: madmin UpdateGroupMembers with no member, which creates the group (mc cannot).
        admin.group_add(group.inputs["name"], [])
    for attachment in of_type(GROUP_ATTACHMENT):
        mc.run(
            "admin", "policy", "attach", "target", attachment.inputs["policyName"],
            "--group", attachment.inputs["groupName"],
        )  # fmt: skip
    for membership in of_type(GROUP_MEMBERSHIP):
        mc.run("admin", "group", "add", "target", membership.inputs["group"], *membership.inputs["users"])
    for account in of_type(SERVICE_ACCOUNT):
        path = workdir / f"{account.inputs['targetUser']}-service-account.json"
        path.write_text(account.inputs["policy"])
        (created,) = mc.json(
            "admin", "user", "svcacct", "add", "target", account.inputs["targetUser"], "--policy", str(path)
        )
        applied.service_accounts[account.inputs["targetUser"]] = (created["accessKey"], created["secretKey"])
        applied.service_account_ids[account.name] = created["accessKey"]


def _read_back(resources: list[RecordedResource], s3, mc: Mc, applied: AppliedIdentities) -> None:
    """What the provider reads of each resource on a refresh, as the identity that applied it."""
    for resource in resources:
        inputs = resource.inputs
        if resource.type == BUCKET:
            s3.head_bucket(Bucket=inputs["bucket"])
            s3.get_bucket_location(Bucket=inputs["bucket"])
            if inputs.get("objectLocking"):
                s3.get_object_lock_configuration(Bucket=inputs["bucket"])
            if inputs.get("quota"):
                mc.run("quota", "info", f"target/{inputs['bucket']}")
        elif resource.type == VERSIONING:
            s3.get_bucket_versioning(Bucket=inputs["bucket"])
        elif resource.type == LIFECYCLE:
            s3.get_bucket_lifecycle_configuration(Bucket=inputs["bucket"])
        elif resource.type == ENCRYPTION:
            s3.get_bucket_encryption(Bucket=inputs["bucket"])
        elif resource.type == NOTIFICATION:
            s3.get_bucket_notification_configuration(Bucket=inputs["bucket"])
        elif resource.type == BUCKET_POLICY:
            s3.get_bucket_policy(Bucket=inputs["bucket"])
        elif resource.type == POLICY:
            mc.run("admin", "policy", "info", "target", inputs["name"])
        elif resource.type in (GROUP, GROUP_ATTACHMENT, GROUP_MEMBERSHIP):
            mc.run(
                "admin",
                "group",
                "info",
                "target",
                inputs.get("name") or inputs.get("groupName") or inputs["group"],
            )
        elif resource.type in (USER, ATTACHMENT):
            mc.run("admin", "user", "info", "target", inputs.get("name") or inputs["userName"])
        elif resource.type == SERVICE_ACCOUNT:
            mc.run("admin", "user", "svcacct", "info", "target", applied.service_account_ids[resource.name])
