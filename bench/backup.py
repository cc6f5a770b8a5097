"""Backup and restore of one PostgreSQL database: `python -m day2 backup/restore` against
`pg_dump -Fc | mc pipe` and `mc cat | pg_restore`, through the rendered gateway."""

from __future__ import annotations

import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

from bench.memory import PeakRss
from bench.report import Figure, Row, interleaved
from day2.backups import DEFAULT_BUCKET, download_verified, find_backup, seal_key_of
from tests.servers import Postgres

MB = 1_000_000
RESTORE_FLAGS = ["--no-password", "--no-owner", "--exit-on-error", "--single-transaction"]
"""pg_restore's flags in the day-2 tool (day2/backups.py), given to the alternative too."""


def fill(postgres: Postgres, database: str, rows: int) -> int:
    """``rows`` rows of 1 KiB of hex text each (1.2 GB at 1 000 000); the database's size in bytes."""
    postgres.psql("postgres", f"CREATE DATABASE {database}")
    postgres.psql(
        database,
        "CREATE TABLE filler (id int PRIMARY KEY, body text);"
        # 32 different MD5s per row: text pg_dump's compression halves at best, as real data.
        "INSERT INTO filler SELECT i, (SELECT string_agg(md5((i * 32 + j)::text), '') "
        f"FROM generate_series(0, 31) j) FROM generate_series(1, {rows}) i;",
    )
    return int(postgres.psql(database, f"SELECT pg_database_size('{database}')"))


def run(
    postgres: Postgres, endpoint: str, access_key: str, secret_key: str, mc: str, rounds: int, quick: bool
) -> list[Row]:
    rows_in_table = 20_000 if quick else 1_000_000
    size = fill(postgres, "bench", rows_in_table)
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    # As the stack makes it: versioned, with object lock; the tool locks each backup (GOVERNANCE
    # here, so the bench can remove its rounds as root).
    if DEFAULT_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=DEFAULT_BUCKET, ObjectLockEnabledForBucket=True)
    seal_dir = tempfile.TemporaryDirectory(prefix="bench-seal-")
    seal_file = Path(seal_dir.name) / "seal.key"
    seal_file.write_text(secrets.token_hex(32))
    tool_env = {**postgres.env, "MINIO_ACCESS_KEY": access_key, "MINIO_SECRET_KEY": secret_key}
    mc_env = {**postgres.env, "MC_HOST_bench": endpoint.replace("://", f"://{access_key}:{secret_key}@", 1)}
    keys: dict[str, str] = {}

    def remove(key: str) -> None:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=DEFAULT_BUCKET, Prefix=key):
            for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
                s3.delete_object(Bucket=DEFAULT_BUCKET, Key=item["Key"], VersionId=item["VersionId"],
                                 BypassGovernanceRetention=True)  # fmt: skip

    def replace_key(side: str, key: str) -> None:
        """Keep only each side's latest dump (the restores read it): rounds of 1 GB dumps would
        otherwise fill the drives up to MinIO's free-space threshold."""
        if side in keys:
            remove(keys[side])
            remove(seal_key_of(keys[side]))
        keys[side] = key

    def day2(*args: str) -> tuple[float, int, str]:
        """``python -m day2 <args>`` through the gateway: its wall time, peak RSS and output."""
        began = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "day2", *args, "--endpoint", endpoint], env=tool_env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        watch = PeakRss(process.pid)
        out, err = process.communicate(timeout=3600)
        seconds = time.monotonic() - began
        if process.returncode != 0:
            raise RuntimeError(f"day2 {args[0]} failed: {err.strip()[-500:]}")
        return seconds, watch.result(), out

    def tool_backup(number: int) -> dict[str, float]:
        seconds, peak, out = day2("backup", "--database", "bench", "--json", *SEALED, *LOCKED)
        result = json.loads(out)
        replace_key("ours", result["key"])
        return {"mbs": result["size"] / MB / seconds, "rss": peak / MB, "bytes": result["size"]}

    def pipe_backup(number: int) -> dict[str, float]:
        key = f"alternative/bench-{number}.dump"
        began = time.monotonic()
        dump = subprocess.Popen(
            ["pg_dump", "-Fc", "--dbname=bench"], env=postgres.env, stdout=subprocess.PIPE
        )
        upload = subprocess.Popen(
            [mc, "pipe", "--quiet", f"bench/{DEFAULT_BUCKET}/{key}"],
            env=mc_env,
            stdin=dump.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        dump.stdout.close()  # mc holds the pipe: pg_dump sees it close if mc dies
        watch = PeakRss(upload.pid)
        _, err = upload.communicate(timeout=3600)
        dump.wait(timeout=60)
        seconds = time.monotonic() - began
        if dump.returncode or upload.returncode:
            raise RuntimeError(f"pg_dump | mc pipe failed ({dump.returncode}, {upload.returncode}): {err!r}")
        length = s3.head_object(Bucket=DEFAULT_BUCKET, Key=key)["ContentLength"]
        replace_key("theirs", key)
        return {"mbs": length / MB / seconds, "rss": watch.result() / MB, "bytes": length}

    SEALED = ("--seal-key-file", str(seal_file))
    LOCKED = ("--lock-days", "1", "--lock-mode", "GOVERNANCE")
    backups = interleaved(rounds, {"ours": tool_backup, "theirs": pipe_backup})

    def fresh(database: str) -> None:
        postgres.psql("postgres", f"DROP DATABASE IF EXISTS {database}")

    def check(database: str) -> None:
        count = int(postgres.psql(database, "SELECT count(*) FROM filler"))
        if count != rows_in_table:
            raise RuntimeError(f"{database} holds {count} rows after the restore, expected {rows_in_table}")

    def tool_restore(number: int) -> dict[str, float]:
        fresh("restored_ours")
        seconds, peak, _ = day2(
            "restore", "--database", "restored_ours", "--backup", keys["ours"], "--create", *SEALED
        )
        check("restored_ours")
        return {"mbs": backups["ours"]["bytes"][-1] / MB / seconds, "rss": peak / MB}

    def pipe_restore(number: int) -> dict[str, float]:
        fresh("restored_theirs")
        began = time.monotonic()
        postgres.psql("postgres", "CREATE DATABASE restored_theirs")
        download = subprocess.Popen(
            [mc, "cat", f"bench/{DEFAULT_BUCKET}/{keys['theirs']}"],
            env=mc_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        restore = subprocess.Popen(
            ["pg_restore", *RESTORE_FLAGS, "--dbname=restored_theirs"],
            env=postgres.env,
            stdin=download.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        download.stdout.close()
        watch = PeakRss(download.pid)
        _, err = restore.communicate(timeout=3600)
        download.wait(timeout=60)
        seconds = time.monotonic() - began
        if download.returncode or restore.returncode:
            raise RuntimeError(
                f"mc cat | pg_restore failed ({download.returncode}, {restore.returncode}): {err!r}"
            )
        check("restored_theirs")
        return {"mbs": backups["theirs"]["bytes"][-1] / MB / seconds, "rss": watch.result() / MB}

    restores = interleaved(rounds, {"ours": tool_restore, "theirs": pipe_restore})
    # The tool's restore checks the SHA-256 of the whole dump before pg_restore may start: the same
    # download and check alone, timed, is the part the streaming alternative does not wait for.
    checks = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as scratch:
            began = time.monotonic()
            backup = find_backup(s3, DEFAULT_BUCKET, keys["ours"], "bench", seal_file.read_bytes())
            download_verified(s3, DEFAULT_BUCKET, backup, Path(scratch), lambda _message: None)
            checks.append(time.monotonic() - began)
    for database in ("restored_ours", "restored_theirs", "bench"):
        fresh(database)
    for side in list(keys):
        replace_key(side, "")
    seal_dir.cleanup()

    dump_mb = backups["ours"]["bytes"][-1] / MB
    conditions = (
        f"database of {size / MB:.0f} MB ({rows_in_table} rows), dump {dump_mb:.0f} MB (pg_dump -Fc, its "
        "default compression), through the rendered gateway"
    )
    return [
        Row("backup", "backup throughput", Figure(backups["ours"]["mbs"], "MB/s"),
            Figure(backups["theirs"]["mbs"], "MB/s"), "pg_dump -Fc | mc pipe",
            conditions + "; the tool: parts of 16 MiB, 2 in flight, each with its SHA-256, straight to the "
            "final key (completed if none is there), then its seal; both locked (versioned bucket)"),
        Row("backup", "backup peak RSS (the tool's own)", Figure(backups["ours"]["rss"], "MB"),
            Figure(backups["theirs"]["rss"], "MB"), "mc pipe", conditions, higher_is_better=False),
        Row("backup", "restore throughput", Figure(restores["ours"]["mbs"], "MB/s"),
            Figure(restores["theirs"]["mbs"], "MB/s"), "mc cat | pg_restore",
            conditions + "; the tool checks the seal, downloads the sealed version in one stream, checks "
            f"the SHA-256, then pg_restore starts (that part alone: {statistics.median(checks):.1f} s)"),
        Row("backup", "restore peak RSS (the tool's own)", Figure(restores["ours"]["rss"], "MB"),
            Figure(restores["theirs"]["rss"], "MB"), "mc cat", conditions, higher_is_better=False),
    ]  # fmt: skip
