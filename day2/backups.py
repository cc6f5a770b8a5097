"""PostgreSQL backups in the cluster: streamed from pg_dump, sealed, listed with expiry, restored
after a check.

A backup is one object, ``postgresql/<database>/<database>-<UTC time to the microsecond>Z-<random>.dump``,
in pg_dump's custom format, and its **seal** beside it (the same key with ``.seal``): a small JSON
document naming the dump's exact version, size and SHA-256, authenticated by an HMAC with the
stack's backup seal key. No MinIO identity holds that key, so whoever can write the bucket (the
backup account, root) can neither forge a seal nor change a sealed backup unnoticed: restore takes
the version the seal names, checks the seal, the size and the SHA-256, and refuses a key written
again after it was sealed.

The dump streams from pg_dump's stdout straight into a multipart upload of its final key, a few
parts in flight at once, each with its own SHA-256 that MinIO checks on arrival. The key appears
only when the upload completes, so never partial, whenever the tool dies (even by SIGKILL), and the
completion refuses to replace an existing key. The seal is written next: a backup is one that has
its seal. A death between the two leaves an unsealed dump that ``list`` shows and restore refuses;
a death before leaves an unfinished upload (MinIO removes it after 24 h) that ``list`` counts.

In a locked bucket the tool locks both objects for the bucket's period (its mode and days come from
the stack's ``bucket_configuration`` output); the backup account cannot delete anything.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import ClientError

from day2.buckets import enabled_lifecycle_rules
from day2.errors import BackupNotFound, CorruptBackup, DatabaseError, UsageError

PREFIX = "postgresql"
SEAL_SUFFIX = ".seal"
DUMP_SUFFIX = ".dump"
DEFAULT_BUCKET = "backups-postgresql"
MIB = 1024 * 1024
DEFAULT_PART_SIZE = 16 * MIB
DEFAULT_CONCURRENCY = 2
"""Parts a backup uploads at once: memory use is about this many parts, plus one. Two keep the
upload ahead of pg_dump, whose compression sets a backup's pace, in flat memory."""
RESTORE_CONCURRENCY = 1
"""Ranges a restore downloads at once; 1: one streaming GET. Measured with make bench (2 cores, a
dump of 589 MB, docs/performance.md): two ranges of 16 MiB downloaded and checked it in 2.4 s with
127 MB of peak RSS, one stream in 1.6 s with 60 MB."""
MAX_PARTS = 10_000
META_PG_DUMP = "pg-dump-version"
META_DATABASE = "database"
META_SHA256 = "sha256"
"""Backups made before seals carried their SHA-256 here (``restore --unsealed`` reads it)."""
SEAL_FORMAT = 1
SEAL_KEY_MINIMUM = 32
"""Characters of a seal key at least (the stack generates 64 letters and digits)."""
NOT_FOUND = {"404", "NoSuchKey", "NotFound", "NoSuchVersion"}
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


def check_seal_key(key: str | bytes) -> bytes:
    raw = key.encode() if isinstance(key, str) else key
    raw = raw.strip()
    if len(raw) < SEAL_KEY_MINIMUM:
        raise UsageError(f"the backup seal key must have at least {SEAL_KEY_MINIMUM} characters")
    return raw


def _backups_prefix(database: str | None) -> str:
    """Where the backups of ``database`` (or of every database) are."""
    return f"{PREFIX}/{check_database_name(database)}/" if database else f"{PREFIX}/"


def backup_key(database: str, when: datetime, token: str | None = None) -> str:
    """The key of a backup of ``database`` started at ``when``: sorts by time, and never the key of
    another backup (the microsecond, then a random part for two started in the same one)."""
    moment = when.astimezone(UTC)
    return (
        f"{PREFIX}/{database}/{database}-{moment:%Y%m%dT%H%M%S}.{moment:%f}Z-"
        f"{token or secrets.token_hex(4)}{DUMP_SUFFIX}"
    )


def seal_key_of(key: str) -> str:
    """Where the seal of the backup ``key`` is."""
    return f"{key}{SEAL_SUFFIX}"


@dataclass(frozen=True)
class Lock:
    """The object lock each backup and its seal get (the bucket's, from the stack outputs)."""

    mode: str
    days: int

    def __post_init__(self) -> None:
        if self.mode not in {"GOVERNANCE", "COMPLIANCE"} or self.days <= 0:
            raise UsageError(
                f"object lock {self.mode} for {self.days} days: GOVERNANCE or COMPLIANCE, days > 0"
            )

    def arguments(self, start: datetime) -> dict[str, Any]:
        return {"ObjectLockMode": self.mode, "ObjectLockRetainUntilDate": start + timedelta(days=self.days)}


@dataclass(frozen=True)
class Seal:
    """What a backup's seal vouches for."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    sha256: str
    pg_dump_version: str
    database: str
    created: str

    def signed(self, seal_key: bytes) -> bytes:
        document = {"format": SEAL_FORMAT, **asdict(self)}
        return json.dumps({**document, "hmac": _mac(seal_key, document)}, indent=2).encode()


def _mac(seal_key: bytes, document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(seal_key, canonical, hashlib.sha256).hexdigest()


def open_seal(data: bytes, seal_key: bytes, bucket: str, key: str) -> Seal:
    """The seal of s3://bucket/key, once its HMAC and its place are checked."""
    where = f"s3://{bucket}/{seal_key_of(key)}"
    try:
        document = json.loads(data)
        given = document.pop("hmac")
        if document.pop("format") != SEAL_FORMAT:
            raise CorruptBackup(f"{where} has a seal format this tool does not read")
        seal = Seal(**document)
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptBackup(f"{where} is not a seal this tool wrote: {err}") from err
    if not isinstance(given, str) or not hmac.compare_digest(
        given, _mac(seal_key, {"format": SEAL_FORMAT, **document})
    ):
        raise CorruptBackup(
            f"{where} does not carry the stack's seal (HMAC mismatch: changed, or sealed with another key); "
            "the database was not touched"
        )
    if (seal.bucket, seal.key) != (bucket, key):
        raise CorruptBackup(
            f"{where} seals s3://{seal.bucket}/{seal.key}, not this backup; the database was not touched"
        )
    return seal


@dataclass(frozen=True)
class BackupResult(Seal):
    """A backup made: what its seal says, and until when it is locked (None: not locked)."""

    locked_until: str | None


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


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class _Parts:
    """Upload parts of one multipart upload, ``concurrency`` at once, in order of their numbers."""

    def __init__(self, s3, bucket: str, key: str, upload_id: str, concurrency: int) -> None:
        self._s3, self._bucket, self._key, self._upload_id = s3, bucket, key, upload_id
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="part")
        self._concurrency = concurrency
        self._running: deque[Future[dict[str, Any]]] = deque()
        self.done: list[dict[str, Any]] = []

    def _upload(self, number: int, chunk: bytes) -> dict[str, Any]:
        checksum = _sha256_b64(chunk)
        answer = self._s3.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=chunk,
            ChecksumSHA256=checksum,
        )
        return {"ETag": answer["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}

    def submit(self, number: int, chunk: bytes) -> None:
        """Start the part; first wait for the oldest when ``concurrency`` are in flight."""
        if len(self._running) >= self._concurrency:
            self.done.append(self._running.popleft().result())
        self._running.append(self._pool.submit(self._upload, number, chunk))

    def finish(self) -> list[dict[str, Any]]:
        while self._running:
            self.done.append(self._running.popleft().result())
        self._pool.shutdown()
        return self.done

    def cancel(self) -> None:
        for future in self._running:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


def backup_postgres(
    s3,
    bucket: str,
    database: str,
    *,
    seal_key: bytes,
    lock: Lock | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    concurrency: int = DEFAULT_CONCURRENCY,
    now: datetime | None = None,
    progress: Progress = lambda n: None,
    pg_dump: str | None = None,
    compress: int | None = None,
    started: Callable[[str], None] = lambda key: None,
    step: Callable[[str], None] = lambda name: None,
) -> BackupResult:
    """``pg_dump --format=custom database`` into one new object and its seal, or no backup at all.

    ``started`` hears the key once its multipart upload exists; ``step`` hears ``uploaded`` (the
    dump's key exists, complete) and ``sealed`` (its seal exists), before the next step begins.
    """
    check_database_name(database)
    seal_key = check_seal_key(seal_key)
    pg_dump = pg_dump or _tool("pg_dump")
    version = pg_dump_version(pg_dump)
    start = now or datetime.now(UTC)
    key = backup_key(database, start)
    locking = lock.arguments(start) if lock else {}
    metadata = {META_PG_DUMP: version, META_DATABASE: database}
    upload_id = s3.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        Metadata=metadata,
        ContentType="application/octet-stream",
        ChecksumAlgorithm="SHA256",
        **locking,
    )["UploadId"]
    started(key)
    digest = hashlib.sha256()
    size = 0
    parts = _Parts(s3, bucket, key, upload_id, concurrency)
    with tempfile.TemporaryFile() as errors:
        level = [] if compress is None else [f"--compress={compress}"]
        dump = subprocess.Popen(
            [pg_dump, "--format=custom", *level, "--no-password", f"--dbname={database}"],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            for number, chunk in enumerate(_chunks(dump.stdout, part_size), start=1):
                if number > MAX_PARTS:
                    raise UsageError(
                        f"the dump exceeds {MAX_PARTS} parts of {part_size} bytes: raise --part-size"
                    )
                digest.update(chunk)
                parts.submit(number, chunk)
                size += len(chunk)
                progress(len(chunk))
            uploaded = parts.finish()
            status = dump.wait()
            if status != 0:
                errors.seek(0)
                message = errors.read().decode(errors="replace").strip().splitlines()
                reason = message[-1] if message else f"exit status {status}"
                raise DatabaseError(f"pg_dump of {database} failed: {reason}")
            if not uploaded:
                raise DatabaseError(f"pg_dump of {database} wrote nothing")
            # IfNoneMatch: the completion refuses to replace an object already under the key.
            completed = s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": uploaded},
                IfNoneMatch="*",
            )
        except BaseException:
            if dump.poll() is None:
                dump.kill()
            dump.wait()
            parts.cancel()
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
    step("uploaded")
    checksum = digest.hexdigest()
    seal = Seal(
        bucket=bucket,
        key=key,
        version_id=completed.get("VersionId"),
        size=size,
        sha256=checksum,
        pg_dump_version=version,
        database=database,
        created=start.astimezone(UTC).isoformat(),
    )
    body = seal.signed(seal_key)
    s3.put_object(
        Bucket=bucket,
        Key=seal_key_of(key),
        Body=body,
        ContentType="application/json",
        ChecksumSHA256=_sha256_b64(body),
        IfNoneMatch="*",
        **locking,
    )
    step("sealed")
    until = locking.get("ObjectLockRetainUntilDate")
    return BackupResult(**asdict(seal), locked_until=until.isoformat() if until else None)


def _chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """``size``-byte blocks of ``stream`` (the last shorter), one in memory at a time."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


class SealState:
    """How a listed backup's seal stands."""

    VERIFIED = "verified"
    """Its HMAC checked with the stack's key."""
    UNCHECKED = "unchecked"
    """Present, not checked (no seal key given)."""
    INVALID = "invalid"
    """Present, and not the stack's: changed, or sealed with another key."""
    MISSING = "missing"
    """None: the tool died between the upload and the seal, or it was made before seals."""


@dataclass(frozen=True)
class Backup:
    key: str
    database: str
    size: int
    last_modified: datetime
    seal: str
    """A :class:`SealState`."""
    sha256: str | None
    """From the seal (or, for a backup made before seals, the object's metadata)."""
    version_id: str | None
    """The version the seal names (None: no seal)."""
    pg_dump_version: str | None
    expires: datetime | None
    """When the bucket's lifecycle removes it (None: no expiration rule applies)."""

    def age(self, now: datetime) -> timedelta:
        return now - self.last_modified


def _expiration_days(s3, bucket: str) -> list[tuple[str, int]]:
    """(prefix, days) of the bucket's enabled expiration rules that can take a backup: a rule for
    tagged objects takes none (backups carry no tag)."""
    found = []
    for rule in enabled_lifecycle_rules(s3, bucket):
        scope = rule.get("Filter", {})
        if not rule.get("Expiration", {}).get("Days") or "Tag" in scope or scope.get("And", {}).get("Tags"):
            continue
        prefix = scope.get("Prefix", scope.get("And", {}).get("Prefix", rule.get("Prefix", "")))
        found.append((prefix or "", int(rule["Expiration"]["Days"])))
    return found


def expiry(last_modified: datetime, days: int) -> datetime:
    """S3's rule: ``days`` after creation, rounded up to the next midnight UTC."""
    moment = last_modified.astimezone(UTC) + timedelta(days=days)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def read_seal(s3, bucket: str, key: str, seal_key: bytes | None) -> tuple[str, Seal | None]:
    """The seal of ``key``: its :class:`SealState`, and what it vouches for once verified."""
    try:
        data = s3.get_object(Bucket=bucket, Key=seal_key_of(key))["Body"].read()
    except ClientError as err:
        if err.response["Error"]["Code"] in NOT_FOUND:
            return SealState.MISSING, None
        raise
    if seal_key is None:
        return SealState.UNCHECKED, None
    try:
        return SealState.VERIFIED, open_seal(data, seal_key, bucket, key)
    except CorruptBackup:
        return SealState.INVALID, None


def _describe(
    s3,
    bucket: str,
    key: str,
    rules: list[tuple[str, int]],
    seal_key: bytes | None,
    seal_objects: set[str] | None,
) -> Backup:
    """One backup: its seal (read only when ``seal_objects`` lists it, if given), the version the
    seal names (or the current one), and the bucket's expiration rules."""
    if seal_objects is not None and seal_key_of(key) not in seal_objects:
        state, seal = SealState.MISSING, None
    else:
        state, seal = read_seal(s3, bucket, key, seal_key)
    version = {"VersionId": seal.version_id} if seal and seal.version_id else {}
    head = s3.head_object(Bucket=bucket, Key=key, **version)
    meta = head["Metadata"]
    days = [d for prefix, d in rules if key.startswith(prefix)]
    parts = key.split("/")
    return Backup(
        key=key,
        database=meta.get(META_DATABASE) or (parts[1] if len(parts) > 2 else ""),
        size=head["ContentLength"],
        last_modified=head["LastModified"],
        seal=state,
        sha256=seal.sha256 if seal else meta.get(META_SHA256),
        version_id=seal.version_id if seal else None,
        pg_dump_version=seal.pg_dump_version if seal else meta.get(META_PG_DUMP),
        expires=expiry(head["LastModified"], min(days)) if days else None,
    )


def list_backups(s3, bucket: str, database: str | None = None, seal_key: bytes | None = None) -> list[Backup]:
    """Every backup in ``bucket`` (of ``database``, or all), newest first, with its seal's state."""
    prefix = _backups_prefix(database)
    rules = _expiration_days(s3, bucket)
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    seals = {k for k in keys if k.endswith(SEAL_SUFFIX)}
    backups = [_describe(s3, bucket, k, rules, seal_key, seals) for k in keys if k.endswith(DUMP_SUFFIX)]
    return sorted(backups, key=lambda b: (b.last_modified, b.key), reverse=True)


@dataclass(frozen=True)
class Leftovers:
    """What interrupted backups left beside the backups (never a partial object under a key)."""

    unsealed: int
    """Dumps whose upload completed but whose seal was never written: restore refuses them."""
    unfinished_uploads: int
    """Multipart uploads not completed: running now, or interrupted (MinIO removes those after 24 h)."""


def leftovers(s3, bucket: str, database: str | None = None, found: list[Backup] | None = None) -> Leftovers:
    """Count the unsealed dumps and unfinished uploads of backups (of ``database``, or all).

    MinIO lists a bucket's unfinished uploads from the node that started them; the gateway sends
    both to the bucket's node, so this sees the uploads started through it since that node last
    restarted (docs/gateway.md).
    """
    final = _backups_prefix(database)
    listed = found if found is not None else list_backups(s3, bucket, database)
    unfinished = sum(
        1
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
        for upload in page.get("Uploads", [])
        if upload["Key"].startswith(final)
    )
    return Leftovers(sum(1 for b in listed if b.seal == SealState.MISSING), unfinished)


def find_backup(s3, bucket: str, key: str | None, database: str, seal_key: bytes | None) -> Backup:
    """The named backup, or the newest sealed one of ``database``."""
    if key is None:
        sealed = [b for b in list_backups(s3, bucket, database, seal_key) if b.seal != SealState.MISSING]
        if not sealed:
            raise BackupNotFound(f"no sealed backup of {database} in s3://{bucket}/{PREFIX}/{database}/")
        return sealed[0]
    try:
        return _describe(s3, bucket, key, _expiration_days(s3, bucket), seal_key, None)
    except ClientError as err:
        if err.response["Error"]["Code"] in NOT_FOUND:
            raise BackupNotFound(f"no backup s3://{bucket}/{key}") from err
        raise


def psql(database: str, sql: str, *, maintenance: bool = False) -> subprocess.CompletedProcess:
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
    exists = psql(database, f"SELECT 1 FROM pg_database WHERE datname = '{database}'", maintenance=True)  # noqa: S608
    if exists.returncode != 0:
        raise DatabaseError(f"cannot reach PostgreSQL: {exists.stderr.strip()}")
    if exists.stdout.strip() != "1":
        return None
    count = psql(
        database,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'",
    )
    if count.returncode != 0:
        raise DatabaseError(f"cannot inspect {database}: {count.stderr.strip()}")
    return int(count.stdout.strip())


def _written_again(s3, bucket: str, backup: Backup) -> list[str]:
    """Versions of the backup's key other than the one its seal names (a backup is written once).
    In a bucket without versioning there is only the current object: its SHA-256 tells."""
    if backup.version_id is None:
        return []
    return [
        version["VersionId"]
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=backup.key)
        for version in page.get("Versions", [])
        if version["Key"] == backup.key and version["VersionId"] != backup.version_id
    ]


def check_restorable(s3, bucket: str, backup: Backup, *, unsealed: bool = False) -> None:
    """Refuse, before anything is downloaded, a backup whose seal is not the stack's or that was
    written again after it was sealed; one without a seal only with ``unsealed`` (its metadata)."""
    where = f"s3://{bucket}/{backup.key}"
    if backup.seal == SealState.INVALID:
        raise CorruptBackup(
            f"{where}: its seal is not the stack's (changed, or sealed with another key); "
            "the database was not touched"
        )
    if backup.seal == SealState.UNCHECKED:
        raise UsageError(
            "restore checks the backup's seal: give the stack's seal key (--outputs or --seal-key-file)"
        )
    if backup.seal == SealState.MISSING:
        if not unsealed:
            raise CorruptBackup(
                f"{where} has no seal (the backup was interrupted before it, or made by an earlier version "
                "of this tool): it cannot be authenticated; the database was not touched. Pass --unsealed to "
                "trust the SHA-256 in its metadata, which anyone who can write the bucket could have set"
            )
        if not backup.sha256:
            raise CorruptBackup(f"{where} has no seal and records no SHA-256: it cannot be verified")
        return
    others = _written_again(s3, bucket, backup)
    if others:
        raise CorruptBackup(
            f"{where} was written again after it was sealed (versions {', '.join(others)} besides the sealed "
            f"{backup.version_id}): refused, the database was not touched; find out who wrote it"
        )


def download_verified(
    s3,
    bucket: str,
    backup: Backup,
    directory: Path,
    progress: Progress,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    concurrency: int = RESTORE_CONCURRENCY,
) -> Path:
    """The backup's sealed version in a file under ``directory``: one stream, or ranges fetched
    ``concurrency`` at once, written and hashed in order; its size and SHA-256 checked, the file
    deleted on mismatch."""
    if not backup.sha256:
        raise CorruptBackup(f"s3://{bucket}/{backup.key} records no SHA-256: it cannot be verified")
    version = {"VersionId": backup.version_id} if backup.version_id else {}
    handle, name = tempfile.mkstemp(prefix="restore-", suffix=".dump", dir=directory)
    path = Path(name)

    def fetch(first: int) -> bytes:
        last = min(first + part_size, backup.size) - 1
        answer = s3.get_object(Bucket=bucket, Key=backup.key, Range=f"bytes={first}-{last}", **version)
        return answer["Body"].read()

    def ranges(pool: ThreadPoolExecutor) -> Iterator[bytes]:
        """``part_size`` ranges, ``concurrency`` in flight, in order."""
        running: deque[Future[bytes]] = deque()
        starts = iter(range(0, backup.size, part_size))
        for first in starts:
            running.append(pool.submit(fetch, first))
            if len(running) >= concurrency:
                break
        while running:
            chunk = running.popleft().result()
            following = next(starts, None)
            if following is not None:
                running.append(pool.submit(fetch, following))
            yield chunk

    try:
        digest = hashlib.sha256()
        written = 0
        with open(handle, "wb") as out, ThreadPoolExecutor(concurrency, thread_name_prefix="range") as pool:
            chunks = (
                s3.get_object(Bucket=bucket, Key=backup.key, **version)["Body"].iter_chunks(MIB)
                if concurrency == 1
                else ranges(pool)
            )
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
                progress(len(chunk))
        if written != backup.size or digest.hexdigest() != backup.sha256:
            raise CorruptBackup(
                f"s3://{bucket}/{backup.key} is corrupt: {written} bytes with SHA-256 {digest.hexdigest()}, "
                f"its seal says {backup.size} with {backup.sha256}; the database was not touched"
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
    seal_key: bytes | None,
    key: str | None = None,
    source_database: str | None = None,
    force: bool = False,
    create: bool = False,
    unsealed: bool = False,
    workdir: Path | None = None,
    progress: Progress = lambda n: None,
    concurrency: int = RESTORE_CONCURRENCY,
) -> Backup:
    """Restore a backup (``key``, or the newest sealed one of ``source_database``) into ``database``.

    Checks, in this order, before PostgreSQL is touched: the backup exists, its seal is the stack's
    and names its only version, its content matches the seal, and the target is empty (or
    ``force``) and exists (or ``create``). A failed restore commits nothing: pg_restore runs in one
    transaction, and a database it created is dropped again.
    """
    check_database_name(database)
    seal_key = check_seal_key(seal_key) if seal_key is not None else None
    backup = find_backup(s3, bucket, key, check_database_name(source_database or database), seal_key)
    check_restorable(s3, bucket, backup, unsealed=unsealed)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        # The checksum first: a corrupt backup is refused whatever the target holds.
        dump = download_verified(s3, bucket, backup, Path(scratch), progress, concurrency=concurrency)
        state = database_state(database)
        if state is None and not create:
            raise DatabaseError(f"database {database} does not exist: pass --create to create it")
        if state and not force:
            raise DatabaseError(
                f"database {database} is not empty ({state} relations): pass --force to replace its objects"
            )
        if state is None:
            created = psql(database, f'CREATE DATABASE "{database}"', maintenance=True)
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
            dropped = ""
            if state is None:
                gone = psql(database, f'DROP DATABASE IF EXISTS "{database}"', maintenance=True)
                dropped = (
                    " and the database it created was dropped"
                    if gone.returncode == 0
                    else (f"; the database it created could not be dropped: {gone.stderr.strip()}")
                )
            raise DatabaseError(
                f"pg_restore into {database} failed (nothing was committed{dropped}): {done.stderr.strip()}"
            )
    return backup
