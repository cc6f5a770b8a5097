"""Apply the program's recorded buckets and IAM inputs to a real MinIO.

The pulumi-minio plugin cannot run without the Pulumi engine, so this performs the operations the
provider performs for each recorded resource, with the recorded inputs unchanged: boto3 for the
S3 bucket configuration, ``mc admin`` for policies, users and service accounts.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from synth.run import Synthesis
from tests.graph import (
    ATTACHMENT,
    BUCKET,
    ENCRYPTION,
    LIFECYCLE,
    POLICY,
    SERVICE_ACCOUNT,
    USER,
    VERSIONING,
    plain,
)
from tests.servers import Mc


@dataclass
class AppliedIdentities:
    service_accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Access and secret key by parent user name."""
    users: dict[str, str] = field(default_factory=dict)
    """Secret by user name."""


def lifecycle_configuration(rules: list[dict]) -> dict:
    """The S3 lifecycle document the provider builds from IlmPolicy rules."""
    converted = []
    for rule in rules:
        entry: dict = {"ID": rule["id"], "Status": "Enabled", "Filter": {"Prefix": rule.get("filter", "")}}
        expiration = rule.get("expiration", "")
        if expiration.endswith("d"):
            entry["Expiration"] = {"Days": int(expiration[:-1])}
        if "noncurrentVersionExpirationDays" in rule:
            entry["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["noncurrentVersionExpirationDays"])
            }
        converted.append(entry)
    return {"Rules": converted}


def apply_graph(synthesis: Synthesis, s3, mc: Mc, workdir: Path) -> AppliedIdentities:
    """Create what the recorded minio resources describe, in the program's dependency order."""
    applied = AppliedIdentities()
    for bucket in synthesis.of_type(BUCKET):
        # A retried request whose first attempt already created the bucket answers "already yours".
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket.inputs["bucket"])
    for versioning in synthesis.of_type(VERSIONING):
        status = versioning.inputs["versioningConfiguration"]["status"]
        s3.put_bucket_versioning(
            Bucket=versioning.inputs["bucket"], VersioningConfiguration={"Status": status}
        )
    for lifecycle in synthesis.of_type(LIFECYCLE):
        s3.put_bucket_lifecycle_configuration(
            Bucket=lifecycle.inputs["bucket"],
            LifecycleConfiguration=lifecycle_configuration(lifecycle.inputs["rules"]),
        )
    for encryption in synthesis.of_type(ENCRYPTION):
        rule = {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": encryption.inputs["encryptionType"],
                "KMSMasterKeyID": encryption.inputs["kmsKeyId"],
            }
        }
        s3.put_bucket_encryption(
            Bucket=encryption.inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": [rule]}
        )
    for policy in synthesis.of_type(POLICY):
        path = workdir / f"{policy.inputs['name']}.json"
        path.write_text(policy.inputs["policy"])
        mc.run("admin", "policy", "create", "target", policy.inputs["name"], str(path))
    for user in synthesis.of_type(USER):
        # The provider generates a secret when the program gives none; so does this. Hex: a secret
        # starting with "-" would reach mc as a flag; 40 characters is MinIO's maximum.
        secret = plain(user.inputs.get("secret")) or secrets.token_hex(20)
        mc.run("admin", "user", "add", "target", user.inputs["name"], secret)
        applied.users[user.inputs["name"]] = secret
    for attachment in synthesis.of_type(ATTACHMENT):
        mc.run(
            "admin",
            "policy",
            "attach",
            "target",
            attachment.inputs["policyName"],
            "--user",
            attachment.inputs["userName"],
        )
    for account in synthesis.of_type(SERVICE_ACCOUNT):
        path = workdir / f"{account.inputs['targetUser']}-service-account.json"
        path.write_text(account.inputs["policy"])
        (created,) = mc.json(
            "admin", "user", "svcacct", "add", "target", account.inputs["targetUser"], "--policy", str(path)
        )
        applied.service_accounts[account.inputs["targetUser"]] = (created["accessKey"], created["secretKey"])
    return applied
