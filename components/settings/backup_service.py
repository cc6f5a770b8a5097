"""The stack's backup service: which PostgreSQL databases it backs up, when, and where.

Each schedule names a database, the server it lives on (a host the service reaches: a container
on ``database-net``, or a server outside Docker) and the role it connects as; the passwords are
one stack secret, ``backupPgpass``, in libpq's pgpass format (``host:port:database:user:password``
per line), which the service reads from a file. Cron expressions are read by APScheduler, as the
service runs them (day2/schedules.py).
"""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from components.settings.alerting import Duration
from components.settings.base import BucketName, Identifier, Invalid, Section, raise_all, repeated
from components.settings.buckets import ObjectLockSettings
from day2.schedules import cron_trigger

DEFAULT_BACKUP_IMAGE = "minio-platform/backup:1"
"""The backup service (images/backup, `python -m day2 serve`): published nowhere, built by `make images`."""
DATABASE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}")
"""What the day-2 tool accepts as a database name (day2/backups.py)."""
_HOST_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}")


def _cron(expression: str) -> str:
    try:
        cron_trigger(expression)
    except ValueError as err:
        raise ValueError(f"not a cron expression this service runs: {err}") from err
    return expression


Cron = Annotated[
    str,
    AfterValidator(_cron),
    Field(description="Five cron fields in UTC, days of the week by name: '15 2 * * *', '0 4 * * sun'"),
]


class BackupScheduleSettings(Section):
    """One database, its server, and when it is backed up (and its restore drilled)."""

    database: str = Field(pattern=f"^{DATABASE_NAME_RE.pattern}$", description="The database to back up")
    host: str = Field(
        pattern=f"^{_HOST_RE.pattern}$",
        description="Its PostgreSQL server as the service reaches it: a container on database-net, or a host",
    )
    port: int = Field(5432, ge=1, le=65535, description="The server's port")
    user: str = Field(
        pattern=f"^{DATABASE_NAME_RE.pattern}$",
        description="The role the service connects as (its password: a line of the backupPgpass secret); "
        "pg_dump needs to read every table, a drill CREATEDB",
    )
    schedule: Cron = Field(description="When to back it up (cron, UTC)")
    drill: Cron | None = Field(
        None,
        description="When to restore its newest backup into a scratch database on the same server, compare "
        "and drop it (cron, UTC); none: no drill",
    )


class ConfigExportSettings(Section):
    """The cluster's configuration exported on a schedule (``day2 export-config``)."""

    schedule: Cron = Field(
        description="When to export policies, users, groups, service accounts and bucket settings"
    )
    account: Identifier = Field(
        "config-export",
        description="The service account of serviceAccounts it signs in as (template config-export: reads "
        "IAM and bucket settings, writes config/ of the backups bucket, never deletes)",
    )


class BackupServiceSettings(Section):
    """Scheduled backups as part of the stack (docs/day2.md "The backup service")."""

    schedules: tuple[BackupScheduleSettings, ...] = Field(
        (),
        description="Each {database, host, port, user, schedule, drill}; none: no backup service runs",
    )
    bucket: BucketName | None = Field(
        None, description="Where the backups go: a bucket with backups: true (default: the stack's one)"
    )
    account: Identifier = Field(
        "backup-service",
        description="The service account of serviceAccounts it signs in as (template backup-service)",
    )
    access_key: str | None = Field(
        None,
        min_length=3,
        description="Instead of account: an identity made outside the stack (its secret key: the "
        "backupSecretKey secret), allowed what the backup-service template allows",
    )
    object_lock: ObjectLockSettings | None = Field(
        None,
        description="With a bucket the stack does not configure: the lock each backup gets ({mode, days}); "
        "a configured bucket's own objectLock otherwise",
    )
    config_export: ConfigExportSettings | None = Field(
        None,
        description="{schedule, account}: the service also exports the cluster's configuration (IAM without "
        "secrets, bucket settings) to config/ of the backups bucket; none: no export",
    )
    image: str = Field(DEFAULT_BACKUP_IMAGE, description="The backup service's image (images/backup)")
    overdue_after: Duration = Field(
        "1h",
        description="How long past a backup's due time (its schedule's next run after the last success) "
        "before MinIOPlatformBackupOverdue fires",
    )

    @model_validator(mode="after")
    def _each_database_once(self) -> Self:
        """Backups are kept by database name (postgresql/<database>/): one schedule per name."""
        raise_all(
            [
                Invalid(f"schedules[{i}].database", name, "each database once (backups are kept by its name)")
                for i, name in repeated(s.database for s in self.schedules)
            ]
        )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.schedules)


def pgpass_entries(text: str) -> list[tuple[str, str, str, str]]:
    """(host, port, database, user) of each line of a pgpass file (``*`` matches anything);
    comments and blank lines skipped. Raises ValueError naming a line without five fields."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = re.split(r"(?<!\\):", line, maxsplit=4)
        if len(fields) != 5 or not fields[4]:
            raise ValueError(f"line {number} is not host:port:database:user:password")
        entries.append((fields[0], fields[1], fields[2], fields[3]))
    return entries


def pgpass_covers(
    entries: list[tuple[str, str, str, str]], schedule: BackupScheduleSettings, database: str | None = None
) -> bool:
    """A line gives the schedule's role a password for ``database`` (default: the schedule's; ``*``:
    any database, which a drill needs: it connects to a scratch database of a random name)."""
    wanted = (schedule.host, str(schedule.port), database or schedule.database, schedule.user)
    return any(
        all(field == "*" or field == value for field, value in zip(entry, wanted, strict=True))
        for entry in entries
    )
