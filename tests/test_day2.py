"""The day-2 tools' pure parts: names, expiry, the IAM evaluator, audit parsing, inputs and exit codes.

The real-server behaviour (backups, restores, verify, compliance) is in tests/integration/test_day2.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import urllib3
from botocore.exceptions import ClientError, SSLError
from minio.error import MinioAdminException
from urllib3.exceptions import MaxRetryError

from day2.backups import Lock, Seal, backup_key, check_database_name, check_seal_key, expiry, open_seal
from day2.buckets import expiration_days
from day2.cli import main
from day2.compliance import AuditTarget, audit_targets
from day2.connection import Connection, connection_for, read_outputs, refusals_named, storage_error
from day2.errors import CorruptBackup, ExitCode, StorageError, UsageError
from day2.verify import allows
from tests.graph import plain


def test_backup_keys_sort_by_time_name_the_database_and_never_repeat():
    when = datetime(2026, 11, 25, 17, 5, 9, 250, tzinfo=UTC)
    assert backup_key("app", when, "00c0ffee") == "postgresql/app/app-20261125T170509.000250Z-00c0ffee.dump"
    later = backup_key("app", datetime(2026, 11, 25, 17, 5, 9, 251, tzinfo=UTC))
    assert later > backup_key("app", when)
    # Issue #32: two backups started in the same microsecond still get two keys.
    assert len({backup_key("app", when) for _ in range(100)}) == 100


@pytest.mark.parametrize("name", ["app", "app_2026", "Sales-EU", "_x"])
def test_plain_database_names_pass(name):
    assert check_database_name(name) == name


@pytest.mark.parametrize("name", ["", "host=db dbname=app", "a'b", "../etc", "a/b", "x" * 64, "9lives"])
def test_anything_else_is_refused_with_the_reason(name):
    with pytest.raises(UsageError, match="not a plain PostgreSQL identifier"):
        check_database_name(name)


def test_expiry_is_rounded_up_to_midnight_utc():
    created = datetime(2026, 11, 25, 17, 5, tzinfo=UTC)
    assert expiry(created, 30) == datetime(2026, 12, 26, tzinfo=UTC)
    assert expiry(datetime(2026, 11, 25, tzinfo=UTC), 1) == datetime(2026, 11, 26, tzinfo=UTC)


class LifecycleOnly:
    """An S3 client that only answers GetBucketLifecycleConfiguration, with the given rules."""

    def __init__(self, rules: list[dict]):
        self.rules = rules

    def get_bucket_lifecycle_configuration(self, Bucket: str) -> dict:
        return {"Rules": self.rules}


def test_retention_counts_only_rules_for_the_whole_bucket():
    """The backups bucket's pending/ rule (1 day) is not how long its backups are kept."""
    whole = {"ID": "keep", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 30}}
    pending = {
        "ID": "pending",
        "Status": "Enabled",
        "Filter": {"Prefix": "pending/"},
        "Expiration": {"Days": 1},
    }
    tagged = {
        "ID": "t",
        "Status": "Enabled",
        "Filter": {"Tag": {"Key": "k", "Value": "v"}},
        "Expiration": {"Days": 2},
    }
    off = {"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 3}}
    assert expiration_days(LifecycleOnly([whole, pending, tagged, off]), "b") == (30, None)
    assert expiration_days(LifecycleOnly([pending]), "b") == (None, None)
    noncurrent = {**whole, "NoncurrentVersionExpiration": {"NoncurrentDays": 7}}
    assert expiration_days(LifecycleOnly([noncurrent, {**pending, "Filter": {}}]), "b") == (1, 7)


def test_a_backups_expiry_follows_its_prefix_and_never_a_tag_rule():
    """#33: rules by tag (And filter, as the provider writes them) take no backup: backups carry no tag."""
    from day2.backups import _expiration_days

    rules = [
        {"ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 30}},
        {"ID": "pg", "Status": "Enabled", "Filter": {"And": {"Prefix": "postgresql/", "Tags": []}},
         "Expiration": {"Days": 20}},
        {"ID": "tagged", "Status": "Enabled", "Expiration": {"Days": 1},
         "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "class", "Value": "draft"}]}}},
        {"ID": "markers", "Status": "Enabled", "Filter": {"Prefix": ""},
         "Expiration": {"ExpiredObjectDeleteMarker": True}},
    ]  # fmt: skip
    assert _expiration_days(LifecycleOnly(rules), "b") == [("", 30), ("postgresql/", 20)]


def test_the_iam_evaluator_on_the_backup_template(synth):
    policy = plain(synth("dev").outputs)["service_account_policies"]["backup-service"]
    assert allows(policy, "s3:PutObject", "arn:aws:s3:::backups-postgresql/db/x.dump")
    assert allows(policy, "s3:ListBucket", "arn:aws:s3:::backups-postgresql")
    assert not allows(policy, "s3:GetObject", "arn:aws:s3:::logs/app.log")
    assert not allows(policy, "s3:ListBucket", "arn:aws:s3:::logs")
    assert not allows(policy, "s3:PutBucketPolicy", "arn:aws:s3:::backups-postgresql")
    denied = {
        **policy,
        "Statement": [*policy["Statement"], {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}],
    }
    assert not allows(denied, "s3:PutObject", "arn:aws:s3:::backups-postgresql/db/x.dump")


def test_audit_targets_from_server_info():
    """As the pinned MinIO answers `admin info` (madmin's `services.audit`): name, then state."""
    info = {
        "services": {
            "audit": [
                {"audit-alloy": {"status": "online"}},
                {"kafka": {"status": "offline"}},
                {"audit-archive": {"status": "offline"}},
            ],
            "logger": [{"logger-alloy": {"status": "online"}}],
        }
    }
    assert audit_targets(info) == [
        AuditTarget("kafka", "", "offline"),
        AuditTarget("webhook", "alloy", "online"),
        AuditTarget("webhook", "archive", "offline"),
    ]
    assert audit_targets({"services": {"audit": None}}) == []
    assert audit_targets({}) == []


def test_outputs_must_be_this_stacks_with_secrets_shown(tmp_path):
    masked = tmp_path / "masked.json"
    masked.write_text(json.dumps({"s3_endpoint": "http://localhost:9000", "minio_root_password": "[secret]"}))
    with pytest.raises(UsageError, match="--show-secrets"):
        read_outputs(str(masked))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"vpc_id": "vpc-1"}))
    with pytest.raises(UsageError, match="no s3_endpoint"):
        read_outputs(str(other))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(UsageError, match="not JSON"):
        read_outputs(str(broken))
    with pytest.raises(UsageError, match="cannot read"):
        read_outputs(str(tmp_path / "absent.json"))


def test_outputs_from_stdin(monkeypatch):
    """`pulumi stack output --json --show-secrets | python -m day2 verify --outputs -`"""
    outputs = {"s3_endpoint": "http://localhost:9000", "minio_root_password": "root-secret-value"}
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(outputs)))
    assert read_outputs("-") == outputs


def test_credentials_from_outputs_or_environment(monkeypatch):
    outputs = {
        "s3_endpoint": "http://localhost:9000",
        "region": "us-east-1",
        "minio_root_user": "minio-root",
        "minio_root_password": "root-secret-value",
        "service_account_access_keys": {"backup-service": "AK1"},
        "service_account_secret_keys": {"backup-service": "SK1-secret"},
    }
    backup = connection_for("backup-service", outputs, None)
    assert (backup.endpoint, backup.access_key, backup.secret_key) == (
        "http://localhost:9000",
        "AK1",
        "SK1-secret",
    )
    assert "SK1-secret" not in repr(backup)
    assert connection_for("root", outputs, "http://gw:9000").access_key == "minio-root"
    with pytest.raises(UsageError, match=r"no auditor identity.*--account root"):
        connection_for("auditor", outputs, None)
    audited = {**outputs, "minio_auditor_user": "platform-auditor", "minio_auditor_password": "aud-secret"}
    auditor = connection_for("auditor", audited, None)
    assert (auditor.access_key, auditor.secret_key) == ("platform-auditor", "aud-secret")
    with pytest.raises(UsageError, match="no service account 'reporting'"):
        connection_for("reporting", outputs, None)
    monkeypatch.delenv("MINIO_ACCESS_KEY", raising=False)
    with pytest.raises(UsageError, match="MINIO_ACCESS_KEY"):
        connection_for(None, None, "http://localhost:9000")
    monkeypatch.setenv("MINIO_ACCESS_KEY", "env-key")
    monkeypatch.setenv("MINIO_SECRET_KEY", "env-secret")
    assert connection_for(None, None, "http://localhost:9000").access_key == "env-key"


def test_a_refusal_names_the_identity_the_cluster_refused():
    """The S3 API's and the admin API's refusals alike: exit 3 naming who was refused."""
    connection = Connection("http://localhost:9000", "platform-auditor", "aud-secret")
    refusals = [
        ClientError({"Error": {"Code": "InvalidAccessKeyId"}}, "HeadBucket"),
        MinioAdminException("403", json.dumps({"Code": "InvalidAccessKeyId", "Message": "..."})),
        MinioAdminException("403", json.dumps({"Code": "AccessDenied"})),
    ]
    for refusal in refusals:
        refused = r"refused the credentials of platform-auditor \("
        with pytest.raises(StorageError, match=refused) as raised, refusals_named(connection):
            raise refusal
        assert raised.value.exit_code == ExitCode.STORAGE
        assert "aud-secret" not in str(raised.value)
    other = ClientError({"Error": {"Code": "NoSuchBucket"}}, "HeadBucket")
    with pytest.raises(ClientError), refusals_named(connection):
        raise other
    # Outside refusals_named (main's last resort), the same refusals without the identity.
    for refusal in refusals:
        assert str(storage_error(refusal)).startswith("the cluster refused the credentials (")
    assert storage_error(other) is other
    failed = storage_error(MinioAdminException("500", json.dumps({"Code": "XMinioServerNotInitialized"})))
    assert isinstance(failed, StorageError) and str(failed).startswith("MinIO's admin API failed: ")


def test_usage_errors_exit_2_with_the_reason(capsys, monkeypatch):
    monkeypatch.delenv("MINIO_ACCESS_KEY", raising=False)
    assert main(["list"]) == ExitCode.USAGE
    assert "no credentials" in capsys.readouterr().err
    assert main(["verify"]) == ExitCode.USAGE
    assert "verify needs the stack outputs" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["backup", "--database", "app", "--part-size", "4"])
    assert exited.value.code == 2
    assert "outside S3's part sizes" in capsys.readouterr().err


SEAL_KEY = b"k" * 64
SEALED = Seal(
    bucket="backups-postgresql",
    key="postgresql/app/app-20261125T170509.000250Z-00c0ffee.dump",
    version_id="5f6c0d1e-0000-4000-8000-000000000001",
    size=1234,
    sha256="ab" * 32,
    pg_dump_version="pg_dump (PostgreSQL) 15.14",
    database="app",
    created="2026-11-25T17:05:09.000250+00:00",
)


def test_a_seal_opens_with_the_key_it_was_made_with():
    assert open_seal(SEALED.signed(SEAL_KEY), SEAL_KEY, SEALED.bucket, SEALED.key) == SEALED


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: {**d, "sha256": "cd" * 32}, "HMAC mismatch"),  # a new checksum, the old HMAC
        (lambda d: {**d, "version_id": "another-version"}, "HMAC mismatch"),
        (lambda d: {**d, "hmac": "00" * 32}, "HMAC mismatch"),
        (lambda d: {k: v for k, v in d.items() if k != "hmac"}, "not a seal this tool wrote"),
        (lambda d: {**d, "format": 2}, "seal format"),
    ],
)
def test_a_changed_seal_is_refused(change, reason):
    document = change(json.loads(SEALED.signed(SEAL_KEY)))
    with pytest.raises(CorruptBackup, match=reason):
        open_seal(json.dumps(document).encode(), SEAL_KEY, SEALED.bucket, SEALED.key)


def test_a_seal_made_with_another_key_or_moved_to_another_backup_is_refused():
    with pytest.raises(CorruptBackup, match="HMAC mismatch"):
        open_seal(SEALED.signed(b"x" * 64), SEAL_KEY, SEALED.bucket, SEALED.key)
    with pytest.raises(CorruptBackup, match="not this backup"):
        open_seal(SEALED.signed(SEAL_KEY), SEAL_KEY, SEALED.bucket, SEALED.key.replace("app-", "app-0"))
    with pytest.raises(CorruptBackup, match="not a seal"):
        open_seal(b"not json", SEAL_KEY, SEALED.bucket, SEALED.key)


def test_a_short_seal_key_and_a_bad_lock_are_usage_errors():
    with pytest.raises(UsageError, match="at least 32"):
        check_seal_key("too-short")
    assert check_seal_key("s" * 40 + "\n") == b"s" * 40  # a key file's newline is not part of the key
    with pytest.raises(UsageError, match="GOVERNANCE or COMPLIANCE"):
        Lock("LEGAL", 5)
    lock = Lock("COMPLIANCE", 30).arguments(datetime(2026, 1, 1, tzinfo=UTC))
    assert lock == {
        "ObjectLockMode": "COMPLIANCE",
        "ObjectLockRetainUntilDate": datetime(2026, 1, 31, tzinfo=UTC),
    }


def test_backup_without_a_seal_key_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setenv("MINIO_ACCESS_KEY", "someone")
    monkeypatch.setenv("MINIO_SECRET_KEY", "some-secret-key")
    assert main(["backup", "--database", "app", "--endpoint", "http://127.0.0.1:9"]) == ExitCode.USAGE
    assert "--seal-key-file" in capsys.readouterr().err


def test_help_names_every_command_and_the_exit_codes():
    done = subprocess.run(
        [sys.executable, "-m", "day2", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("backup", "list", "restore", "verify", "compliance"):
        assert command in done.stdout
    assert "130 interrupted" in done.stdout


def test_an_untrusted_certificate_or_an_unreachable_admin_api_is_named_with_what_to_do():
    """boto3's and the MinIO SDK's own exceptions (the integration tier raises them for real behind
    a self-signed gateway) become one line naming the endpoint, and for a certificate the two
    variables that name an authority; the command's name is said once, by main."""
    reason = "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    boto = storage_error(SSLError(endpoint_url="https://s3.test:9443/backups?uploads", error=reason))
    assert isinstance(boto, StorageError)
    assert str(boto).startswith(
        f"cannot verify the certificate of https://s3.test:9443/backups?uploads ({reason})"
    )
    assert "AWS_CA_BUNDLE" in str(boto) and "SSL_CERT_FILE" in str(boto)
    pool = urllib3.HTTPSConnectionPool("s3.test", 9443)
    admin = storage_error(
        MaxRetryError(pool, "/minio/admin/v3/list-users", urllib3.exceptions.SSLError(reason))
    )
    assert str(admin).startswith("cannot verify the certificate of https://s3.test:9443 (")
    assert "SSL_CERT_FILE" in str(admin)
    refused = storage_error(
        MaxRetryError(pool, "/minio/admin/v3/info", ConnectionRefusedError(111, "refused"))
    )
    assert isinstance(refused, StorageError) and str(refused).startswith(
        "cannot reach https://s3.test:9443 ("
    )
    other = ValueError("not a storage error")
    assert storage_error(other) is other


def test_main_says_the_command_once_for_an_unreachable_endpoint(capsys, monkeypatch):
    monkeypatch.setenv("MINIO_ACCESS_KEY", "someone")
    monkeypatch.setenv("MINIO_SECRET_KEY", "not-a-secret")
    assert main(["list", "--endpoint", "http://127.0.0.1:1"]) == ExitCode.STORAGE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("list: cannot reach http://127.0.0.1:1"), line
