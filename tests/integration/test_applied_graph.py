"""The program's buckets and identities on a real cluster: configuration reads back, policies hold."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from components.cluster import KMS_KEY_ID
from tests.integration.apply import apply_graph
from tests.integration.conftest import s3_client
from tests.servers import Mc

pytestmark = pytest.mark.integration

# The dev stack plus what it does not exercise by default: a read-only account, versioning, SSE.
VARIANT = {
    "buckets": [
        {"name": "backups-postgresql", "retentionDays": 30},
        {"name": "logs", "retentionDays": 90, "encryption": True},
        {"name": "application-files", "retentionDays": 365, "versioning": True, "noncurrentRetentionDays": 7},
    ],
    "serviceAccounts": [
        {"name": "backup-service", "policy": "backup-service", "buckets": ["backups-postgresql"]},
        {"name": "reporting", "policy": "bucket-readonly", "buckets": ["logs"]},
    ],
}


@pytest.fixture(scope="module")
def variant(synth):
    return synth("dev", VARIANT)


@pytest.fixture(scope="module")
def applied(variant, connect, root_s3, tmp_path_factory):
    result = apply_graph(variant, connect, tmp_path_factory.mktemp("policies"))
    root_s3.put_object(Bucket="logs", Key="app/2026-11-25.log", Body=b"log line")
    root_s3.put_object(Bucket="application-files", Key="report.pdf", Body=b"v1")
    return result


def client_for(applied, gateway, user: str):
    access_key, secret_key = applied.service_accounts[user]
    return s3_client(gateway.s3_endpoint, access_key, secret_key, attempts=1)


def denied(call) -> bool:
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"] == "AccessDenied"
    return False


# --- bucket configuration ---------------------------------------------------------------------------


def test_lifecycle_reads_back_with_the_configured_days(applied, root_s3):
    for bucket, days in (("backups-postgresql", 30), ("logs", 90), ("application-files", 365)):
        (rule,) = root_s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert rule["Status"] == "Enabled"
        assert rule["Expiration"]["Days"] == days
    (versioned,) = root_s3.get_bucket_lifecycle_configuration(Bucket="application-files")["Rules"]
    assert versioned["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7


def test_versioning_only_where_configured(applied, root_s3):
    assert root_s3.get_bucket_versioning(Bucket="application-files")["Status"] == "Enabled"
    assert "Status" not in root_s3.get_bucket_versioning(Bucket="logs")
    root_s3.put_object(Bucket="application-files", Key="report.pdf", Body=b"v2")
    versions = root_s3.list_object_versions(Bucket="application-files", Prefix="report.pdf")["Versions"]
    assert len(versions) == 2


def test_encryption_with_the_cluster_key_applies_to_new_objects(applied, root_s3):
    rule = root_s3.get_bucket_encryption(Bucket="logs")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].endswith(KMS_KEY_ID)
    head = root_s3.head_object(Bucket="logs", Key="app/2026-11-25.log")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert root_s3.get_object(Bucket="logs", Key="app/2026-11-25.log")["Body"].read() == b"log line"
    with pytest.raises(ClientError):
        root_s3.get_bucket_encryption(Bucket="backups-postgresql")


# --- policies enforced -------------------------------------------------------------------------------


def test_backup_service_reads_and_writes_its_bucket_and_deletes_nothing(applied, gateway, root_s3):
    backup = client_for(applied, gateway, "backup-service")
    backup.put_object(Bucket="backups-postgresql", Key="app_db/dump.pgcustom", Body=b"dump")
    assert (
        backup.get_object(Bucket="backups-postgresql", Key="app_db/dump.pgcustom")["Body"].read() == b"dump"
    )
    assert [o["Key"] for o in backup.list_objects_v2(Bucket="backups-postgresql")["Contents"]] == [
        "app_db/dump.pgcustom"
    ]
    # Issue #32: the backup account writes, never deletes (this variant's bucket is a plain one; the
    # locked and versioned backups bucket: tests/integration/test_day2.py).
    assert denied(lambda: backup.delete_object(Bucket="backups-postgresql", Key="app_db/dump.pgcustom"))
    assert backup.head_object(Bucket="backups-postgresql", Key="app_db/dump.pgcustom")["ContentLength"] == 4
    root_s3.delete_object(Bucket="backups-postgresql", Key="app_db/dump.pgcustom")
    # Its bucket's name alone: the policy lists no other bucket (nor does a backup operator's console).
    assert {b["Name"] for b in backup.list_buckets()["Buckets"]} == {"backups-postgresql"}


def test_backup_service_cannot_touch_other_buckets(applied, gateway):
    backup = client_for(applied, gateway, "backup-service")
    assert denied(lambda: backup.get_object(Bucket="logs", Key="app/2026-11-25.log"))
    assert denied(lambda: backup.put_object(Bucket="logs", Key="x", Body=b"x"))
    assert denied(lambda: backup.list_objects_v2(Bucket="application-files"))


def test_backup_service_cannot_administer(applied, gateway, mc_binary, tmp_path):
    access_key, secret_key = applied.service_accounts["backup-service"]
    mc = Mc(mc_binary, tmp_path, gateway.s3_port, access_key, secret_key)
    result = mc.run("admin", "user", "list", "target", check=False)
    assert result.returncode != 0
    assert "Access Denied" in result.stdout + result.stderr


def test_readonly_reads_but_cannot_write_or_delete(applied, gateway):
    reporting = client_for(applied, gateway, "reporting")
    assert reporting.get_object(Bucket="logs", Key="app/2026-11-25.log")["Body"].read() == b"log line"
    assert denied(lambda: reporting.put_object(Bucket="logs", Key="new.log", Body=b"x"))
    assert denied(lambda: reporting.delete_object(Bucket="logs", Key="app/2026-11-25.log"))
    assert denied(lambda: reporting.get_object(Bucket="backups-postgresql", Key="anything"))


def test_metrics_identity_reads_no_data(applied, gateway):
    metrics = s3_client(
        gateway.s3_endpoint, "prometheus-metrics", applied.users["prometheus-metrics"], attempts=1
    )
    assert denied(lambda: metrics.list_objects_v2(Bucket="logs"))
    assert denied(lambda: metrics.put_object(Bucket="logs", Key="x", Body=b"x"))


OVERBROAD = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],'
    '"Resource":["arn:aws:s3:::*/*"]}]}'
)


def test_an_overbroad_backup_service_policy_is_caught(applied, root_mc, gateway, tmp_path):
    """Planted defect: backup-service's policy granting s3:GetObject on every bucket.

    The program gives the rendered policy to the user and to its key, so the defect is planted on
    both; the check the enforcement tests rely on then sees the leak. MinIO caps a key by its
    parent's policy, so the configured key, whose own policy stays narrow, is still refused.
    """
    overbroad = tmp_path / "overbroad.json"
    overbroad.write_text(OVERBROAD)
    root_mc.run("admin", "policy", "create", "target", "overbroad-test", str(overbroad))
    root_mc.run("admin", "policy", "attach", "target", "overbroad-test", "--user", "backup-service")
    (created,) = root_mc.json(
        "admin", "user", "svcacct", "add", "target", "backup-service", "--policy", str(overbroad)
    )
    try:
        leaky = s3_client(gateway.s3_endpoint, created["accessKey"], created["secretKey"], attempts=1)
        assert not denied(lambda: leaky.get_object(Bucket="logs", Key="app/2026-11-25.log"))
        assert leaky.get_object(Bucket="logs", Key="app/2026-11-25.log")["Body"].read() == b"log line"
        configured = client_for(applied, gateway, "backup-service")
        assert denied(lambda: configured.get_object(Bucket="logs", Key="app/2026-11-25.log"))
    finally:
        root_mc.run("admin", "user", "svcacct", "rm", "target", created["accessKey"])
        root_mc.run("admin", "policy", "detach", "target", "overbroad-test", "--user", "backup-service")
        root_mc.run("admin", "policy", "rm", "target", "overbroad-test")


# --- the program's own identities -------------------------------------------------------------------


def mc_refused(mc: Mc, *command: str) -> bool:
    """Whether MinIO refused ``mc`` the command. ``mc --json admin info`` reports a refusal as
    ``"status":"error"`` with exit code 0, so the answer is read, not only the exit code."""
    done = mc.run(*command, check=False)
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    failed = done.returncode != 0 or any(a.get("status") == "error" for a in answers)
    return failed and "Access Denied" in done.stdout + done.stderr


def test_root_created_the_administrator_and_nothing_else(applied):
    """Each resource was applied with its provider's recorded credentials: had the platform-admin
    policy missed anything the program does (or reads back on a refresh), applying would have
    failed on that operation."""
    as_root = {name for name, user in applied.applied_as.items() if user == "minio-root"}
    assert as_root == {
        "minio-administrator-policy",
        "minio-administrator-user",
        "minio-administrator-attachment",
    }
    others = {user for name, user in applied.applied_as.items() if name not in as_root}
    assert others == {"platform-admin"}
    assert len(applied.applied_as) > len(as_root) + 10  # buckets, settings, policies, users, keys


def test_the_administrator_reads_no_data_and_cannot_run_the_server(applied, connect):
    s3, mc = connect("platform-admin", applied.users["platform-admin"])
    assert denied(lambda: s3.get_object(Bucket="logs", Key="app/2026-11-25.log"))
    assert denied(lambda: s3.put_object(Bucket="logs", Key="planted", Body=b"x"))
    assert denied(lambda: s3.delete_object(Bucket="logs", Key="app/2026-11-25.log"))
    for command in (("admin", "info", "target"), ("admin", "config", "get", "target", "api")):
        assert mc_refused(mc, *command), command


def test_the_auditor_reads_settings_and_writes_only_its_probe_prefix(applied, connect):
    s3, mc = connect("platform-auditor", applied.users["platform-auditor"])
    s3.head_bucket(Bucket="logs")
    assert s3.get_bucket_versioning(Bucket="application-files")["Status"] == "Enabled"
    assert s3.get_bucket_encryption(Bucket="logs")["ServerSideEncryptionConfiguration"]["Rules"]
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} >= {"logs", "application-files"}
    assert mc.json("admin", "info", "target")[0]["info"]["servers"]
    # No object data: not read, not listed, not written or deleted outside .platform-verify/.
    assert denied(lambda: s3.get_object(Bucket="logs", Key="app/2026-11-25.log"))
    assert denied(lambda: s3.list_objects_v2(Bucket="logs"))
    assert denied(lambda: s3.list_object_versions(Bucket="application-files", Prefix="report"))
    assert denied(lambda: s3.put_object(Bucket="logs", Key="planted", Body=b"x"))
    assert denied(lambda: s3.delete_object(Bucket="logs", Key="app/2026-11-25.log"))
    assert mc_refused(mc, "admin", "config", "get", "target", "audit_webhook")
    # Its probe prefix: written, listed with every version, and removed again.
    put = s3.put_object(Bucket="application-files", Key=".platform-verify/probe", Body=b"probe")
    listed = s3.list_object_versions(Bucket="application-files", Prefix=".platform-verify/")["Versions"]
    assert [v["VersionId"] for v in listed] == [put["VersionId"]]
    s3.delete_object(Bucket="application-files", Key=".platform-verify/probe", VersionId=put["VersionId"])
    assert "Versions" not in s3.list_object_versions(Bucket="application-files", Prefix=".platform-verify/")
