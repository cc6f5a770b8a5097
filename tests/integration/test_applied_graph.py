"""The program's buckets and identities on a real cluster: configuration reads back, policies hold."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from components.bucket_tags import BucketTagsProvider, bucket_tags
from components.cluster import KMS_KEY_ID
from tests.graph import BUCKET_TAGS, minio_nodes, minio_settings_of, plain
from tests.integration.apply import apply_graph
from tests.integration.conftest import Receiver, s3_client
from tests.servers import Mc

pytestmark = pytest.mark.integration

SOON = date.today() + timedelta(days=3)
"""A tagged rule's expiry date: sooner than the bucket's retention, so it is the one that applies."""
PROVISIONED = {
    "name": "provisioned",
    "retentionDays": 30,
    "versioning": True,
    "quotaMb": 1,
    "tags": {"team": "storage", "cost-centre": "4711"},
    "lifecycle": [
        {"id": "scratch", "prefix": "tmp/", "expireDays": 1},
        {"tags": {"class": "draft"}, "expireOn": SOON.isoformat()},
        {"expireDeleteMarkers": True, "noncurrentDays": 2},
    ],
}
"""Issue #33: a quota, the bucket's tags, and lifecycle rules by prefix, by tag, on a date, for
delete markers."""

# The dev stack plus what it does not exercise by default: a read-only account, versioning, SSE,
# a quota and more lifecycle rules.
VARIANT = {
    "buckets": [
        {"name": "backups-postgresql", "retentionDays": 30},
        {"name": "logs", "retentionDays": 90, "encryption": True},
        {"name": "application-files", "retentionDays": 365, "versioning": True, "noncurrentRetentionDays": 7},
        PROVISIONED,
        {
            "name": "downloads",
            "retentionDays": 30,
            "anonymous": "download",
            "notifications": [{"webhook": "TESTHOOK", "prefix": "incoming/", "suffix": ".csv"}],
        },
        {"name": "dropbox", "retentionDays": 30, "anonymous": "upload"},
    ],
    "serviceAccounts": [
        {"name": "backup-service", "policy": "backup-service", "buckets": ["backups-postgresql"]},
        {"name": "reporting", "policy": "bucket-readonly", "buckets": ["logs"]},
    ],
    # Issue #33: a policy written in the stack with a condition, a group holding it, a user in the
    # group, and a user holding a built-in policy (their passwords: the synth's placeholder lines).
    "iam": {
        "policies": [
            {
                "name": "reports-reader",
                "statements": [
                    {
                        "actions": ["s3:ListBucket"],
                        "resources": ["arn:aws:s3:::logs"],
                        "conditions": {"StringLike": {"s3:prefix": ["reports/*"]}},
                    },
                    {"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::logs/reports/*"]},
                ],
            }
        ],
        "groups": [{"name": "analysts", "policies": ["reports-reader"]}],
        "users": [
            {"name": "etl-robot", "groups": ["analysts"]},
            {"name": "reader-person", "policies": ["readonly"]},
        ],
    },
    "iamUserPasswords": {"secure": "x"},
}


HOOK = "TESTHOOK"
"""The webhook target the variant's nodes get through cluster.extraEnvironment (#33 items 3, 5)."""


@pytest.fixture(scope="module")
def hook():
    """The test's own webhook: records what MinIO posts."""
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(scope="module")
def variant(synth, hook):
    environment = {
        f"MINIO_NOTIFY_WEBHOOK_ENABLE_{HOOK}": "on",
        f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{HOOK}": f"http://127.0.0.1:{hook.port}/minio-events",
    }
    return synth("dev", {**VARIANT, "cluster": {"extraEnvironment": environment}})


@pytest.fixture(scope="module")
def cluster_environment(node_environment, variant) -> dict[str, str]:
    """The nodes with what the variant renders for them beyond the dev stack: its webhook target."""
    rendered = minio_settings_of(variant, minio_nodes(variant.resources)[0])
    extra = {k: v for k, v in rendered.items() if k.startswith("MINIO_NOTIFY_WEBHOOK_")}
    assert set(extra) == {f"MINIO_NOTIFY_WEBHOOK_ENABLE_{HOOK}", f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{HOOK}"}
    return {**node_environment, **extra}


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


def test_more_lifecycle_rules_read_back_as_configured(applied, root_s3):
    rules = {r["ID"]: r for r in root_s3.get_bucket_lifecycle_configuration(Bucket="provisioned")["Rules"]}
    assert set(rules) == {"expire-after-30-days", "scratch", "rule-2", "rule-3"}
    assert rules["scratch"]["Filter"] == {"Prefix": "tmp/"} and rules["scratch"]["Expiration"] == {"Days": 1}
    assert rules["rule-2"]["Filter"]["And"]["Tags"] == [{"Key": "class", "Value": "draft"}]
    assert rules["rule-2"]["Expiration"]["Date"] == datetime(SOON.year, SOON.month, SOON.day, tzinfo=UTC)
    assert rules["rule-3"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert rules["rule-3"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 2


def test_a_rule_applies_to_its_prefix_or_tag_only(applied, root_s3):
    """MinIO names the rule that expires an object in the answer to a PUT or HEAD (x-amz-expiration):
    the earliest of the rules that match it."""
    root_s3.put_object(Bucket="provisioned", Key="tmp/a", Body=b"a")
    root_s3.put_object(Bucket="provisioned", Key="keep/tmp/b", Body=b"b")
    root_s3.put_object(Bucket="provisioned", Key="keep/c", Body=b"c", Tagging="class=draft")
    root_s3.put_object(Bucket="provisioned", Key="keep/d", Body=b"d", Tagging="class=final")

    def rule(key: str) -> str:
        return (
            root_s3.head_object(Bucket="provisioned", Key=key)["Expiration"].split('rule-id="')[1].rstrip('"')
        )

    assert rule("tmp/a") == "scratch"
    assert rule("keep/tmp/b") == "expire-after-30-days", "the prefix is a prefix, not a substring"
    assert rule("keep/c") == "rule-2"
    assert rule("keep/d") == "expire-after-30-days"


def test_the_bucket_carries_its_tags_and_the_provider_follows_changes(applied, variant, connect, root_s3):
    """The program's BucketTags provider (applied with its own code as the administrator): the tags
    as configured; then as `pulumi up` changes them, as a refresh reads a hand-made change, and as
    a destroy removes them (a bucket already gone is no error, and a refresh reads no tags there)."""
    assert bucket_tags(root_s3, "provisioned") == {"team": "storage", "cost-centre": "4711"}
    (recorded,) = [r for r in variant.resources if r.type == BUCKET_TAGS]
    props = {k: v for k, v in plain(recorded.inputs).items() if not k.startswith("__")}
    props["endpoint"] = connect(props["accessKey"], props["secretKey"])[0].meta.endpoint_url
    provider = BucketTagsProvider()
    changed = {**props, "tags": {"team": "platform"}}
    assert provider.diff("provisioned-tags", props, changed).changes
    provider.update("provisioned-tags", props, changed)
    assert bucket_tags(root_s3, "provisioned") == {"team": "platform"}
    root_s3.put_bucket_tagging(Bucket="provisioned", Tagging={"TagSet": [{"Key": "by", "Value": "hand"}]})
    assert provider.read("provisioned-tags", changed).outs["tags"] == {"by": "hand"}
    provider.delete("provisioned-tags", changed)
    assert bucket_tags(root_s3, "provisioned") == {}
    gone = {**changed, "bucket": "no-such-bucket-here"}
    provider.delete("provisioned-tags", gone)
    # MinIO answers a missing bucket's tags with NoSuchTagSet, as for a bucket without tags: a
    # refresh reads no tags (drift), and the next `up` puts them back once the bucket is there again.
    assert provider.read("provisioned-tags", gone).outs["tags"] == {}
    provider.update("provisioned-tags", changed, props)  # as configured again, for the tests after
    assert bucket_tags(root_s3, "provisioned") == props["tags"]


def test_an_upload_past_the_quota_is_refused(applied, root_s3):
    root_s3.put_object(Bucket="provisioned", Key="small", Body=b"x" * 100_000)
    with pytest.raises(ClientError) as raised:
        root_s3.put_object(Bucket="provisioned", Key="large", Body=b"x" * 2_000_000)
    assert raised.value.response["Error"]["Code"] == "XMinioAdminBucketQuotaExceeded"
    assert "large" not in {
        o["Key"] for o in root_s3.list_objects_v2(Bucket="provisioned").get("Contents", [])
    }


def anonymous_client(gateway):
    """Anyone's: boto3 sending no credentials at all, through the gateway."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    unsigned = Config(
        signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}
    )
    return boto3.client("s3", endpoint_url=gateway.s3_endpoint, region_name="us-east-1", config=unsigned)


def test_anyone_reads_a_download_bucket_and_cannot_write_it(applied, gateway, root_s3):
    root_s3.put_object(Bucket="downloads", Key="public/readme.txt", Body=b"hello")
    anyone = anonymous_client(gateway)
    assert anyone.get_object(Bucket="downloads", Key="public/readme.txt")["Body"].read() == b"hello"
    assert [o["Key"] for o in anyone.list_objects_v2(Bucket="downloads")["Contents"]] == ["public/readme.txt"]
    assert denied(lambda: anyone.put_object(Bucket="downloads", Key="planted", Body=b"x"))
    assert denied(lambda: anyone.delete_object(Bucket="downloads", Key="public/readme.txt"))
    assert denied(lambda: anyone.get_object(Bucket="logs", Key="app/2026-11-25.log")), (
        "other buckets stay private"
    )


def test_anyone_writes_an_upload_bucket_and_cannot_read_it(applied, gateway, root_s3):
    anyone = anonymous_client(gateway)
    anyone.put_object(Bucket="dropbox", Key="inbox/report.csv", Body=b"a,b")
    assert root_s3.get_object(Bucket="dropbox", Key="inbox/report.csv")["Body"].read() == b"a,b"
    assert denied(lambda: anyone.get_object(Bucket="dropbox", Key="inbox/report.csv"))
    assert denied(lambda: anyone.list_objects_v2(Bucket="dropbox"))


def iam_user_client(gateway, user: str):
    """A user of iam, signed in with the password the synth gave it (its placeholder line)."""
    return s3_client(gateway.s3_endpoint, user, "offline-synth-placeholder-for-iamUserPasswords", attempts=1)


def test_a_group_gives_its_member_an_inline_policy_whose_condition_holds(applied, gateway, root_s3, root_mc):
    root_s3.put_object(Bucket="logs", Key="reports/2026-12.csv", Body=b"totals")
    robot = iam_user_client(gateway, "etl-robot")
    listed = robot.list_objects_v2(Bucket="logs", Prefix="reports/")["Contents"]
    assert [o["Key"] for o in listed] == ["reports/2026-12.csv"]
    assert robot.get_object(Bucket="logs", Key="reports/2026-12.csv")["Body"].read() == b"totals"
    # The condition: a listing of another prefix, or of the whole bucket, is refused.
    assert denied(lambda: robot.list_objects_v2(Bucket="logs", Prefix="app/"))
    assert denied(lambda: robot.list_objects_v2(Bucket="logs"))
    assert denied(lambda: robot.get_object(Bucket="logs", Key="app/2026-11-25.log"))
    assert denied(lambda: robot.put_object(Bucket="logs", Key="reports/planted.csv", Body=b"x"))
    (group,) = root_mc.json("admin", "group", "info", "target", "analysts")
    assert group["members"] == ["etl-robot"] and group["groupPolicy"] == "reports-reader"


def test_a_user_holds_a_builtin_policy_directly(applied, gateway):
    person = iam_user_client(gateway, "reader-person")
    assert person.get_object(Bucket="logs", Key="app/2026-11-25.log")["Body"].read() == b"log line"
    assert denied(lambda: person.put_object(Bucket="logs", Key="new.log", Body=b"x"))
    assert denied(
        lambda: iam_user_client(gateway, "etl-robot").get_object(Bucket="logs", Key="app/2026-11-25.log")
    )


def test_a_bucket_notifies_the_webhook_of_matching_keys_only(applied, root_s3, hook):
    for key in ("incoming/b.txt", "other/c.csv", "incoming/a.csv"):
        root_s3.put_object(Bucket="downloads", Key=key, Body=b"x")

    def keys() -> list[str]:
        events = [json.loads(line) for line in list(hook.lines)]
        return [unquote(r["s3"]["object"]["key"]) for e in events for r in e.get("Records", [])]

    deadline = time.monotonic() + 30
    while "incoming/a.csv" not in keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # what else was going to come has come
    assert keys() == ["incoming/a.csv"]
    assert hook.paths == {"/minio-events"}


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
