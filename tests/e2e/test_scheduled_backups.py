"""Scheduled backups on the real engine (issue #32 item 1): `pulumi up` turns on the stack's backup
service with a PostgreSQL container of the test's own on database-net and one-minute schedules.

A sealed, locked backup lands in the bucket and the service's metrics (scraped by the stack's
Prometheus) say so; a restore drill restores it and reports the time it took; the database
stopped, the failure metric rises; and the service runs hardened, its secrets in files.

The e2e stack has no minio provider (no plugin can be built here), so the bucket (with object
lock) and the backup identity (the backup-service template) are made with ``mc`` as root, as an
operator whose IAM lives elsewhere would, and given to the stack as ``backups.bucket``,
``backups.accessKey`` with the ``backupSecretKey`` secret, and a ``backupSealKey``. It runs after
test_real_monitoring.py (Prometheus is on) and leaves the service on for the pools.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.policies import render_policy
from day2 import backups
from tests.e2e.conftest import STACK_LABEL, Deployment, assert_hardened, docker, inspect
from tests.e2e.test_real_engine import secret_looking
from tests.e2e.test_real_monitoring import PROMETHEUS_PORT, mc_as_root
from tests.integration.conftest import s3_client

pytestmark = pytest.mark.e2e

BUCKET = "e2e-backups"
IDENTITY = "e2e-backup"
DATABASE = "app"
DB_CONTAINER = "e2e-postgres"
DB_ROLE = "backup"
POSTGRES_RECIPE = Path(__file__).parent / "postgres"
PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"


@dataclass
class Backed:
    outputs: dict[str, Any]
    started: float
    """When the stack's `pulumi up` with the schedules finished (Unix time)."""
    seal_key: bytes
    secrets: dict[str, str]
    """Every secret the service was given, by name."""


def postgres_image(base: str) -> str:
    """The test's PostgreSQL server: Debian's, on the project's base image, built once per recipe."""
    digest = hashlib.sha256((POSTGRES_RECIPE / "Dockerfile").read_bytes()).hexdigest()[:12]
    name = f"minio-platform/e2e-postgres:{digest}"
    if inspect(name, "{{.Id}}") == "absent":
        # The legacy builder, as images/build.sh: Debian's engine has no buildx.
        built = subprocess.run(
            ["docker", "build", "--quiet", "--build-arg", f"BASE_IMAGE={base}", "-t", name,
             str(POSTGRES_RECIPE)],
            env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert built.returncode == 0, built.stderr
    return name


def start_postgres(image: str, password: str, workdir: Path) -> None:
    """On database-net, with the stack's label (the tier's teardown removes it): a role that may
    read every table and create a drill's scratch database, and a database worth backing up."""
    subprocess.run(["docker", "rm", "-f", DB_CONTAINER], capture_output=True, check=False)
    secret = workdir / "password"
    secret.write_text(password + "\n")
    secret.chmod(0o444)
    workdir.chmod(0o755)  # the server's user reads it through the mount (pytest's folders are 0700)
    docker(
        "run", "-d", "--name", DB_CONTAINER, "--network", "database-net",
        "--label", STACK_LABEL.split("=", 1)[1],
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-v", f"{workdir}:/run/pg:ro", image,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while subprocess.run(["docker", "exec", DB_CONTAINER, "pg_isready", "-q"], check=False).returncode != 0:
        assert time.monotonic() < deadline, docker("logs", DB_CONTAINER)
        time.sleep(1)
    psql(f"CREATE ROLE {DB_ROLE} LOGIN CREATEDB PASSWORD '{password}'")  # through stdin, not argv
    psql(f"CREATE DATABASE {DATABASE} OWNER {DB_ROLE}")
    psql(
        "CREATE TABLE accounts (id int PRIMARY KEY, name text);"
        "INSERT INTO accounts SELECT i, 'account ' || i FROM generate_series(1, 5000) i;"
        "CREATE TABLE ledger (id bigint PRIMARY KEY, account int REFERENCES accounts, amount numeric);"
        "INSERT INTO ledger SELECT i, 1 + i % 5000, i * 1.5 FROM generate_series(1, 20000) i;"
        f"ALTER TABLE accounts OWNER TO {DB_ROLE}; ALTER TABLE ledger OWNER TO {DB_ROLE};",
        DATABASE,
    )


def psql(sql: str, database: str = "postgres") -> str:
    """``sql`` in the database container, through psql's standard input (never its command line)."""
    done = subprocess.run(
        ["docker", "exec", "-i", DB_CONTAINER, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database,
         "-f", "-"], input=sql, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def query(expression: str) -> dict[str, float]:
    """A PromQL instant query on the stack's Prometheus: value by database."""
    url = f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        result = json.loads(response.read())["data"]["result"]
    return {r["metric"].get("database", ""): float(r["value"][1]) for r in result}


def wait_for(what: str, check, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(3)
    logs = subprocess.run(["docker", "logs", "--tail", "20", "backup"], capture_output=True, text=True)
    pytest.fail(f"{what} within {seconds} s (last: {last}); the service's log:\n{logs.stdout}{logs.stderr}")


def service_events() -> list[dict]:
    logs = subprocess.run(["docker", "logs", "backup"], capture_output=True, text=True, check=False)
    return [json.loads(line) for line in logs.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def backed(deployment: Deployment, images: dict[str, str], tmp_path_factory) -> Iterator[Backed]:
    engine = deployment.engine
    outputs = engine.outputs()
    secret_key, seal_key, password = secrets.token_hex(20), secrets.token_hex(32), secrets.token_hex(16)
    mc_as_root(outputs, f"mc mb --ignore-existing --with-lock self/{BUCKET}")
    mc_as_root(
        outputs,
        f"cat > /tmp/backup.json && mc admin policy create self {IDENTITY} /tmp/backup.json",
        stdin=json.dumps(render_policy("backup-service", [BUCKET])),
    )
    mc_as_root(
        outputs,
        f'read -r secret && mc admin user add self {IDENTITY} "$secret" && '
        f"mc admin policy attach self {IDENTITY} --user {IDENTITY}",
        stdin=secret_key + "\n",
    )
    base = os.environ.get("MINIO_PLATFORM_BASE_IMAGE", "minio-platform/debian:bookworm")
    start_postgres(postgres_image(base), password, tmp_path_factory.mktemp("pg"))
    engine.set_secret("backupSecretKey", secret_key)
    engine.set_secret("backupSealKey", seal_key)
    engine.set_secret("backupPgpass", f"{DB_CONTAINER}:5432:*:{DB_ROLE}:{password}")
    deployment.config["backups"] = {
        "schedules": [
            {"database": DATABASE, "host": DB_CONTAINER, "user": DB_ROLE,
             "schedule": "* * * * *", "drill": "* * * * *"},
        ],
        "bucket": BUCKET,
        "accessKey": IDENTITY,
        "objectLock": {"mode": "GOVERNANCE", "days": 1},
        "image": images["backup"],
    }  # fmt: skip
    engine.write_config(deployment.config)
    up = engine.up(check=False)
    deployment.record("pulumi up turning the backup service on", up.seconds)
    assert up.returncode == 0, up.diagnostics()
    given = {"backupSecretKey": secret_key, "backupSealKey": seal_key, "database password": password}
    yield Backed(engine.outputs(), time.time(), seal_key.encode(), given)


def test_the_backup_service_runs_hardened_with_its_secrets_in_files(backed: Backed):
    assert_hardened("backup")
    for name in ("backup", "backup-files"):
        shown = docker("inspect", name)
        leaked = [what for what, value in backed.secrets.items() if value in shown]
        assert not leaked, f"docker inspect {name} shows the {leaked}"
    variables = [entry.split("=", 1)[0] for entry in json.loads(inspect("backup", "{{json .Config.Env}}"))]
    assert not [key for key in variables if secret_looking(key)], variables
    ports = json.loads(inspect("backup", "{{json .NetworkSettings.Ports}}") or "{}")
    assert not [port for port, bound in ports.items() if bound], f"published on the host: {ports}"
    networks = set(json.loads(inspect("backup", "{{json .NetworkSettings.Networks}}")))
    assert networks == {"database-net", "monitoring-net"}


def test_a_scheduled_backup_lands_sealed_locked_and_counted(backed: Backed):
    succeeded = wait_for(
        "a scheduled backup counted by Prometheus",
        lambda: {
            db: t
            for db, t in query("minio_platform_backup_last_success_timestamp_seconds").items()
            if t > backed.started
        },
        seconds=240,
    )
    assert set(succeeded) == {DATABASE}
    run = next(e for e in service_events() if e.get("event") == "backup" and e["outcome"] == "success")
    outputs = backed.outputs
    root = s3_client(outputs["s3_endpoint"], outputs["minio_root_user"], outputs["minio_root_password"])
    (listed,) = [
        b for b in backups.list_backups(root, BUCKET, DATABASE, backed.seal_key) if b.key == run["key"]
    ]
    assert listed.seal == backups.SealState.VERIFIED and listed.sha256 == run["sha256"]
    retention = root.get_object_retention(Bucket=BUCKET, Key=run["key"])["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert query("minio_platform_backup_last_size_bytes")[DATABASE] == run["size"]
    assert query("minio_platform_backup_last_failed")[DATABASE] == 0


def test_a_drill_restores_the_newest_backup_and_reports_its_time(backed: Backed):
    seconds = wait_for(
        "a successful drill counted by Prometheus",
        lambda: query("minio_platform_drill_last_restore_seconds").get(DATABASE),
        seconds=240,
    )
    assert seconds > 0
    drill = next(
        e for e in reversed(service_events()) if e.get("event") == "drill" and e["outcome"] == "success"
    )
    assert drill["seconds_to_restore"] > 0 and drill["backup"].startswith(f"postgresql/{DATABASE}/")
    assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'drill\\_%'") == "0"


def test_a_stopped_database_makes_the_failure_metric_rise(backed: Backed):
    before = query("minio_platform_backup_failures_total").get(DATABASE, 0)
    docker("stop", DB_CONTAINER)
    try:
        wait_for(
            "a failed backup counted by Prometheus",
            lambda: query("minio_platform_backup_failures_total").get(DATABASE, 0) > before,
            seconds=240,
        )
        assert query("minio_platform_backup_last_failed")[DATABASE] == 1
        failure = next(e for e in reversed(service_events()) if e.get("outcome") == "failure")
        assert failure["event"] in ("backup", "drill") and failure["error"]
    finally:
        docker("start", DB_CONTAINER)
