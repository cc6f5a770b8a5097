"""The day-2 tools against real servers: PostgreSQL (Debian's), and the four-node MinIO behind the gateway.

Every case runs the command line (`python -m day2 ...`) as a user would, with the stack outputs
in a file: the dev stack's outputs, with the real endpoint and the credentials the applied graph
created. The OIDC issuer is a loopback stand-in serving a discovery document (no Keycloak runs in
this tier); everything else is the real thing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from prometheus_client import CollectorRegistry

from bench.memory import PeakRss
from components.identities import AUDITOR_USER, METRICS_USER
from components.monitoring import metrics_token, token_expiry
from components.settings import DEFAULT_METRICS_TOKEN_DAYS
from day2 import backups
from day2.errors import ExitCode
from day2.service import BackupService, ConfigExportJob, Schedule, ServiceConfig, private_pgpass
from tests.graph import plain
from tests.integration.conftest import s3_client
from tests.servers import Mc, Postgres, free_port

EXPIRES = token_expiry(DEFAULT_METRICS_TOKEN_DAYS)
"""The expiry a dev stack deployed today gives its metrics token."""

pytestmark = pytest.mark.integration

BUCKET = "backups-postgresql"
TABLES = ("customers", "orders", "events")
ROW_CHECKSUM = "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"


@pytest.fixture(scope="module")
def cluster(logged_cluster):
    """With audit webhooks on (at a loopback receiver): compliance reports where audit events go."""
    return logged_cluster


@pytest.fixture(scope="module")
def postgres():
    server = Postgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def issuer():
    """A stand-in OIDC issuer: only its discovery document, on loopback."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/realms/minio/.well-known/openid-configuration":
                self.send_error(404)
                return
            body = json.dumps({"issuer": url, "authorization_endpoint": f"{url}/auth"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}/realms/minio"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def outputs(dev, applied, gateway, node_environment, issuer, tmp_path_factory) -> Path:
    """The dev stack's outputs as `pulumi stack output --json --show-secrets` would print them here."""
    values = plain(dev.outputs)
    values.update(
        s3_endpoint=gateway.s3_endpoint,
        console_url=f"http://127.0.0.1:{gateway.http_port}/minio-console",
        sso_issuer_url=issuer,
        minio_root_password=node_environment["MINIO_ROOT_PASSWORD"],
        service_account_access_keys={n: keys[0] for n, keys in applied.service_accounts.items()},
        service_account_secret_keys={n: keys[1] for n, keys in applied.service_accounts.items()},
        metrics_bearer_token=metrics_token(METRICS_USER, applied.users[METRICS_USER], EXPIRES),
        minio_auditor_password=applied.users[AUDITOR_USER],
        backup_seal_key=secrets.token_hex(32),
    )
    assert values["minio_auditor_user"] == AUDITOR_USER
    path = tmp_path_factory.mktemp("outputs") / "outputs.json"
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return path


def day2(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "day2", *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def seed(postgres: Postgres, database: str, rows: int) -> None:
    postgres.psql("postgres", f"CREATE DATABASE {database}")
    postgres.psql(
        database,
        f"""
        CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
        CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers,
                             amount numeric(12, 2), placed timestamptz, note text);
        CREATE TABLE events (id uuid PRIMARY KEY, payload jsonb, blob bytea);
        INSERT INTO customers (name, email)
            SELECT 'Client ' || i, 'client' || i || '@example.org' FROM generate_series(1, {rows}) i;
        INSERT INTO orders (customer_id, amount, placed, note)
            SELECT 1 + i % {rows}, (i * 7.31)::numeric(12, 2),
                   '2026-01-01'::timestamptz + i * interval '1 hour', repeat(md5(i::text), 3)
            FROM generate_series(1, {rows * 3}) i;
        INSERT INTO events
            SELECT md5(i::text)::uuid, jsonb_build_object('n', i, 'tags', jsonb_build_array('a', i % 7)),
                   decode(md5(i::text), 'hex') FROM generate_series(1, {rows}) i;
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 1000;
        """,
    )


def fingerprint(postgres: Postgres, database: str) -> dict[str, tuple[str, str]]:
    """Row count and a checksum of every row, per table."""
    return {
        table: tuple(postgres.psql(database, ROW_CHECKSUM.format(table=table)).split("|")) for table in TABLES
    }


@pytest.fixture(scope="module")
def seeded(postgres) -> dict[str, tuple[str, str]]:
    seed(postgres, "app", 3000)
    return fingerprint(postgres, "app")


def remove_backups(root_s3, prefix: str) -> None:
    """Every version under ``prefix``, as root past dev's GOVERNANCE lock (test cleanup only)."""
    for page in root_s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            root_s3.delete_object(
                Bucket=BUCKET, Key=item["Key"], VersionId=item["VersionId"], BypassGovernanceRetention=True
            )


def seal_of(root_s3, key: str) -> dict:
    return json.loads(root_s3.get_object(Bucket=BUCKET, Key=backups.seal_key_of(key))["Body"].read())


def backup_service_s3(outputs: Path):
    given = json.loads(outputs.read_text())
    return s3_client(
        given["s3_endpoint"],
        given["service_account_access_keys"]["backup-service"],
        given["service_account_secret_keys"]["backup-service"],
        attempts=1,
    )


def error_code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_backup_restores_to_an_identical_database(postgres, seeded, outputs, root_s3):
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["key"].startswith("postgresql/app/app-") and result["key"].endswith(".dump")
    head = root_s3.head_object(Bucket=BUCKET, Key=result["key"])
    assert head["Metadata"]["pg-dump-version"].startswith("pg_dump (PostgreSQL) ")
    assert head["VersionId"] == result["version_id"]
    body = root_s3.get_object(Bucket=BUCKET, Key=result["key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["sha256"]
    assert body[:5] == b"PGDMP"  # pg_dump's custom format
    seal = seal_of(root_s3, result["key"])
    assert (seal["key"], seal["version_id"], seal["size"], seal["sha256"]) == (
        result["key"],
        head["VersionId"],
        len(body),
        result["sha256"],
    )
    assert len(seal["hmac"]) == 64
    # Both objects locked as dev's bucket says (GOVERNANCE, 30 days), from the seal's time on.
    for key in (result["key"], backups.seal_key_of(result["key"])):
        retention = root_s3.get_object_retention(Bucket=BUCKET, Key=key)["Retention"]
        assert retention["Mode"] == "GOVERNANCE"
        days = (retention["RetainUntilDate"] - datetime.now(UTC)).total_seconds() / 86400
        assert 29.9 < days <= 30, retention

    done = day2("restore", "--outputs", str(outputs), "--database", "app_copy", "--from-database", "app",
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "seal and sha256" in done.stdout and "verified" in done.stdout
    assert fingerprint(postgres, "app_copy") == seeded
    assert int(seeded["orders"][0]) == 9000
    assert postgres.psql("app_copy", "SELECT count(*) FROM big_orders") == postgres.psql(
        "app", "SELECT count(*) FROM big_orders"
    )


def test_two_backups_started_in_the_same_second_both_survive(postgres, seeded, outputs, monkeypatch):
    """Issue #32: keys were made to the second, and the second backup replaced the first."""
    for name, value in postgres.env.items():
        monkeypatch.setenv(name, value)  # pg_dump's connection, for this test only
    s3 = backup_service_s3(outputs)
    seal_key = json.loads(outputs.read_text())["backup_seal_key"].encode()
    when = datetime(2031, 1, 1, 12, 0, 0, tzinfo=UTC)
    first, second = (backups.backup_postgres(s3, BUCKET, "app", seal_key=seal_key, now=when) for _ in "12")
    assert first.key != second.key
    listed = {b.key: b for b in backups.list_backups(s3, BUCKET, "app", seal_key)}
    for result in (first, second):
        assert listed[result.key].seal == backups.SealState.VERIFIED
        assert listed[result.key].sha256 == result.sha256


def test_list_shows_newest_first_with_seal_checksum_and_expiry(postgres, seeded, outputs):
    for _ in range(2):
        done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
        assert done.returncode == 0, done.stderr
    done = day2("list", "--outputs", str(outputs), "--database", "app", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["unsealed"], report["unfinished_uploads"]) == (0, 0)
    listing = report["backups"]
    assert len(listing) >= 2
    assert [b["last_modified"] for b in listing] == sorted(
        (b["last_modified"] for b in listing), reverse=True
    )
    for backup in listing:
        assert backup["seal"] == "verified" and len(backup["sha256"]) == 64 and backup["version_id"]
        # backups-postgresql keeps 30 days (Pulumi.dev.yaml): expiry is 30 days on, at midnight UTC.
        days = (time.mktime(time.strptime(backup["expires"][:10], "%Y-%m-%d")) - time.time()) / 86400
        assert 29 < days <= 31
        assert backup["expires_soon"] is False
    table = day2("list", "--outputs", str(outputs), "--database", "app", "--expiring-within", "40")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["BACKUP", "SIZE", "AGE", "SEAL", "SHA-256", "EXPIRES"]
    assert "(soon)" in table.stdout and " verified " in table.stdout


def test_restore_runs_as_a_role_that_is_not_a_superuser(postgres, seeded, outputs):
    """docs/day2.md "Who restores": LOGIN and CREATEDB are enough; the restored objects are its."""
    password = secrets.token_hex(12)
    postgres.psql("postgres", f"CREATE ROLE restorer LOGIN CREATEDB PASSWORD '{password}'")
    as_restorer = {**postgres.env, "PGUSER": "restorer", "PGPASSWORD": password}
    done = day2("restore", "--outputs", str(outputs), "--database", "restored_by_role", "--from-database",
                "app", "--create", env=as_restorer)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert postgres.psql("postgres", "SELECT rolsuper FROM pg_roles WHERE rolname = 'restorer'") == "f"
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'restored_by_role'"
    assert postgres.psql("postgres", owner) == "restorer"
    assert fingerprint(postgres, "restored_by_role") == seeded


def test_restore_refuses_a_non_empty_target_unless_forced(postgres, seeded, outputs):
    postgres.psql("app", "INSERT INTO customers (name, email) VALUES ('Added later', 'later@example.org')")
    done = day2("restore", "--outputs", str(outputs), "--database", "app", env=postgres.env)
    assert done.returncode == 5
    assert "is not empty" in done.stderr and "--force" in done.stderr
    assert postgres.psql("app", "SELECT count(*) FROM customers WHERE name = 'Added later'") == "1"
    done = day2("restore", "--outputs", str(outputs), "--database", "app", "--force", env=postgres.env)
    assert done.returncode == 0, done.stderr
    assert fingerprint(postgres, "app") == seeded


def _no_database(postgres: Postgres, name: str) -> bool:
    return postgres.psql("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == "0"


def test_a_backup_written_again_is_refused_before_the_database_is_touched(postgres, seeded, outputs, root_s3):
    """Root rewrites a sealed backup (one flipped byte, a matching checksum in its metadata): a new
    version of the key, which restore refuses; the sealed version is still there, unchanged."""
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    result = json.loads(done.stdout)
    key = result["key"]
    head = root_s3.head_object(Bucket=BUCKET, Key=key)
    body = bytearray(root_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    metadata = {**head["Metadata"], "sha256": hashlib.sha256(body).hexdigest()}
    tampered = root_s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body), Metadata=metadata)["VersionId"]

    done = day2("restore", "--outputs", str(outputs), "--database", "from_tampered", "--backup", key,
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "written again after it was sealed" in done.stderr and tampered in done.stderr
    assert "not touched" in done.stderr
    assert _no_database(postgres, "from_tampered")
    # Onto the non-empty seeded database too: the checks come before the target's.
    done = day2("restore", "--outputs", str(outputs), "--database", "app", "--backup", key, env=postgres.env)
    assert done.returncode == 6, done.stderr
    sealed = root_s3.get_object(Bucket=BUCKET, Key=key, VersionId=result["version_id"])["Body"].read()
    assert hashlib.sha256(sealed).hexdigest() == result["sha256"]


def test_a_forged_seal_or_a_missing_one_is_refused(postgres, seeded, outputs, root_s3):
    """Root rewrites the seal with the tampered dump's checksum (it cannot compute the HMAC), or
    writes a dump with no seal at all: restore refuses both, and takes an unsealed one only when
    told to, against the checksum in its metadata."""
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    key = json.loads(done.stdout)["key"]
    seal = seal_of(root_s3, key)
    forged = {**seal, "sha256": "0" * 64}
    root_s3.put_object(Bucket=BUCKET, Key=backups.seal_key_of(key), Body=json.dumps(forged).encode())
    done = day2("restore", "--outputs", str(outputs), "--database", "from_forged", "--backup", key,
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "seal is not the stack's" in done.stderr
    assert _no_database(postgres, "from_forged")

    body = root_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    unsealed = key.replace(".dump", "-copy.dump")
    root_s3.put_object(
        Bucket=BUCKET, Key=unsealed, Body=body, Metadata={"sha256": hashlib.sha256(body).hexdigest()}
    )
    restore = ["restore", "--outputs", str(outputs), "--database", "from_unsealed", "--backup", unsealed,
               "--create"]  # fmt: skip
    done = day2(*restore, env=postgres.env)
    assert done.returncode == 6, done.stderr
    assert "has no seal" in done.stderr and "--unsealed" in done.stderr
    assert _no_database(postgres, "from_unsealed")
    done = day2(*restore, "--unsealed", env=postgres.env)
    assert done.returncode == 0, done.stderr
    assert "from its metadata, unsealed" in done.stdout
    assert fingerprint(postgres, "from_unsealed") == seeded
    remove_backups(root_s3, unsealed)


LOCKED = ("AccessDenied", "InvalidRequest")
"""How MinIO refuses a change a lock forbids: AccessDenied, or InvalidRequest ("Object is WORM
protected and cannot be overwritten")."""


def test_the_backup_account_cannot_erase_or_replace_a_backup(postgres, seeded, outputs, root_s3):
    """Issue #32: backup-service may write, not delete; a completion or seal over an existing key
    is refused; a plain write makes a new version, the sealed one stays and restore refuses."""
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    result = json.loads(done.stdout)
    key, version = result["key"], result["version_id"]
    s3 = backup_service_s3(outputs)
    assert error_code(lambda: s3.delete_object(Bucket=BUCKET, Key=key)) == "AccessDenied"
    assert error_code(lambda: s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version)) == "AccessDenied"
    bypass = {"BypassGovernanceRetention": True}
    assert error_code(lambda: s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version, **bypass)) == (
        "AccessDenied"
    )
    # The tool's own writes refuse to replace a key.
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"x")["ETag"]
    complete = {"Parts": [{"ETag": etag, "PartNumber": 1}]}
    assert (
        error_code(
            lambda: s3.complete_multipart_upload(
                Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload=complete, IfNoneMatch="*"
            )
        )
        == "PreconditionFailed"
    )
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)
    seal = backups.seal_key_of(key)
    assert error_code(lambda: s3.put_object(Bucket=BUCKET, Key=seal, Body=b"{}", IfNoneMatch="*")) == (
        "PreconditionFailed"
    )
    # A plain PUT is a new version: the sealed one stays, locked and whole, and restore refuses.
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not a dump")
    sealed = root_s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read()
    assert hashlib.sha256(sealed).hexdigest() == result["sha256"]
    done = day2("restore", "--outputs", str(outputs), "--database", "from_replaced", "--backup", key,
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 6 and "written again" in done.stderr, done.stderr


def test_in_governance_mode_the_writer_can_shorten_a_lock_but_still_not_delete(
    postgres, seeded, outputs, root_s3
):
    """What this MinIO does (docs/day2.md "Backups no writer can erase"): in GOVERNANCE mode an
    identity allowed s3:PutObjectRetention, which the writer needs to lock what it writes, may
    shorten a lock by sending the bypass header (cmd/auth-handler.go, isPutRetentionAllowed grants
    either permission), without s3:BypassGovernanceRetention. It still cannot delete the version.
    Without the header the shortening is refused. COMPLIANCE mode refuses it to everyone (next)."""
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    key, version = json.loads(done.stdout)["key"], json.loads(done.stdout)["version_id"]
    s3 = backup_service_s3(outputs)
    shorten = {"Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(days=1)}
    arguments = {"Bucket": BUCKET, "Key": key, "VersionId": version, "Retention": shorten}
    assert error_code(lambda: s3.put_object_retention(**arguments)) in LOCKED
    s3.put_object_retention(**arguments, BypassGovernanceRetention=True)  # the finding: allowed
    retention = root_s3.get_object_retention(Bucket=BUCKET, Key=key, VersionId=version)["Retention"]
    assert abs((retention["RetainUntilDate"] - shorten["RetainUntilDate"]).total_seconds()) < 2
    bypass = {"BypassGovernanceRetention": True}
    assert error_code(lambda: s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version, **bypass)) == (
        "AccessDenied"
    )
    assert root_s3.head_object(Bucket=BUCKET, Key=key, VersionId=version)["ContentLength"] > 0


def test_nobody_shortens_or_deletes_a_compliance_lock(postgres, seeded, outputs, root_s3):
    """Prod's mode (a backups bucket's default): neither the writer nor root can shorten a
    COMPLIANCE lock, bypass header or not, or delete the version."""
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", "--lock-days", "1",
                "--lock-mode", "COMPLIANCE", env=postgres.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    key, version = json.loads(done.stdout)["key"], json.loads(done.stdout)["version_id"]
    locked = root_s3.get_object_retention(Bucket=BUCKET, Key=key, VersionId=version)["Retention"]
    assert locked["Mode"] == "COMPLIANCE"
    sooner = {"Mode": "COMPLIANCE", "RetainUntilDate": locked["RetainUntilDate"] - timedelta(hours=12)}
    weaker = {"Mode": "GOVERNANCE", "RetainUntilDate": locked["RetainUntilDate"]}
    for who, client in (("the writer", backup_service_s3(outputs)), ("root", root_s3)):
        for retention in (sooner, weaker):
            for bypass in ({}, {"BypassGovernanceRetention": True}):
                code = error_code(
                    lambda client=client, retention=retention, bypass=bypass: client.put_object_retention(
                        Bucket=BUCKET, Key=key, VersionId=version, Retention=retention, **bypass
                    )
                )
                assert code in LOCKED, f"{who}: {retention['Mode']} {bypass}: {code}"
    assert (
        error_code(
            lambda: root_s3.delete_object(
                Bucket=BUCKET, Key=key, VersionId=version, BypassGovernanceRetention=True
            )
        )
        in LOCKED
    )
    assert root_s3.get_object_retention(Bucket=BUCKET, Key=key, VersionId=version)["Retention"] == locked


def test_a_failing_restore_commits_nothing_and_drops_the_database_it_created(postgres, outputs, root_s3):
    """Issue #32: pg_restore fails halfway (a grant to a role dropped since the dump); its one
    transaction commits nothing, and the database the restore created is dropped again."""
    postgres.psql("postgres", "CREATE DATABASE granted")
    postgres.psql(
        "granted",
        "CREATE ROLE auditors_gone; CREATE TABLE ledger (id int PRIMARY KEY);"
        "INSERT INTO ledger SELECT generate_series(1, 100); GRANT SELECT ON ledger TO auditors_gone;",
    )
    done = day2("backup", "--outputs", str(outputs), "--database", "granted", "--json", env=postgres.env)
    assert done.returncode == 0, done.stderr
    postgres.psql("granted", "REVOKE ALL ON ledger FROM auditors_gone; DROP ROLE auditors_gone;")
    done = day2("restore", "--outputs", str(outputs), "--database", "granted_copy", "--from-database",
                "granted", "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert "nothing was committed and the database it created was dropped" in done.stderr
    assert "auditors_gone" in done.stderr
    assert _no_database(postgres, "granted_copy")
    # Into an existing empty database: the same failure leaves it as empty as it was.
    postgres.psql("postgres", "CREATE DATABASE granted_copy")
    done = day2("restore", "--outputs", str(outputs), "--database", "granted_copy", "--from-database",
                "granted", env=postgres.env)  # fmt: skip
    assert done.returncode == 5, done.stderr
    assert postgres.psql("granted_copy", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0"


def _scratch_databases(postgres: Postgres) -> str:
    return postgres.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill\\_%'")


def test_a_drill_restores_the_newest_backup_compares_it_and_drops_its_scratch(postgres, seeded, outputs):
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    assert done.returncode == 0, done.stderr
    key = json.loads(done.stdout)["key"]
    done = day2("drill", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["backup"] == key
    assert report["seconds_to_restore"] > 0
    tables = {t["table"]: t for t in report["tables"]}
    assert set(tables) == {f"public.{table}" for table in TABLES}
    for table in TABLES:
        assert (
            tables[f"public.{table}"]["source"]
            == tables[f"public.{table}"]["restored"]
            == int(seeded[table][0])
        )
    assert _scratch_databases(postgres) == "0"
    table = day2("drill", "--outputs", str(outputs), "--database", "app", env=postgres.env)
    assert table.returncode == 0, table.stderr
    assert "drill: restored s3://backups-postgresql/" in table.stdout and "public.orders" in table.stdout


def test_a_drill_fails_naming_a_table_its_backup_lacks(postgres, seeded, outputs):
    """Planted: a table created after the newest backup is missing from what the drill restores."""
    done = day2("backup", "--outputs", str(outputs), "--database", "app", env=postgres.env)
    assert done.returncode == 0, done.stderr
    postgres.psql("app", "CREATE TABLE added_after (id int); INSERT INTO added_after VALUES (1)")
    try:
        done = day2("drill", "--outputs", str(outputs), "--database", "app", env=postgres.env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "public.added_after" in done.stdout and "missing" in done.stdout and "FAIL" in done.stdout
        assert "missing tables or rows" in done.stderr
        assert _scratch_databases(postgres) == "0"
    finally:
        postgres.psql("app", "DROP TABLE added_after")


def scrape(port: int) -> dict[str, float]:
    """The service's metrics for database app, by name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        name: float(value)
        for name, value in re.findall(r'^(minio_platform_\w+)\{database="app"\} (\S+)$', text, re.MULTILINE)
    }


def test_the_backup_service_runs_its_schedule_and_counts_a_failure(postgres, seeded, outputs, tmp_path):
    """`python -m day2 serve` as the stack runs it (secrets in files, no secret in its environment),
    with a schedule every minute: a sealed backup lands and its metrics say so; then the database
    is pointed at a port nothing listens on, and the next run's failure shows in the metrics."""
    given = json.loads(outputs.read_text())
    files = tmp_path / "files"
    files.mkdir()
    (files / "s3-secret-key").write_text(given["service_account_secret_keys"]["backup-service"])
    (files / "seal-key").write_text(given["backup_seal_key"])
    port = free_port()

    def service(db_port: int) -> subprocess.Popen:
        (files / "pgpass").write_text(f"127.0.0.1:{db_port}:*:{postgres.env['PGUSER']}:{postgres.password}\n")
        config = {
            "bucket": BUCKET, "endpoint": given["s3_endpoint"], "region": "us-east-1",
            "access_key": given["service_account_access_keys"]["backup-service"],
            "secret_key_file": str(files / "s3-secret-key"), "seal_key_file": str(files / "seal-key"),
            "pgpass_file": str(files / "pgpass"), "lock": {"mode": "GOVERNANCE", "days": 30},
            "metrics_port": port, "work_dir": str(tmp_path), "scratch_dir": str(tmp_path),
            "schedules": [{"database": "app", "host": "127.0.0.1", "port": db_port,
                           "user": postgres.env["PGUSER"], "schedule": "* * * * *", "drill": None}],
        }  # fmt: skip
        (tmp_path / "service.json").write_text(json.dumps(config))
        environment = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}
        return subprocess.Popen(
            [sys.executable, "-m", "day2", "serve", "--config", str(tmp_path / "service.json")],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def until(process: subprocess.Popen, done, what: str, seconds: float = 150) -> dict[str, float]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read()
            try:
                metrics = scrape(port)
            except OSError:
                metrics = {}
            if metrics and done(metrics):
                return metrics
            time.sleep(1)
        pytest.fail(f"{what} within {seconds} s; metrics: {metrics}")

    started = time.time()
    process = service(int(postgres.env["PGPORT"]))
    try:
        succeeded = "minio_platform_backup_last_success_timestamp_seconds"
        metrics = until(process, lambda m: m.get(succeeded, 0) > started, "no scheduled backup succeeded")
        assert metrics["minio_platform_backup_last_failed"] == 0
        assert metrics["minio_platform_backup_last_size_bytes"] > 0
        assert metrics["minio_platform_backup_due_timestamp_seconds"] > started
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=60)
    events = [json.loads(line) for line in out.splitlines()]
    (run,) = [e for e in events if e.get("event") == "backup"][:1]
    assert run["outcome"] == "success" and run["key"].startswith("postgresql/app/")
    listed = {b["key"]: b for b in json.loads(day2("list", "--outputs", str(outputs), "--database", "app",
                                                   "--json").stdout)["backups"]}  # fmt: skip
    assert listed[run["key"]]["seal"] == "verified"

    # Restarted with the database gone: at start the newest backup counts as the last success (a
    # restart forgets nothing), then the scheduled run fails and the failure metrics rise.
    process = service(free_port())
    try:
        metrics = until(process, lambda m: m.get("minio_platform_backup_failures_total", 0) >= 1,
                        "no failure counted")  # fmt: skip
        assert metrics["minio_platform_backup_last_failed"] == 1
        assert metrics["minio_platform_backup_last_success_timestamp_seconds"] >= int(started)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=60)
    failure = next(json.loads(line) for line in out.splitlines() if '"failure"' in line)
    assert failure["event"] == "backup" and "pg_dump of app failed" in failure["error"]
    assert postgres.password not in out


def test_behind_a_self_signed_gateway_the_service_and_its_runs_trust_its_certificate(
    postgres, seeded, outputs, exporter, tls_gateway, root_s3, tmp_path, capsys
):
    """gateway.tls self-signed: the service's config names the gateway's certificate (``ca_file``,
    as components/backup_service.py renders it), and the real tool's runs then back up over TLS
    (boto3) and export the configuration (the MinIO SDK) through the rendered gateway serving a
    certificate shaped as the stack's. The same config without it: both runs fail on the
    certificate, each with the tool's one-line error, and nothing of the backup is written."""
    endpoint, certificate = tls_gateway
    given = json.loads(outputs.read_text())
    files = tmp_path / "files"
    files.mkdir()
    (files / "s3-secret-key").write_text(given["service_account_secret_keys"]["backup-service"])
    (files / "seal-key").write_text(given["backup_seal_key"])
    (files / "export-key").write_text(exporter["MINIO_SECRET_KEY"])
    port, user = int(postgres.env["PGPORT"]), postgres.env["PGUSER"]
    (files / "pgpass").write_text(f"127.0.0.1:{port}:*:{user}:{postgres.password}\n")
    export = ConfigExportJob("30 4 * * *", exporter["MINIO_ACCESS_KEY"], str(files / "export-key"))
    config = private_pgpass(
        ServiceConfig(
            bucket=BUCKET, endpoint=endpoint, region="us-east-1",
            access_key=given["service_account_access_keys"]["backup-service"],
            secret_key_file=str(files / "s3-secret-key"), seal_key_file=str(files / "seal-key"),
            pgpass_file=str(files / "pgpass"), lock=backups.Lock("GOVERNANCE", 1),
            schedules=(Schedule("app", "127.0.0.1", port, user, "0 4 * * *"),),
            config_export=export,
            work_dir=str(tmp_path), scratch_dir=str(tmp_path), ca_file=str(certificate),
        )
    )  # fmt: skip
    (schedule,) = config.schedules
    capsys.readouterr()

    trusting = BackupService(config, CollectorRegistry())
    assert trusting.backup(schedule) and trusting.export_config(), capsys.readouterr().out
    events = {e["event"]: e for e in map(json.loads, capsys.readouterr().out.splitlines())}
    key = events["backup"]["key"]
    try:
        assert root_s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == events["backup"]["size"]
        assert root_s3.head_object(Bucket=BUCKET, Key=events["config-export"]["key"])
        objects_before = {o["Key"] for o in root_s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}

        untrusting = BackupService(dataclasses.replace(config, ca_file=None), CollectorRegistry())
        assert not untrusting.backup(schedule) and not untrusting.export_config()
        failures = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(f["event"], f["outcome"]) for f in failures] == [
            ("backup", "failure"),
            ("config-export", "failure"),
        ]
        for failure, command in zip(failures, ("backup", "export-config"), strict=True):
            # One line each, the tool's own: no traceback of either SDK.
            assert failure["exit_code"] == ExitCode.STORAGE, failure
            assert failure["error"].startswith(f"{command}: cannot verify the certificate of "), failure
            assert "CERTIFICATE_VERIFY_FAILED" in failure["error"], failure
        assert {
            o["Key"] for o in root_s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        } == objects_before
    finally:
        remove_backups(root_s3, key)


def test_clear_errors_for_a_missing_backup_bad_credentials_and_no_endpoint(postgres, outputs, gateway):
    done = day2("restore", "--outputs", str(outputs), "--database", "nowhere", "--create",
                "--backup", "postgresql/app/app-19990101T000000Z.dump", env=postgres.env)  # fmt: skip
    assert done.returncode == 4
    assert "no backup s3://backups-postgresql/postgresql/app/app-19990101T000000Z.dump" in done.stderr

    wrong = {**postgres.env, "MINIO_ACCESS_KEY": "nobody-knows-me", "MINIO_SECRET_KEY": "not-a-secret-key"}
    done = day2("list", "--endpoint", gateway.s3_endpoint, env=wrong)
    assert done.returncode == 3
    assert "refused the credentials (InvalidAccessKeyId)" in done.stderr

    nowhere = f"http://127.0.0.1:{free_port()}"
    done = day2("list", "--outputs", str(outputs), "--endpoint", nowhere, env=postgres.env)
    assert done.returncode == 3
    assert f"cannot reach {nowhere}" in done.stderr
    assert "Traceback" not in done.stderr


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _started_upload(tool: subprocess.Popen, root_s3, seconds: float = 60) -> str:
    """The key the running backup announced, once its multipart upload holds a part."""
    line = tool.stderr.readline()
    assert line.startswith("backup: streaming big to s3://backups-postgresql/"), line
    key = line.split("s3://backups-postgresql/", 1)[1].split()[0]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # MinIO lists the uploads of one object: the prefix must be the whole key.
        for upload in root_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []):
            if root_s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"]).get("Parts"):
                return key
        time.sleep(0.1)
    pytest.fail("the backup never uploaded a part")


def _nothing_left(root_s3, key: str) -> None:
    assert root_s3.list_object_versions(Bucket=BUCKET, Prefix="postgresql/big/").get("Versions", []) == []
    assert root_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []) == []


def filler(postgres: Postgres, database: str, rows: int) -> str:
    """``rows`` KiB of table data (hex text: pg_dump's compression would halve it)."""
    postgres.psql("postgres", f"CREATE DATABASE {database}")
    postgres.psql(
        database,
        "CREATE TABLE filler (id int PRIMARY KEY, body text);"
        f"INSERT INTO filler SELECT i, repeat(md5(i::text), 32) FROM generate_series(1, {rows}) i;",
    )
    return database


@pytest.fixture(scope="module")
def big(postgres) -> str:
    """About 1.1 GB of table data: 1 GB and more as an uncompressed dump."""
    return filler(postgres, "big", 1_000_000)


def _backup_process(outputs: Path, postgres: Postgres, database: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "day2", "backup", "--outputs", str(outputs), "--database", database, *extra],
        env=postgres.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_pg_dump_leaves_no_object(postgres, big, outputs, root_s3):
    tool = _backup_process(outputs, postgres, big, "--compress", "0")
    key = _started_upload(tool, root_s3)
    (pg_dump,) = _children(tool.pid)
    os.kill(pg_dump, signal.SIGKILL)
    _, stderr = tool.communicate(timeout=120)
    assert tool.returncode == 5, stderr
    assert "pg_dump of big failed" in stderr
    _nothing_left(root_s3, key)


def test_an_interrupted_backup_leaves_no_object(postgres, big, outputs, root_s3):
    tool = _backup_process(outputs, postgres, big, "--compress", "0")
    key = _started_upload(tool, root_s3)
    tool.send_signal(signal.SIGTERM)
    _, stderr = tool.communicate(timeout=120)
    assert tool.returncode == 130, stderr
    assert "interrupted by SIGTERM" in stderr
    _nothing_left(root_s3, key)


def test_a_killed_tool_leaves_an_unfinished_upload_that_list_counts(postgres, big, outputs, root_s3):
    """SIGKILL mid-upload: no cleanup runs. The key is absent; `list` names what is left."""
    tool = _backup_process(outputs, postgres, big, "--compress", "0")
    key = _started_upload(tool, root_s3)
    tool.kill()
    tool.communicate(timeout=60)
    assert root_s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) == []
    done = day2("list", "--outputs", str(outputs), "--database", "big", "--json")
    report = json.loads(done.stdout)
    assert (report["backups"], report["unsealed"], report["unfinished_uploads"]) == ([], 0, 1)
    table = day2("list", "--outputs", str(outputs), "--database", "big")
    assert "1 unfinished upload(s)" in table.stdout, table.stdout
    (upload,) = root_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key)["Uploads"]
    root_s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"])


def _die_at(step: str, database: str, when: datetime, postgres: Postgres, outputs: Path) -> int:
    """A backup of ``database`` in a forked process that dies at ``step`` as by SIGKILL
    (``os._exit``: no handler, no ``finally``); its exit status."""

    def run() -> None:
        os.environ.update(postgres.env)
        backups.backup_postgres(
            backup_service_s3(outputs),
            BUCKET,
            database,
            seal_key=json.loads(outputs.read_text())["backup_seal_key"].encode(),
            now=when,
            step=lambda name: os._exit(137) if name == step else None,
        )
        os._exit(0)

    child = multiprocessing.get_context("fork").Process(target=run)
    child.start()
    child.join(timeout=300)
    return child.exitcode


@pytest.mark.parametrize("step", ["uploaded", "sealed"])
def test_a_backup_killed_at_each_step_is_absent_unsealed_or_whole(postgres, seeded, outputs, root_s3, step):
    """After the upload (the dump's key complete, its seal not yet written) and after the seal: the
    key is complete either way; without its seal `list` shows it unsealed and restore refuses it."""
    database = f"dies_{step}"
    postgres.psql("postgres", f"CREATE DATABASE {database} TEMPLATE app")
    assert _die_at(step, database, datetime.now(UTC), postgres, outputs) == 137
    (dump,) = [
        v for v in root_s3.list_object_versions(Bucket=BUCKET, Prefix=f"postgresql/{database}/")["Versions"]
        if v["Key"].endswith(".dump")
    ]  # fmt: skip
    body = root_s3.get_object(Bucket=BUCKET, Key=dump["Key"])["Body"].read()
    assert body[:5] == b"PGDMP" and len(body) == dump["Size"]
    done = day2("list", "--outputs", str(outputs), "--database", database, "--json")
    report = json.loads(done.stdout)
    (listed,) = report["backups"]
    restore = ["restore", "--outputs", str(outputs), "--database", f"{database}_copy", "--backup",
               dump["Key"], "--create"]  # fmt: skip
    done = day2(*restore, env=postgres.env)
    if step == "uploaded":
        assert (listed["seal"], report["unsealed"]) == ("missing", 1)
        table = day2("list", "--outputs", str(outputs), "--database", database)
        assert "1 backup(s) without a seal" in table.stdout, table.stdout
        assert done.returncode == 6 and "has no seal" in done.stderr, done.stderr
    else:
        assert (listed["seal"], report["unsealed"]) == ("verified", 0)
        assert listed["sha256"] == hashlib.sha256(body).hexdigest()
        assert done.returncode == 0, done.stderr


def test_a_dump_of_many_parts_goes_up_in_parallel_with_a_checksum_per_part(
    postgres, outputs, root_s3, monkeypatch
):
    """Parts at MinIO's 5 MiB minimum, four in flight, on a dump of about 20 MB: each part carries
    its SHA-256 (MinIO checked it on arrival), and a parallel restore gets the same bytes."""
    database = filler(postgres, "medium", 20_000)
    for name, value in postgres.env.items():
        monkeypatch.setenv(name, value)
    seal_key = json.loads(outputs.read_text())["backup_seal_key"].encode()
    s3 = backup_service_s3(outputs)
    result = backups.backup_postgres(
        s3, BUCKET, database, seal_key=seal_key, compress=0, part_size=5 * backups.MIB, concurrency=4
    )
    parts = -(-result.size // (5 * backups.MIB))
    assert result.size > 15 * backups.MIB and parts >= 4
    head = root_s3.head_object(Bucket=BUCKET, Key=result.key, ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith(f"-{parts}")  # a multipart ETag
    assert head["ChecksumSHA256"].endswith(f"-{parts}")  # S3's checksum of the parts' checksums
    first = root_s3.head_object(Bucket=BUCKET, Key=result.key, PartNumber=1, ChecksumMode="ENABLED")
    body = root_s3.get_object(Bucket=BUCKET, Key=result.key)["Body"].read()
    assert (
        first["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body[: 5 * backups.MIB]).digest()).decode()
    )
    (found,) = [b for b in backups.list_backups(s3, BUCKET, database, seal_key) if b.key == result.key]
    path = backups.download_verified(
        s3, BUCKET, found, Path(postgres.root), lambda n: None, part_size=5 * backups.MIB, concurrency=4
    )
    try:
        assert path.read_bytes() == body
    finally:
        path.unlink()


def test_a_1_gb_dump_backs_up_in_bounded_memory(postgres, big, outputs, root_s3):
    """Peak memory stays flat with dump size: 1 GB against 300 MB, side by side, same settings (both
    long enough for the default 2 parts to be in flight at once)."""
    small = filler(postgres, "small", 300_000)
    peaks = {}
    for database in (small, big):
        tool = _backup_process(outputs, postgres, database, "--compress", "0", "--json")
        watch = PeakRss(tool.pid)  # the tool's own high-water mark (bench/memory.py says why)
        out, err = tool.communicate(timeout=600)
        peaks[database] = watch.result()
        assert tool.returncode == 0, err
        peaks[f"{database} bytes"] = json.loads(out)["size"]
    big_peak, small_peak = peaks[big], peaks["small"]
    print(
        f"\nbackup peak RSS: {peaks['small bytes'] / 1e6:.1f} MB dump -> {small_peak / 1e6:.0f} MB; "
        f"{peaks['big bytes'] / 1e6:.0f} MB dump -> {big_peak / 1e6:.0f} MB; "
        f"ratio {big_peak / small_peak:.2f}"
    )
    assert peaks["big bytes"] >= 1_000_000_000
    assert big_peak < 250 * 1024 * 1024
    assert peaks["small bytes"] >= 300_000_000
    # A few 16 MiB parts in flight (--concurrency, default 2), whatever the dump's size.
    assert big_peak / small_peak < 1.25
    for database in (small, big):
        remove_backups(root_s3, f"postgresql/{database}/")


# --- the configuration export (#32 item 4) ----------------------------------------------------------


@pytest.fixture(scope="module")
def exporter(root_mc, gateway, tmp_path_factory) -> dict[str, str]:
    """An identity holding the rendered config-export template on the backups bucket, made as the
    stack makes one (a user, the policy attached, a service account of it); the environment the
    day-2 tool signs in with."""
    from components.policies import policy_json, render_policy

    workdir = tmp_path_factory.mktemp("exporter")
    (workdir / "policy.json").write_text(policy_json(render_policy("config-export", [BUCKET])))
    password = secrets.token_hex(16)
    root_mc.run("admin", "policy", "create", "target", "config-export-test", str(workdir / "policy.json"))
    root_mc.run("admin", "user", "add", "target", "config-exporter", password)
    root_mc.run("admin", "policy", "attach", "target", "config-export-test", "--user", "config-exporter")
    created = root_mc.json("admin", "user", "svcacct", "add", "target", "config-exporter")[0]
    return {
        **os.environ,
        "MINIO_ACCESS_KEY": created["accessKey"],
        "MINIO_SECRET_KEY": created["secretKey"],
        "PARENT_PASSWORD": password,
    }


def export_config(exporter: dict[str, str], gateway, *more: str) -> subprocess.CompletedProcess:
    where = ("--endpoint", gateway.s3_endpoint, "--bucket", BUCKET)
    return day2("export-config", *where, "--lock-days", "1", "--lock-mode", "GOVERNANCE", *more, env=exporter)


def import_dry_run(exporter: dict[str, str], gateway, *more: str) -> subprocess.CompletedProcess:
    return day2("import-config", "--dry-run", "--endpoint", gateway.s3_endpoint, "--bucket", BUCKET, *more,
                env=exporter)  # fmt: skip


def test_the_configuration_export_holds_iam_and_buckets_without_a_secret(exporter, gateway, applied, root_s3):
    done = export_config(exporter, gateway, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    written = json.loads(done.stdout)
    assert written["key"].startswith("config/cluster-config-") and written["version_id"]
    stored = root_s3.get_object(Bucket=BUCKET, Key=written["key"])
    body = stored["Body"].read()
    assert hashlib.sha256(body).hexdigest() == written["sha256"]
    assert stored["ObjectLockMode"] == "GOVERNANCE", "locked like a backup"
    document = json.loads(body)
    assert {"backup-service", AUDITOR_USER, METRICS_USER, "config-exporter"} <= set(document["users"])
    assert document["users"]["config-exporter"]["policies"] == ["config-export-test"]
    backup_key = applied.service_accounts["backup-service"][0]
    assert document["service_accounts"][backup_key]["parent"] == "backup-service"
    assert document["buckets"][BUCKET]["versioning"] == "Enabled"
    assert document["buckets"][BUCKET]["object_lock"]["ObjectLockEnabled"] == "Enabled"
    assert [
        r["Expiration"]["Days"] for r in document["buckets"]["logs"]["lifecycle"] if "Expiration" in r
    ] == [90]
    text = body.decode()
    for secret in [*(keys[1] for keys in applied.service_accounts.values()), *applied.users.values(),
                   exporter["MINIO_SECRET_KEY"], exporter["PARENT_PASSWORD"]]:  # fmt: skip
        assert secret not in text, "a secret in the export"


def test_a_dry_run_names_what_changed_since_the_export(exporter, gateway, root_s3, root_mc, tmp_path):
    done = export_config(exporter, gateway, "--to", str(tmp_path / "before.json"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert export_config(exporter, gateway).returncode == 0
    done = import_dry_run(exporter, gateway)
    assert done.returncode == 0 and "nothing would change" in done.stdout, done.stdout + done.stderr
    # Drift, as root: tags on a bucket, a policy of its own, a user taken out of its group of none.
    root_s3.put_bucket_tagging(Bucket="logs", Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    (tmp_path / "drift.json").write_text(json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"],
                                                 "Resource": ["arn:aws:s3:::logs/*"]}]}))  # fmt: skip
    root_mc.run("admin", "policy", "create", "target", "drift-policy", str(tmp_path / "drift.json"))
    try:
        for source in ((), ("--from", str(tmp_path / "before.json"))):
            done = import_dry_run(exporter, gateway, "--json", *source)
            assert done.returncode == 0, done.stdout + done.stderr
            found = {
                (d["action"], d["kind"], d["name"]): d["fields"]
                for d in json.loads(done.stdout)["differences"]
            }
            assert found == {("change", "bucket", "logs"): ["tags"], ("extra", "policy", "drift-policy"): []}
        shown = import_dry_run(exporter, gateway)
        assert re.search(r"^~\s+bucket\s+logs\s+tags$", shown.stdout, re.M), shown.stdout
    finally:
        root_s3.delete_bucket_tagging(Bucket="logs")
        root_mc.run("admin", "policy", "rm", "target", "drift-policy")
    assert "nothing would change" in import_dry_run(exporter, gateway).stdout


def test_the_export_account_reads_and_writes_its_prefix_and_nothing_else(
    exporter, gateway, root_s3, root_mc, tmp_path
):
    s3 = s3_client(
        gateway.s3_endpoint, exporter["MINIO_ACCESS_KEY"], exporter["MINIO_SECRET_KEY"], attempts=1
    )
    done = export_config(exporter, gateway, "--json")
    key = json.loads(done.stdout)["key"]
    assert error_code(lambda: s3.delete_object(Bucket=BUCKET, Key=key)) == "AccessDenied"
    assert (
        error_code(lambda: s3.put_object(Bucket=BUCKET, Key="postgresql/app/x.dump", Body=b"x"))
        == "AccessDenied"
    )
    assert error_code(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="postgresql/")) == "AccessDenied"
    assert error_code(lambda: s3.get_object(Bucket="logs", Key="anything")) == "AccessDenied"
    assert error_code(lambda: s3.put_bucket_tagging(
        Bucket="logs", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})) == "AccessDenied"  # fmt: skip
    mc = Mc(
        root_mc.binary, tmp_path, gateway.s3_port, exporter["MINIO_ACCESS_KEY"], exporter["MINIO_SECRET_KEY"]
    )
    refused = mc.run("admin", "user", "add", "target", "intruder", "intruder-password", check=False)
    assert refused.returncode != 0 and "Access Denied" in refused.stdout + refused.stderr
    # Written again by root: refused, the export is written once.
    root_s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"format": "x"}')
    done = import_dry_run(exporter, gateway, "--key", key)
    assert done.returncode == ExitCode.CORRUPT and "written 2 times" in done.stderr, done.stdout + done.stderr


def test_compliance_reports_each_bucket_and_the_audit_target(outputs):
    done = day2("compliance", "--outputs", str(outputs), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    buckets = {b["bucket"]: b for b in report["buckets"]}
    assert {n: b["retention_days"] for n, b in buckets.items()} == {
        "application-files": 365,
        "backups-postgresql": 30,
        "logs": 90,
    }
    assert all(b["encryption"] == "none" for b in buckets.values())
    # The backups bucket is locked (each backup by its writer: no default retention) and versioned.
    assert {n: (b["versioning"], b["object_lock"]) for n, b in buckets.items()} == {
        "application-files": ("off", "off"),
        "backups-postgresql": ("enabled", "on, no default retention"),
        "logs": ("off", "off"),
    }
    # Read as platform-auditor from server info: the target and its state (online once it has
    # delivered, as the answering node saw it), not its endpoint, which only config readers see.
    (target,) = report["audit_targets"]
    assert (target["kind"], target["name"]) == ("webhook", "alloy")
    assert target["status"] in ("online", "offline")
    table = day2("compliance", "--outputs", str(outputs))
    assert "webhook:alloy" in table.stdout and "backups-postgresql" in table.stdout


def test_verify_passes_on_the_healthy_cluster(outputs):
    done = day2("verify", "--outputs", str(outputs), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    checks = {c["check"]: c for c in json.loads(done.stdout)}
    assert all(c["ok"] for c in checks.values())
    assert {
        "nodes online",
        "drives online",
        "write quorum",
        "bucket backups-postgresql",
        "service account backup-service",
        "metrics with the token",
        "metrics refused without a token",
        "console",
        "OIDC discovery",
    } <= set(checks)


def test_no_subcommand_prints_a_secret(postgres, seeded, outputs, gateway, dev):
    """docs/day2.md: the tools print no secret, on stdout or stderr, in any mode or failure. Every
    subcommand runs with the real credentials (the root password, the service accounts' secret keys,
    the metrics token, PostgreSQL's password), as tables and as JSON, and through its errors."""
    given = json.loads(outputs.read_text())
    secrets_ = {
        "minio_root_password": given["minio_root_password"],
        "metrics_bearer_token": given["metrics_bearer_token"],
        "PGPASSWORD": postgres.password,
        "backup_seal_key": given["backup_seal_key"],
        **{f"secret key of {n}": key for n, key in given["service_account_secret_keys"].items()},
        **{f"secret output {i}": value for i, value in enumerate(sorted(dev.secret_values))},
    }
    assert all(len(value) >= 8 for value in secrets_.values()), "a secret too short to search for"
    source = ["--outputs", str(outputs)]
    pg = {"env": postgres.env}
    with_keys = {**postgres.env, "MINIO_ACCESS_KEY": given["minio_root_user"],
                 "MINIO_SECRET_KEY": given["minio_root_password"]}  # fmt: skip
    backed_up = day2("backup", *source, "--database", "app", "--json", env=postgres.env)
    assert backed_up.returncode == 0, backed_up.stderr
    key = json.loads(backed_up.stdout)["key"]
    runs = {
        "backup --json": backed_up,
        "backup": day2("backup", *source, "--database", "app", env=postgres.env),
        "backup --account root": day2("backup", *source, "--account", "root", "--database", "app", **pg),
        "backup of a missing database": day2("backup", *source, "--database", "nowhere", env=postgres.env),
        "list": day2("list", *source),
        "list --json": day2("list", *source, "--json"),
        "list with keys from the environment": day2("list", "--endpoint", gateway.s3_endpoint, env=with_keys),
        "restore --json": day2("restore", *source, "--database", "secrets_check", "--backup", key,
                               "--create", "--json", env=postgres.env),
        "restore onto a non-empty database": day2("restore", *source, "--database", "app", env=postgres.env),
        "restore of a missing backup": day2("restore", *source, "--database", "nowhere",
                                            "--backup", "postgresql/app/app-19990101T000000Z.dump", **pg),
        "verify": day2("verify", *source),
        "verify --json": day2("verify", *source, "--json"),
        "compliance": day2("compliance", *source),
        "compliance --json": day2("compliance", *source, "--json"),
        "summary": day2("summary", *source),
        "an unknown account": day2("list", *source, "--account", "nobody"),
    }  # fmt: skip
    ran = {name: done.returncode for name, done in runs.items()}
    assert ran["restore --json"] == 0 and ran["verify"] == 0 and ran["summary"] == 0, ran
    assert {ran["backup of a missing database"], ran["restore of a missing backup"]} <= set(range(1, 10)), ran
    leaked = [
        f"{what} in the {stream} of `{name}`"
        for name, done in runs.items()
        for stream, text in (("stdout", done.stdout), ("stderr", done.stderr))
        for what, value in secrets_.items()
        if value in text
    ]
    assert leaked == []


def _verify_until_failed(outputs: Path, failure: str, seconds: float = 30) -> subprocess.CompletedProcess:
    """verify, again while MinIO propagates a change to every node, until it reports ``failure``."""
    deadline = time.monotonic() + seconds
    while True:
        done = day2("verify", "--outputs", str(outputs))
        if (done.returncode == 1 and failure in done.stderr) or time.monotonic() > deadline:
            return done
        time.sleep(1)


def test_verify_names_a_service_account_whose_policy_is_wrong(outputs, applied, root_mc, tmp_path):
    """Planted: the backup account may also read the logs bucket (its parent and its own policy)."""
    access_key, _ = applied.service_accounts["backup-service"]
    policy = json.loads(outputs.read_text())["service_account_policies"]["backup-service"]
    extra = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::logs/*"]}
    broader = {**policy, "Statement": [*policy["Statement"], extra]}
    planted = {"Version": "2012-10-17", "Statement": [extra]}
    for document, name in ((broader, "broader.json"), (policy, "policy.json"), (planted, "planted.json")):
        (tmp_path / name).write_text(json.dumps(document))
    root_mc.run("admin", "policy", "create", "target", "planted-logs-read", str(tmp_path / "planted.json"))
    root_mc.run("admin", "policy", "attach", "target", "planted-logs-read", "--user", "backup-service")
    edit = ["admin", "user", "svcacct", "edit", "target", access_key, "--policy"]
    root_mc.run(*edit, str(tmp_path / "broader.json"))
    try:
        done = _verify_until_failed(outputs, "service account backup-service")
        assert done.returncode == 1, done.stdout
        assert "s3:GetObject on logs allowed, policy denies it" in done.stdout
    finally:
        root_mc.run(*edit, str(tmp_path / "policy.json"))
        root_mc.run("admin", "policy", "detach", "target", "planted-logs-read", "--user", "backup-service")
        root_mc.run("admin", "policy", "rm", "target", "planted-logs-read")


def test_verify_and_compliance_fail_cleanly_naming_the_auditor_when_it_is_removed(outputs, applied, root_mc):
    """Root removes platform-auditor (an operator would, by mistake); both tools stop at once with
    exit 3 naming it, touching nothing. Root puts it back as the program made it."""
    root_mc.run("admin", "user", "remove", "target", AUDITOR_USER)
    try:
        for command in ("verify", "compliance"):
            done = day2(command, "--outputs", str(outputs))
            assert done.returncode == ExitCode.STORAGE, done.stdout + done.stderr
            assert f"the cluster refused the credentials of {AUDITOR_USER}" in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
            assert applied.users[AUDITOR_USER] not in done.stdout + done.stderr
    finally:
        root_mc.run("admin", "user", "add", "target", AUDITOR_USER, applied.users[AUDITOR_USER])
        root_mc.run("admin", "policy", "attach", "target", f"{AUDITOR_USER}-policy", "--user", AUDITOR_USER)
    done = day2("verify", "--outputs", str(outputs))
    assert done.returncode == 0, done.stdout + done.stderr


def test_verify_names_a_node_that_is_down(outputs, cluster):
    """Last: it stops a node (and brings it back)."""
    node = cluster.nodes[-1]
    cluster.kill(node)
    try:
        done = _verify_until_failed(outputs, "nodes online")
        assert done.returncode == 1, done.stdout
        assert "3 of 4 online; offline: " in done.stdout
        assert f"127.0.0.1:{node.port}" in done.stdout
        assert "write quorum" not in done.stderr  # one node down: writes still have quorum
    finally:
        cluster.start(node)
        cluster.wait_until(lambda: cluster.node_health(node, "live") == 200, 60, "the node to return")
