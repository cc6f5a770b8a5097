"""PostgreSQL backups in the cluster: streamed from pg_dump, listed with expiry, restored after a check.

A backup is one object, ``postgresql/<database>/<database>-<UTC timestamp>.dump``, in pg_dump's
custom format, with its SHA-256 and the pg_dump version in its metadata. It is streamed from
pg_dump's stdout straight into a multipart upload, one part in memory at a time.

The final key appears only complete and with its checksum, whenever the tool dies (even by
SIGKILL). The SHA-256 is known only at the end, so the dump is uploaded under ``pending/`` (the
same key behind that prefix); once that upload completes, a server-side copy creates the final key
with the checksum in its metadata (one CopyObject, or a multipart copy for large dumps: either way
the key appears at once), then the pending object is deleted. What a death leaves behind is an
unfinished upload (MinIO removes it after 24 h) or a pending object (the backups bucket's
lifecycle expires ``pending/`` after a day); ``list`` counts both.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from day2.buckets import enabled_lifecycle_rules
from day2.errors import BackupNotFound, CorruptBackup, DatabaseError, UsageError

PREFIX = "postgresql"
PENDING_PREFIX = "pending/"
"""Where a backup is uploaded before it gets its final key: the backups bucket's lifecycle expires
it (components/buckets.py, PENDING_BACKUPS_PREFIX; a test keeps the two equal)."""
DEFAULT_BUCKET = "backups-postgresql"
MIB = 1024 * 1024
DEFAULT_PART_SIZE = 16 * MIB
MAX_PARTS = 10_000
META_SHA256 = "sha256"
META_PG_DUMP = "pg-dump-version"
META_DATABASE = "database"
_DATABASE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")

Progress = Callable[[int], None]


def check_database_name(name: str) -> str:
    """A plain database name (connection details come from libpq's PG* variables, never the key)."""
    if not _DATABASE_RE.match(name):
        raise UsageError(
            f"database name {name!r} is not a plain PostgreSQL identifier (letters, digits, _ $ -); "
            "give host, port and user through PGHOST, PGPORT, PGUSER and PGPASSWORD"
        )
    return name


def _backups_prefix(database: str | None) -> str:
    """Where the backups of ``database`` (or of every database) are."""
    return f"{PREFIX}/{check_database_name(database)}/" if database else f"{PREFIX}/"


def backup_key(database: str, when: datetime) -> str:
    return f"{PREFIX}/{database}/{database}-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}.dump"


def pending_key(key: str) -> str:
    """Where the backup ``key`` is uploaded before its checksum is known."""
    return f"{PENDING_PREFIX}{key}"


COPY_IN_ONE_UP_TO = 1024 * MIB
"""Larger dumps get their final key by a multipart copy, parts of COPY_PART_SIZE: each request
then stays short (one CopyObject of many GB could outlast the client's read timeout)."""
COPY_PART_SIZE = 256 * MIB


@dataclass(frozen=True)
class BackupResult:
    bucket: str
    key: str
    size: int
    sha256: str
    pg_dump_version: str
    leftover: str | None = None
    """A pending object the tool could not delete after the copy (the lifecycle expires it)."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise DatabaseError(f"{name} is not installed (Debian: postgresql-client)")
    return path


def pg_dump_version(pg_dump: str) -> str:
    done = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DatabaseError(f"{pg_dump} --version failed: {done.stderr.strip()}")
    return done.stdout.strip()


def backup_postgres(
    s3,
    bucket: str,
    database: str,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    now: datetime | None = None,
    progress: Progress = lambda n: None,
    pg_dump: str | None = None,
    compress: int | None = None,
    started: Callable[[str], None] = lambda key: None,
    step: Callable[[str], None] = lambda name: None,
    copy_in_one_up_to: int = COPY_IN_ONE_UP_TO,
    copy_part_size: int = COPY_PART_SIZE,
) -> BackupResult:
    """``pg_dump --format=custom database`` into one new object, complete with its checksum, or
    nothing at all under the backup's key.

    ``started`` hears the final key once the multipart upload (under ``pending/``) exists;
    ``step`` hears ``uploaded`` (the pending object is complete) and ``copied`` (the final key
    exists), before the next step begins.
    """
    check_database_name(database)
    pg_dump = pg_dump or _tool("pg_dump")
    version = pg_dump_version(pg_dump)
    key = backup_key(database, now or datetime.now(UTC))
    pending = pending_key(key)
    metadata = {META_PG_DUMP: version, META_DATABASE: database}
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=pending, Metadata=metadata, ContentType="application/octet-stream"
    )["UploadId"]
    started(key)
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as errors:
        level = [] if compress is None else [f"--compress={compress}"]
        dump = subprocess.Popen(
            [pg_dump, "--format=custom", *level, "--no-password", f"--dbname={database}"],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            parts = []
            for number, chunk in enumerate(_chunks(dump.stdout, part_size), start=1):
                if number > MAX_PARTS:
                    raise UsageError(
                        f"the dump exceeds {MAX_PARTS} parts of {part_size} bytes: raise --part-size"
                    )
                digest.update(chunk)
                etag = s3.upload_part(
                    Bucket=bucket, Key=pending, UploadId=upload_id, PartNumber=number, Body=chunk
                )["ETag"]
                parts.append({"ETag": etag, "PartNumber": number})
                size += len(chunk)
                progress(len(chunk))
            status = dump.wait()
            if status != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip().splitlines()
                reason = message[-1] if message else f"exit status {status}"
                raise DatabaseError(f"pg_dump of {database} failed: {reason}")
            if not parts:
                raise DatabaseError(f"pg_dump of {database} wrote nothing")
            s3.complete_multipart_upload(
                Bucket=bucket, Key=pending, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            if dump.poll() is None:
                dump.kill()
            dump.wait()
            s3.abort_multipart_upload(Bucket=bucket, Key=pending, UploadId=upload_id)
            raise
    step("uploaded")
    checksum = digest.hexdigest()
    try:
        copy_with_metadata(
            s3, bucket, pending, key, {**metadata, META_SHA256: checksum}, copy_in_one_up_to, copy_part_size
        )
    except BaseException:
        # Nothing under the final key (an unfinished multipart copy is aborted by boto3).
        s3.delete_object(Bucket=bucket, Key=pending)
        raise
    step("copied")
    try:
        s3.delete_object(Bucket=bucket, Key=pending)
    except (BotoCoreError, ClientError):
        return BackupResult(bucket, key, size, checksum, version, leftover=pending)
    return BackupResult(bucket, key, size, checksum, version)


def copy_with_metadata(
    s3,
    bucket: str,
    source: str,
    key: str,
    metadata: dict[str, str],
    copy_in_one_up_to: int = COPY_IN_ONE_UP_TO,
    copy_part_size: int = COPY_PART_SIZE,
) -> None:
    """Server-side copy of ``source`` to ``key`` with ``metadata``: the final key appears when the
    copy completes (one CopyObject up to ``copy_in_one_up_to``, a multipart copy beyond)."""
    s3.copy(
        CopySource={"Bucket": bucket, "Key": source},
        Bucket=bucket,
        Key=key,
        ExtraArgs={
            "Metadata": metadata,
            "MetadataDirective": "REPLACE",
            "ContentType": "application/octet-stream",
        },
        Config=TransferConfig(
            multipart_threshold=copy_in_one_up_to, multipart_chunksize=copy_part_size, max_concurrency=4
        ),
    )


def _chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """``size``-byte blocks of ``stream`` (the last shorter), one in memory at a time."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


@dataclass(frozen=True)
class Backup:
    key: str
    database: str
    size: int
    last_modified: datetime
    sha256: str | None
    pg_dump_version: str | None
    expires: datetime | None
    """When the bucket's lifecycle removes it (None: no expiration rule applies)."""

    def age(self, now: datetime) -> timedelta:
        return now - self.last_modified


def _expiration_days(s3, bucket: str) -> list[tuple[str, int]]:
    """(prefix, days) of the bucket's enabled expiration rules."""
    return [
        (rule.get("Filter", {}).get("Prefix", rule.get("Prefix", "")) or "", int(rule["Expiration"]["Days"]))
        for rule in enabled_lifecycle_rules(s3, bucket)
        if rule.get("Expiration", {}).get("Days")
    ]


def expiry(last_modified: datetime, days: int) -> datetime:
    """S3's rule: ``days`` after creation, rounded up to the next midnight UTC."""
    moment = last_modified.astimezone(UTC) + timedelta(days=days)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def _describe(s3, bucket: str, key: str, rules: list[tuple[str, int]]) -> Backup:
    """One backup object, from its HEAD (metadata) and the bucket's expiration rules."""
    head = s3.head_object(Bucket=bucket, Key=key)
    meta = head["Metadata"]
    days = [d for prefix, d in rules if key.startswith(prefix)]
    parts = key.split("/")
    return Backup(
        key=key,
        database=meta.get(META_DATABASE) or (parts[1] if len(parts) > 2 else ""),
        size=head["ContentLength"],
        last_modified=head["LastModified"],
        sha256=meta.get(META_SHA256),
        pg_dump_version=meta.get(META_PG_DUMP),
        expires=expiry(head["LastModified"], min(days)) if days else None,
    )


def list_backups(s3, bucket: str, database: str | None = None) -> list[Backup]:
    """Every backup in ``bucket`` (of ``database``, or all), newest first."""
    prefix = _backups_prefix(database)
    rules = _expiration_days(s3, bucket)
    backups = [
        _describe(s3, bucket, item["Key"], rules)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
        if item["Key"].endswith(".dump")
    ]
    return sorted(backups, key=lambda b: (b.last_modified, b.key), reverse=True)


@dataclass(frozen=True)
class Leftovers:
    """What interrupted backups left beside the backups (never under a backup's key)."""

    pending_objects: int
    """Uploads that completed under ``pending/`` but never got their final key."""
    unfinished_uploads: int
    """Multipart uploads not completed: running now, or interrupted (MinIO removes those after 24 h)."""


def leftovers(s3, bucket: str, database: str | None = None) -> Leftovers:
    """Count the pending objects and unfinished uploads of backups (of ``database``, or all).

    MinIO lists a bucket's unfinished uploads from the node that started them; the gateway sends
    both to the bucket's node, so this sees the uploads started through it since that node last
    restarted (docs/gateway.md).
    """
    final = _backups_prefix(database)
    pending = sum(
        page.get("KeyCount", 0)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=pending_key(final))
    )
    unfinished = sum(
        1
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
        for upload in page.get("Uploads", [])
        if upload["Key"].startswith((final, pending_key(final)))
    )
    return Leftovers(pending, unfinished)


def find_backup(s3, bucket: str, key: str | None, database: str) -> Backup:
    """The named backup, or the newest of ``database``."""
    if key is None:
        backups = list_backups(s3, bucket, database)
        if not backups:
            raise BackupNotFound(f"no backup of {database} in s3://{bucket}/{PREFIX}/{database}/")
        return backups[0]
    try:
        return _describe(s3, bucket, key, rules=[])
    except ClientError as err:
        if err.response["Error"]["Code"] in {"404", "NoSuchKey", "NotFound"}:
            raise BackupNotFound(f"no backup s3://{bucket}/{key}") from err
        raise


def _psql(database: str, sql: str, *, maintenance: bool = False) -> subprocess.CompletedProcess:
    target = "postgres" if maintenance else database
    return subprocess.run(
        [
            _tool("psql"),
            "--no-password",
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            f"--dbname={target}",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def database_state(database: str) -> int | None:
    """How many user relations ``database`` holds; None if it does not exist."""
    # ``database`` passed check_database_name: no quote can reach the statement.
    exists = _psql(database, f"SELECT 1 FROM pg_database WHERE datname = '{database}'", maintenance=True)  # noqa: S608
    if exists.returncode != 0:
        raise DatabaseError(f"cannot reach PostgreSQL: {exists.stderr.strip()}")
    if exists.stdout.strip() != "1":
        return None
    count = _psql(
        database,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
    )
    if count.returncode != 0:
        raise DatabaseError(f"cannot inspect {database}: {count.stderr.strip()}")
    return int(count.stdout.strip())


def download_verified(s3, bucket: str, backup: Backup, directory: Path, progress: Progress) -> Path:
    """The backup in a file under ``directory``, its SHA-256 checked; deleted again on mismatch."""
    if not backup.sha256:
        raise CorruptBackup(f"s3://{bucket}/{backup.key} records no SHA-256: it cannot be verified")
    handle, name = tempfile.mkstemp(prefix="restore-", suffix=".dump", dir=directory)
    path = Path(name)
    try:
        digest = hashlib.sha256()
        body = s3.get_object(Bucket=bucket, Key=backup.key)["Body"]
        with open(handle, "wb") as out:
            for chunk in body.iter_chunks(MIB):
                digest.update(chunk)
                out.write(chunk)
                progress(len(chunk))
        if digest.hexdigest() != backup.sha256:
            raise CorruptBackup(
                f"s3://{bucket}/{backup.key} is corrupt: SHA-256 {digest.hexdigest()} does not match the "
                f"recorded {backup.sha256}; the database was not touched"
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def restore_postgres(
    s3,
    bucket: str,
    database: str,
    *,
    key: str | None = None,
    source_database: str | None = None,
    force: bool = False,
    create: bool = False,
    workdir: Path | None = None,
    progress: Progress = lambda n: None,
) -> Backup:
    """Restore a backup (``key``, or the newest of ``source_database``) into ``database``.

    Checks, in this order, before PostgreSQL is touched: the backup exists, its content matches
    its SHA-256, and the target is empty (or ``force``) and exists (or ``create``).
    """
    check_database_name(database)
    backup = find_backup(s3, bucket, key, check_database_name(source_database or database))
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        # The checksum first: a corrupt backup is refused whatever the target holds.
        dump = download_verified(s3, bucket, backup, Path(scratch), progress)
        state = database_state(database)
        if state is None and not create:
            raise DatabaseError(f"database {database} does not exist: pass --create to create it")
        if state and not force:
            raise DatabaseError(
                f"database {database} is not empty ({state} relations): pass --force to replace its objects"
            )
        if state is None:
            created = _psql(database, f'CREATE DATABASE "{database}"', maintenance=True)
            if created.returncode != 0:
                raise DatabaseError(f"cannot create {database}: {created.stderr.strip()}")
        command = [
            _tool("pg_restore"),
            "--no-password",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
        ]
        if force:
            command += ["--clean", "--if-exists"]
        done = subprocess.run(
            [*command, f"--dbname={database}", str(dump)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise DatabaseError(
                f"pg_restore into {database} failed (nothing was committed): {done.stderr.strip()}"
            )
    return backup
