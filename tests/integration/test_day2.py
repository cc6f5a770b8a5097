"""The day-2 tools against real servers: PostgreSQL (Debian's), and the four-node MinIO behind the gateway.

Every case runs the command line (`python -m day2 ...`) as a user would, with the stack outputs
in a file: the dev stack's outputs, with the real endpoint and the credentials the applied graph
created. The OIDC issuer is a loopback stand-in serving a discovery document (no Keycloak runs in
this tier); everything else is the real thing.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from bench.memory import PeakRss
from components.identities import AUDITOR_USER, METRICS_USER
from components.monitoring import metrics_token, token_expiry
from components.settings import DEFAULT_METRICS_TOKEN_DAYS
from day2 import backups
from day2.backups import pending_key
from day2.errors import ExitCode
from tests.graph import plain
from tests.integration.conftest import s3_client
from tests.servers import Postgres, free_port

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


def test_backup_restores_to_an_identical_database(postgres, seeded, outputs, root_s3):
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["key"].startswith("postgresql/app/app-") and result["key"].endswith(".dump")
    head = root_s3.head_object(Bucket=BUCKET, Key=result["key"])
    assert head["Metadata"]["sha256"] == result["sha256"]
    assert head["Metadata"]["pg-dump-version"].startswith("pg_dump (PostgreSQL) ")
    body = root_s3.get_object(Bucket=BUCKET, Key=result["key"])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result["sha256"]
    assert body[:5] == b"PGDMP"  # pg_dump's custom format

    done = day2("restore", "--outputs", str(outputs), "--database", "app_copy", "--from-database", "app",
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout
    assert fingerprint(postgres, "app_copy") == seeded
    assert int(seeded["orders"][0]) == 9000
    assert postgres.psql("app_copy", "SELECT count(*) FROM big_orders") == postgres.psql(
        "app", "SELECT count(*) FROM big_orders"
    )


def until_the_key_changes(database: str, key: str) -> None:
    """Backup keys carry the second: wait until a backup started now gets a key other than ``key``."""
    deadline = time.monotonic() + 5
    while backups.backup_key(database, datetime.now(UTC)) == key:
        assert time.monotonic() < deadline, "the clock did not move past the backup's second"
        time.sleep(0.05)


def test_list_shows_newest_first_with_checksum_and_expiry(postgres, seeded, outputs):
    for _ in range(2):
        done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
        assert done.returncode == 0, done.stderr
        until_the_key_changes("app", json.loads(done.stdout)["key"])
    done = day2("list", "--outputs", str(outputs), "--database", "app", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["pending_objects"], report["unfinished_uploads"]) == (0, 0)
    listing = report["backups"]
    assert len(listing) >= 2
    assert [b["last_modified"] for b in listing] == sorted(
        (b["last_modified"] for b in listing), reverse=True
    )
    for backup in listing:
        assert len(backup["sha256"]) == 64
        # backups-postgresql keeps 30 days (Pulumi.dev.yaml): expiry is 30 days on, at midnight UTC.
        days = (time.mktime(time.strptime(backup["expires"][:10], "%Y-%m-%d")) - time.time()) / 86400
        assert 29 < days <= 31
        assert backup["expires_soon"] is False
    table = day2("list", "--outputs", str(outputs), "--database", "app", "--expiring-within", "40")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == ["BACKUP", "SIZE", "AGE", "SHA-256", "EXPIRES"]
    assert "(soon)" in table.stdout


def test_restore_refuses_a_non_empty_target_unless_forced(postgres, seeded, outputs):
    postgres.psql("app", "INSERT INTO customers (name, email) VALUES ('Added later', 'later@example.org')")
    done = day2("restore", "--outputs", str(outputs), "--database", "app", env=postgres.env)
    assert done.returncode == 5
    assert "is not empty" in done.stderr and "--force" in done.stderr
    assert postgres.psql("app", "SELECT count(*) FROM customers WHERE name = 'Added later'") == "1"
    done = day2("restore", "--outputs", str(outputs), "--database", "app", "--force", env=postgres.env)
    assert done.returncode == 0, done.stderr
    assert fingerprint(postgres, "app") == seeded


def test_a_corrupt_backup_is_refused_before_the_database_is_touched(postgres, seeded, outputs, root_s3):
    done = day2("backup", "--outputs", str(outputs), "--database", "app", "--json", env=postgres.env)
    key = json.loads(done.stdout)["key"]
    head = root_s3.head_object(Bucket=BUCKET, Key=key)
    body = bytearray(root_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one flipped byte, same size, same recorded checksum
    root_s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body), Metadata=head["Metadata"])

    done = day2("restore", "--outputs", str(outputs), "--database", "from_corrupt", "--backup", key,
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "is corrupt" in done.stderr and "not touched" in done.stderr
    assert postgres.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'from_corrupt'") == "0"
    # The checksum comes first, whatever the target holds: onto the non-empty seeded database too.
    done = day2("restore", "--outputs", str(outputs), "--database", "app", "--backup", key, env=postgres.env)
    assert done.returncode == 6, done.stderr
    assert "is corrupt" in done.stderr

    # An object that records no checksum (say, a copy made by hand) cannot be verified: refused too.
    unstamped = key.replace(".dump", "-copy.dump")
    root_s3.put_object(Bucket=BUCKET, Key=unstamped, Body=bytes(body))
    done = day2("restore", "--outputs", str(outputs), "--database", "from_corrupt", "--backup", unstamped,
                "--create", env=postgres.env)  # fmt: skip
    assert done.returncode == 6, done.stderr
    assert "records no SHA-256" in done.stderr
    assert postgres.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'from_corrupt'") == "0"
    for stale in (key, unstamped):
        root_s3.delete_object(Bucket=BUCKET, Key=stale)


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
    """The key the running backup announced, once its multipart upload (under pending/) holds a part."""
    line = tool.stderr.readline()
    assert line.startswith("backup: streaming big to s3://backups-postgresql/"), line
    key = line.split("s3://backups-postgresql/", 1)[1].split()[0]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # MinIO lists the uploads of one object: the prefix must be the whole key.
        for upload in root_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=pending_key(key)).get(
            "Uploads", []
        ):
            if root_s3.list_parts(Bucket=BUCKET, Key=pending_key(key), UploadId=upload["UploadId"]).get(
                "Parts"
            ):
                return key
        time.sleep(0.1)
    pytest.fail("the backup never uploaded a part")


def _nothing_left(root_s3, key: str) -> None:
    for prefix in ("postgresql/big/", pending_key("postgresql/big/")):
        assert root_s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("KeyCount") == 0, prefix
    for upload_key in (key, pending_key(key)):
        assert root_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=upload_key).get("Uploads", []) == []


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
    """SIGKILL mid-upload: no cleanup runs. The final key is absent; `list` names what is left."""
    tool = _backup_process(outputs, postgres, big, "--compress", "0")
    key = _started_upload(tool, root_s3)
    tool.kill()
    tool.communicate(timeout=60)
    assert root_s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount") == 0
    done = day2("list", "--outputs", str(outputs), "--database", "big", "--json")
    report = json.loads(done.stdout)
    assert (report["backups"], report["pending_objects"], report["unfinished_uploads"]) == ([], 0, 1)
    table = day2("list", "--outputs", str(outputs), "--database", "big")
    assert "1 unfinished upload(s)" in table.stdout, table.stdout
    (upload,) = root_s3.list_multipart_uploads(Bucket=BUCKET, Prefix=pending_key(key))["Uploads"]
    root_s3.abort_multipart_upload(Bucket=BUCKET, Key=pending_key(key), UploadId=upload["UploadId"])


def _die_at(step: str, when: datetime, postgres: Postgres, gateway, node_environment) -> int:
    """A backup of `app` in a forked process that dies at ``step`` as by SIGKILL (``os._exit``: no
    handler, no ``finally``); its exit status."""

    def run() -> None:
        os.environ.update(postgres.env)
        client = s3_client(
            gateway.s3_endpoint, node_environment["MINIO_ROOT_USER"], node_environment["MINIO_ROOT_PASSWORD"]
        )
        backups.backup_postgres(
            client, BUCKET, "app", now=when, step=lambda name: os._exit(137) if name == step else None
        )
        os._exit(0)

    child = multiprocessing.get_context("fork").Process(target=run)
    child.start()
    child.join(timeout=300)
    return child.exitcode


@pytest.mark.parametrize("step", ["uploaded", "copied"])
def test_a_backup_killed_at_each_step_leaves_its_key_absent_or_complete(
    postgres, seeded, outputs, root_s3, gateway, node_environment, step
):
    """After the upload (the checksum is known, the final key not yet made) and after the copy
    (the final key made, the pending object not yet deleted): the final key is either absent or
    complete with a checksum that matches, never anything else."""
    when = datetime(2030, 1, 1, 0, 0, {"uploaded": 1, "copied": 2}[step], tzinfo=UTC)
    key = backups.backup_key("app", when)
    assert _die_at(step, when, postgres, gateway, node_environment) == 137
    try:
        head = root_s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError as err:
        assert err.response["Error"]["Code"] == "404"
        head = None
    if step == "uploaded":
        assert head is None, "the final key exists before its checksum is known"
    pending = root_s3.head_object(Bucket=BUCKET, Key=pending_key(key))
    assert "sha256" not in pending["Metadata"]
    if step == "uploaded":
        done = day2("restore", "--outputs", str(outputs), "--database", "never", "--backup", key, "--create",
                    env=postgres.env)  # fmt: skip
        assert done.returncode == 4, done.stderr
    else:
        assert head is not None, "the copy completed: the final key must exist"
        body = root_s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == head["Metadata"]["sha256"]
        assert body[:5] == b"PGDMP" and len(body) == pending["ContentLength"]
    done = day2("list", "--outputs", str(outputs), "--database", "app", "--json")
    report = json.loads(done.stdout)
    assert report["pending_objects"] == 1
    assert (key in {b["key"] for b in report["backups"]}) is (step == "copied")
    table = day2("list", "--outputs", str(outputs), "--database", "app")
    assert "1 pending object(s) under s3://backups-postgresql/pending/" in table.stdout, table.stdout
    for stale in (key, pending_key(key)):
        root_s3.delete_object(Bucket=BUCKET, Key=stale)


def test_a_large_dump_gets_its_final_key_by_a_multipart_copy(
    postgres, root_s3, gateway, node_environment, monkeypatch
):
    """Beyond COPY_IN_ONE_UP_TO the final key comes from a multipart copy (here with the threshold
    and parts at MinIO's 5 MiB minimum, on a dump of about 20 MB): same content, same checksum."""
    database = filler(postgres, "medium", 20_000)
    client = s3_client(
        gateway.s3_endpoint, node_environment["MINIO_ROOT_USER"], node_environment["MINIO_ROOT_PASSWORD"]
    )
    for name, value in postgres.env.items():
        if name.startswith("PG"):
            monkeypatch.setenv(name, value)  # pg_dump's connection, for this test only
    result = backups.backup_postgres(
        client,
        BUCKET,
        database,
        compress=0,
        copy_in_one_up_to=5 * backups.MIB,
        copy_part_size=5 * backups.MIB,
    )
    assert result.size > 15 * backups.MIB and result.leftover is None
    head = root_s3.head_object(Bucket=BUCKET, Key=result.key)
    assert head["Metadata"]["sha256"] == result.sha256
    assert head["ETag"].strip('"').endswith(f"-{-(-result.size // (5 * backups.MIB))}")  # a multipart ETag
    body = root_s3.get_object(Bucket=BUCKET, Key=result.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == result.sha256
    assert root_s3.list_objects_v2(Bucket=BUCKET, Prefix=pending_key(result.key)).get("KeyCount") == 0
    root_s3.delete_object(Bucket=BUCKET, Key=result.key)


def test_a_1_gb_dump_backs_up_in_bounded_memory(postgres, big, outputs, root_s3):
    """Peak memory stays flat with dump size: 1 GB against 100 MB, side by side, same settings."""
    small = filler(postgres, "small", 100_000)
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
    assert big_peak < 200 * 1024 * 1024
    assert peaks["small bytes"] >= 100_000_000
    assert big_peak / small_peak < 1.25  # one 16 MiB part at a time, whatever the dump's size
    for database in (small, big):
        for item in root_s3.list_objects_v2(Bucket=BUCKET, Prefix=f"postgresql/{database}/").get(
            "Contents", []
        ):
            root_s3.delete_object(Bucket=BUCKET, Key=item["Key"])


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
    assert all(b["versioning"] == "off" and b["encryption"] == "none" for b in buckets.values())
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
    until_the_key_changes("app", key)
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
