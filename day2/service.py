"""``python -m day2 serve --config FILE``: the stack's backup service.

It runs each schedule's backup (and restore drill) at the times its cron expression names, with
APScheduler's cron trigger, each run as ``python -m day2 backup`` (``drill``) in a process of its
own with that schedule's database in libpq's variables and its password in a pgpass file. The
config (rendered by components/backup_service.py) names the bucket, the gateway, the identity
and the secret files; no secret is in it, in the environment or in the arguments.

Prometheus metrics on ``metrics_port`` (``/metrics``), per database:

- ``minio_platform_backup_last_success_timestamp_seconds``: the last backup that succeeded here, or
  at start the newest sealed backup in the bucket (0: none yet);
- ``minio_platform_backup_due_timestamp_seconds``: when the next backup after that one was due; the
  ``MinIOPlatformBackupOverdue`` alert fires once it is past by the stack's grace;
- ``minio_platform_backup_last_duration_seconds``, ``..._last_size_bytes``, ``..._runs_total``,
  ``..._failures_total``;
- ``minio_platform_drill_last_success_timestamp_seconds``, ``..._drill_last_restore_seconds`` (the
  time to restore, the RTO measured), ``..._drill_failures_total``;
- with a configuration export (``config_export``), without a label:
  ``minio_platform_config_export_last_success_timestamp_seconds``, ``..._last_failed``,
  ``..._failures_total``.

Each run's outcome is one JSON line on stdout (the container's log).

With ``ca_file`` (the stack's gateway has a self-signed certificate) the service and its runs
trust that file alone: boto3 reads it from ``AWS_CA_BUNDLE``, the MinIO SDK from ``SSL_CERT_FILE``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from day2 import backups
from day2.connection import Connection
from day2.errors import UsageError
from day2.schedules import METRICS_PORT, cron_trigger

RUN_TIMEOUT_SECONDS = 24 * 3600
"""A backup or drill taking longer is stopped and counted as failed."""


@dataclass(frozen=True)
class Schedule:
    database: str
    host: str
    port: int
    user: str
    schedule: str
    drill: str | None = None

    def environment(self, pgpass: str) -> dict[str, str]:
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSFILE": pgpass,
            "PGCONNECT_TIMEOUT": "10",
        }


@dataclass(frozen=True)
class ConfigExportJob:
    """``python -m day2 export-config`` on a schedule, signed in as the config-export account."""

    schedule: str
    access_key: str
    secret_key_file: str


@dataclass(frozen=True)
class ServiceConfig:
    bucket: str
    endpoint: str
    region: str
    access_key: str
    secret_key_file: str
    seal_key_file: str
    pgpass_file: str
    schedules: tuple[Schedule, ...]
    lock: backups.Lock | None = None
    config_export: ConfigExportJob | None = None
    metrics_port: int = METRICS_PORT
    work_dir: str = "/var/lib/backup"
    """Where a drill keeps the dump it downloads (a volume: a dump can be larger than memory)."""
    scratch_dir: str = "/tmp"  # noqa: S108 (the container's private tmpfs)
    """Where the service keeps its private copy of the pgpass file (memory, never a disk)."""
    ca_file: str | None = None
    """The certificate authorities to trust for the gateway (None: the system's)."""

    @property
    def trust_environment(self) -> dict[str, str]:
        """``ca_file`` as the SDKs read it: boto3 ``AWS_CA_BUNDLE``, the MinIO SDK ``SSL_CERT_FILE``."""
        return {"AWS_CA_BUNDLE": self.ca_file, "SSL_CERT_FILE": self.ca_file} if self.ca_file else {}

    @classmethod
    def load(cls, path: Path) -> ServiceConfig:
        try:
            document: dict[str, Any] = json.loads(path.read_text())
            lock = document.pop("lock", None)
            export = document.pop("config_export", None)
            schedules = tuple(Schedule(**entry) for entry in document.pop("schedules"))
            config = cls(
                **document,
                schedules=schedules,
                lock=backups.Lock(**lock) if lock else None,
                config_export=ConfigExportJob(**export) if export else None,
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UsageError(f"cannot read the service's config {path}: {err}") from err
        for schedule in config.schedules:
            backups.check_database_name(schedule.database)
            for expression in (schedule.schedule, schedule.drill):
                if expression:
                    cron_trigger(expression)
        if config.config_export is not None:
            cron_trigger(config.config_export.schedule)
        return config


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["database"]
        prefix = "minio_platform_backup"
        self.last_success = Gauge(
            f"{prefix}_last_success_timestamp_seconds",
            "When the database's last backup succeeded (Unix time; 0: none)",
            labels,
            registry=registry,
        )
        self.due = Gauge(
            f"{prefix}_due_timestamp_seconds",
            "When the backup after the last successful one was due (Unix time)",
            labels,
            registry=registry,
        )
        self.duration = Gauge(
            f"{prefix}_last_duration_seconds", "How long the last backup ran", labels, registry=registry
        )
        self.size = Gauge(f"{prefix}_last_size_bytes", "Size of the last backup", labels, registry=registry)
        self.runs = Counter(f"{prefix}_runs", "Backups started", labels, registry=registry)
        self.failures = Counter(f"{prefix}_failures", "Backups that failed", labels, registry=registry)
        self.drill_success = Gauge(
            "minio_platform_drill_last_success_timestamp_seconds",
            "When the database's last restore drill succeeded (Unix time; 0: none)",
            labels,
            registry=registry,
        )
        self.drill_seconds = Gauge(
            "minio_platform_drill_last_restore_seconds",
            "How long the last successful drill's restore took (the restore time measured)",
            labels,
            registry=registry,
        )
        self.drill_failures = Counter(
            "minio_platform_drill_failures", "Restore drills that failed", labels, registry=registry
        )
        self.last_failed = Gauge(
            f"{prefix}_last_failed", "1: the last backup failed; 0: it succeeded, or none ran", labels,
            registry=registry,
        )  # fmt: skip
        self.drill_last_failed = Gauge(
            "minio_platform_drill_last_failed",
            "1: the last restore drill failed; 0: it succeeded, or none ran",
            labels,
            registry=registry,
        )
        self.export_success = Gauge(
            "minio_platform_config_export_last_success_timestamp_seconds",
            "When the last configuration export succeeded (Unix time; 0: none since the service started)",
            registry=registry,
        )
        self.export_failures = Counter(
            "minio_platform_config_export_failures", "Configuration exports that failed", registry=registry
        )
        self.export_last_failed = Gauge(
            "minio_platform_config_export_last_failed",
            "1: the last configuration export failed; 0: it succeeded, or none ran",
            registry=registry,
        )


Runner = Callable[[Sequence[str], Mapping[str, str]], subprocess.CompletedProcess]


def run_tool(arguments: Sequence[str], environment: Mapping[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "day2", *arguments],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def _log(**event: Any) -> None:
    print(json.dumps({"time": datetime.now(UTC).isoformat(timespec="seconds"), **event}), flush=True)


class BackupService:
    """The schedules, their runs and their metrics (the scheduler calls :meth:`backup`, :meth:`drill`)."""

    def __init__(self, config: ServiceConfig, registry: CollectorRegistry, run: Runner = run_tool) -> None:
        self.config = config
        self.metrics = Metrics(registry)
        self.run = run
        self.triggers = {s.database: cron_trigger(s.schedule) for s in config.schedules}

    def _environment(self, schedule: Schedule) -> dict[str, str]:
        return {
            **self._signed_in(self.config.access_key, self.config.secret_key_file),
            **schedule.environment(self.config.pgpass_file),
        }

    def _signed_in(self, access_key: str, secret_key_file: str) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.config.work_dir,
            "LC_ALL": "C.UTF-8",
            "MINIO_ACCESS_KEY": access_key,
            "MINIO_SECRET_KEY_FILE": secret_key_file,
            **self.config.trust_environment,
        }

    def _where(self) -> list[str]:
        return [
            "--endpoint", self.config.endpoint, "--region", self.config.region,
            "--bucket", self.config.bucket, "--json",
        ]  # fmt: skip

    def _lock_arguments(self) -> list[str]:
        lock = self.config.lock
        return ["--lock-days", str(lock.days), "--lock-mode", lock.mode] if lock else []

    def _common(self) -> list[str]:
        return [*self._where(), "--seal-key-file", self.config.seal_key_file]

    def _set_due(self, schedule: Schedule, after: datetime) -> None:
        due = self.triggers[schedule.database].get_next_fire_time(None, after)
        self.metrics.due.labels(schedule.database).set(due.timestamp() if due else 0)

    def start(self, s3) -> None:
        """The metrics before any run: the newest sealed backup in the bucket counts as the last
        success (a restarted service does not forget), and the next backup is due after it."""
        now = datetime.now(UTC)
        for schedule in self.config.schedules:
            try:
                found = [
                    b
                    for b in backups.list_backups(s3, self.config.bucket, schedule.database)
                    if b.seal != backups.SealState.MISSING
                ]
            except (BotoCoreError, ClientError) as err:  # the first run will tell again
                _log(event="started", database=schedule.database, warning=f"cannot list its backups: {err}")
                found = []
            last = found[0].last_modified if found else None
            self.metrics.last_success.labels(schedule.database).set(last.timestamp() if last else 0)
            self.metrics.runs.labels(schedule.database)
            self.metrics.failures.labels(schedule.database)
            self.metrics.drill_failures.labels(schedule.database)
            self.metrics.last_failed.labels(schedule.database).set(0)
            self.metrics.drill_last_failed.labels(schedule.database).set(0)
            self._set_due(schedule, last or now)

    def backup(self, schedule: Schedule) -> bool:
        arguments = ["backup", *self._common(), *self._lock_arguments(), "--database", schedule.database]
        self.metrics.runs.labels(schedule.database).inc()
        began = time.monotonic()
        done = self._attempt(arguments, self._environment(schedule))
        seconds = time.monotonic() - began
        self.metrics.duration.labels(schedule.database).set(seconds)
        if done is not None and done.returncode == 0:
            result = json.loads(done.stdout)
            finished = datetime.now(UTC)
            self.metrics.last_success.labels(schedule.database).set(finished.timestamp())
            self.metrics.size.labels(schedule.database).set(result["size"])
            self.metrics.last_failed.labels(schedule.database).set(0)
            self._set_due(schedule, finished)
            _log(event="backup", database=schedule.database, outcome="success", key=result["key"],
                 size=result["size"], sha256=result["sha256"], seconds=round(seconds, 3))  # fmt: skip
            return True
        self.metrics.failures.labels(schedule.database).inc()
        self.metrics.last_failed.labels(schedule.database).set(1)
        _log(event="backup", database=schedule.database, outcome="failure", seconds=round(seconds, 3),
             exit_code=None if done is None else done.returncode, error=_reason(done))  # fmt: skip
        return False

    def drill(self, schedule: Schedule) -> bool:
        arguments = [
            "drill",
            *self._common(),
            "--database",
            schedule.database,
            "--workdir",
            self.config.work_dir,
        ]
        done = self._attempt(arguments, self._environment(schedule))
        if done is not None and done.returncode == 0:
            result = json.loads(done.stdout)
            self.metrics.drill_success.labels(schedule.database).set(time.time())
            self.metrics.drill_seconds.labels(schedule.database).set(result["seconds_to_restore"])
            self.metrics.drill_last_failed.labels(schedule.database).set(0)
            _log(event="drill", database=schedule.database, outcome="success", backup=result["backup"],
                 seconds_to_restore=result["seconds_to_restore"])  # fmt: skip
            return True
        self.metrics.drill_failures.labels(schedule.database).inc()
        self.metrics.drill_last_failed.labels(schedule.database).set(1)
        _log(event="drill", database=schedule.database, outcome="failure",
             exit_code=None if done is None else done.returncode, error=_reason(done))  # fmt: skip
        return False

    def export_config(self) -> bool:
        """``export-config`` into the bucket as the config-export account, locked like a backup."""
        job = self.config.config_export
        if job is None:
            raise UsageError("the service's config has no config_export")
        began = time.monotonic()
        done = self._attempt(
            ["export-config", *self._where(), *self._lock_arguments()],
            self._signed_in(job.access_key, job.secret_key_file),
        )
        seconds = round(time.monotonic() - began, 3)
        if done is not None and done.returncode == 0:
            result = json.loads(done.stdout)
            self.metrics.export_success.set(time.time())
            self.metrics.export_last_failed.set(0)
            _log(event="config-export", outcome="success", key=result["key"], counts=result["counts"],
                 seconds=seconds)  # fmt: skip
            return True
        self.metrics.export_failures.inc()
        self.metrics.export_last_failed.set(1)
        _log(event="config-export", outcome="failure", seconds=seconds,
             exit_code=None if done is None else done.returncode, error=_reason(done))  # fmt: skip
        return False

    def _attempt(
        self, arguments: list[str], environment: Mapping[str, str]
    ) -> subprocess.CompletedProcess | None:
        """One run of the day-2 tool; None when it ran past RUN_TIMEOUT_SECONDS."""
        try:
            return self.run(arguments, environment)
        except subprocess.TimeoutExpired:
            return None


def _reason(done: subprocess.CompletedProcess | None) -> str:
    if done is None:
        return f"stopped after {RUN_TIMEOUT_SECONDS} s"
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1][-500:] if lines else f"exit status {done.returncode}"


def private_pgpass(config: ServiceConfig) -> ServiceConfig:
    """libpq ignores a pgpass file that its group may read ("permissions should be u=rw (0600) or
    less"), and the stack's secret files are 0440 (components/conventions.py, SECRET_FILE_MODE):
    the service's own copy, 0600, on its private tmpfs."""
    copy = Path(config.scratch_dir) / "pgpass"
    copy.touch(mode=0o600)
    copy.chmod(0o600)
    copy.write_text(Path(config.pgpass_file).read_text())
    return dataclasses.replace(config, pgpass_file=str(copy))


def serve(config_path: Path) -> None:
    """Run until stopped: the metrics endpoint and every schedule (SIGTERM ends it)."""
    config = private_pgpass(ServiceConfig.load(config_path))
    os.environ.update(config.trust_environment)  # the service's own client (its start), as its runs'
    secret_key = Path(config.secret_key_file).read_text().strip()
    s3 = Connection(config.endpoint, config.access_key, secret_key, config.region).s3()
    registry = CollectorRegistry()
    service = BackupService(config, registry)
    start_http_server(config.metrics_port, registry=registry)
    service.start(s3)
    scheduler = BlockingScheduler(timezone=UTC)
    options = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 3600}
    for schedule in config.schedules:
        scheduler.add_job(service.backup, cron_trigger(schedule.schedule), args=[schedule], **options)
        if schedule.drill:
            scheduler.add_job(service.drill, cron_trigger(schedule.drill), args=[schedule], **options)
    if config.config_export is not None:
        scheduler.add_job(service.export_config, cron_trigger(config.config_export.schedule), **options)
    _log(event="started", schedules=[s.database for s in config.schedules], bucket=config.bucket)
    scheduler.start()
