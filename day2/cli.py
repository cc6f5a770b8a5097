"""``python -m day2``: back up, list, restore, verify and report on a minio-platform stack.

Exit codes (scripts may rely on them): 0 success; 1 a verify or compliance check failed; 2 bad
usage or input; 3 the endpoint is unreachable or refused the credentials; 4 no such backup;
5 PostgreSQL failed or the restore target is not empty; 6 a backup failed its SHA-256 check;
130 interrupted (SIGINT or SIGTERM), after cleaning up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from day2 import backups
from day2.compliance import compliance_report
from day2.connection import AUDITOR, ROOT, connection_for, read_outputs, refusals_named, storage_error
from day2.errors import Day2Error, ExitCode, Interrupted, UsageError
from day2.summary import render_summary
from day2.verify import verify

BACKUP_ACCOUNT = "backup-service"


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


@contextmanager
def _progress(description: str, total: int | None = None):
    """A byte progress bar on stderr, shown only on a terminal; yields its update function."""
    with tqdm(
        total=total,
        desc=description,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=None,
        file=sys.stderr,
    ) as bar:
        yield bar.update


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _size(n: float) -> str:
    """Bytes as a person reads them: B, KiB, MiB, then GiB however large."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _outputs(args: argparse.Namespace) -> dict[str, Any] | None:
    return read_outputs(args.outputs) if args.outputs else None


def _connection(args: argparse.Namespace, default_account: str):
    return connection_for(args.account or default_account, _outputs(args), args.endpoint, args.region)


def cmd_backup(args: argparse.Namespace) -> int:
    s3 = _connection(args, BACKUP_ACCOUNT).s3()
    with _progress(f"backup {args.database}") as progress:
        result = backups.backup_postgres(
            s3,
            args.bucket,
            args.database,
            part_size=args.part_size * backups.MIB,
            progress=progress,
            compress=args.compress,
            started=lambda key: print(
                f"backup: streaming {args.database} to s3://{args.bucket}/{key} "
                f"(under {backups.PENDING_PREFIX} until it is complete)",
                file=sys.stderr,
                flush=True,
            ),
        )
    if result.leftover:
        print(
            f"backup: could not delete s3://{result.bucket}/{result.leftover} after the copy; "
            "the bucket's lifecycle expires it",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
    else:
        print(f"backed up {args.database} to s3://{result.bucket}/{result.key}")
        print(f"{_size(result.size)}, sha256 {result.sha256}, {result.pg_dump_version}")
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    s3 = _connection(args, BACKUP_ACCOUNT).s3()
    found = backups.list_backups(s3, args.bucket, args.database)
    left = backups.leftovers(s3, args.bucket, args.database)
    now = datetime.now(UTC)
    soon = now + timedelta(days=args.expiring_within)
    if args.json:
        listing = [
            {
                **dataclasses.asdict(b),
                "last_modified": b.last_modified.isoformat(),
                "expires": b.expires.isoformat() if b.expires else None,
                "age_seconds": int(b.age(now).total_seconds()),
                "expires_soon": bool(b.expires and b.expires <= soon),
            }
            for b in found
        ]
        print(json.dumps({"backups": listing, **dataclasses.asdict(left)}, indent=2))
        return ExitCode.OK
    if not found:
        print(
            f"no backups in s3://{args.bucket}/{backups.PREFIX}/"
            + (f"{args.database}/" if args.database else "")
        )
        _print_leftovers(left, args.bucket)
        return ExitCode.OK
    rows = [
        [
            b.key,
            _size(b.size),
            _age(b.age(now)),
            b.sha256[:16] if b.sha256 else "MISSING (unverifiable)",
            (f"{b.expires:%Y-%m-%d}" + (" (soon)" if b.expires <= soon else "")) if b.expires else "never",
        ]
        for b in found
    ]
    print(_table(["BACKUP", "SIZE", "AGE", "SHA-256", "EXPIRES"], rows))
    _print_leftovers(left, args.bucket)
    return ExitCode.OK


def _print_leftovers(left: backups.Leftovers, bucket: str) -> None:
    if left.pending_objects:
        print(
            f"{left.pending_objects} pending object(s) under s3://{bucket}/{backups.PENDING_PREFIX}: "
            "backups interrupted before their final key (the bucket's lifecycle expires them after a day)"
        )
    if left.unfinished_uploads:
        print(
            f"{left.unfinished_uploads} unfinished upload(s): backups running now, or interrupted "
            "(MinIO removes those after 24 h)"
        )


def cmd_restore(args: argparse.Namespace) -> int:
    s3 = _connection(args, BACKUP_ACCOUNT).s3()
    with _progress(f"restore {args.database}") as progress:
        backup = backups.restore_postgres(
            s3,
            args.bucket,
            args.database,
            key=args.backup,
            source_database=args.from_database,
            force=args.force,
            create=args.create,
            workdir=args.workdir,
            progress=progress,
        )
    print(f"restored s3://{args.bucket}/{backup.key} into {args.database} (sha256 {backup.sha256} verified)")
    return ExitCode.OK


def cmd_summary(args: argparse.Namespace) -> int:
    print(render_summary(read_outputs(args.outputs, require_secrets=False), args.stack), end="")
    return ExitCode.OK


def cmd_verify(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    if outputs is None:
        raise UsageError("verify needs the stack outputs: --outputs FILE, or --outputs - to read stdin")
    checks = verify(outputs, args.endpoint, args.account or AUDITOR)
    failed = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks], indent=2))
    else:
        print(
            _table(
                ["CHECK", "RESULT", "DETAIL"], [[c.name, "ok" if c.ok else "FAIL", c.detail] for c in checks]
            )
        )
    if failed:
        print(f"verify: {len(failed)} check(s) failed: {', '.join(c.name for c in failed)}", file=sys.stderr)
        return ExitCode.CHECKS_FAILED
    return ExitCode.OK


def cmd_compliance(args: argparse.Namespace) -> int:
    connection = _connection(args, AUDITOR)
    with refusals_named(connection):
        report = compliance_report(connection)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_table(
            ["BUCKET", "RETENTION", "NONCURRENT", "VERSIONING", "ENCRYPTION", "OBJECT LOCK"],
            [[b["bucket"], f"{b['retention_days']} d" if b["retention_days"] else "forever",
              f"{b['noncurrent_retention_days']} d" if b["noncurrent_retention_days"] else "-",
              b["versioning"], b["encryption"], b["object_lock"]] for b in report["buckets"]],
        ))  # fmt: skip
        print()
        targets = report["audit_targets"]
        print(_table(
            ["AUDIT TARGET", "STATUS"],
            [[":".join(filter(None, (t["kind"], t["name"]))), t["status"]] for t in targets]
            or [["none", "audit events are not sent anywhere"]],
        ))  # fmt: skip
    unretained = [b["bucket"] for b in report["buckets"] if not b["retention_days"]]
    no_audit = not report["audit_targets"]
    problems = [f"no retention on {', '.join(unretained)}"] * bool(unretained) + [
        "no audit target"
    ] * no_audit
    if problems:
        print(f"compliance: {'; '.join(problems)}", file=sys.stderr)
        return ExitCode.CHECKS_FAILED
    return ExitCode.OK


def _part_size(text: str) -> int:
    value = int(text)
    if not 5 <= value <= 5120:  # S3's bounds for every part but the last
        raise argparse.ArgumentTypeError(f"{value} MiB is outside S3's part sizes (5 to 5120 MiB)")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m day2",
        description="Day-2 tools for a minio-platform stack: PostgreSQL backups, verification, compliance.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(run=run)
        source = sub.add_argument_group("cluster and credentials")
        source.add_argument(
            "--outputs",
            metavar="FILE",
            help="stack outputs (`pulumi stack output --json --show-secrets`); - for stdin",
        )
        source.add_argument("--endpoint", help="S3 endpoint (default: the outputs' s3_endpoint)")
        source.add_argument("--region", help="signing region (default: the outputs' region, else us-east-1)")
        source.add_argument(
            "--account",
            help=f"service account from the outputs, {AUDITOR!r} (platform-auditor) or {ROOT!r} (emergencies "
            f"only); default: {BACKUP_ACCOUNT} for backups, {AUDITOR} for verify and compliance; without "
            "--outputs, MINIO_ACCESS_KEY and MINIO_SECRET_KEY are used",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    def bucket(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--bucket", default=backups.DEFAULT_BUCKET, help="backup bucket (default: %(default)s)"
        )

    sub = command("backup", cmd_backup, "Stream pg_dump (custom format) into the cluster, with its SHA-256.")
    sub.add_argument(
        "--database", required=True, help="database to dump (PGHOST, PGPORT, PGUSER, PGPASSWORD apply)"
    )
    sub.add_argument(
        "--part-size",
        type=_part_size,
        default=16,
        metavar="MIB",
        help="multipart part size, 5 to 5120 (default: 16); memory use follows it",
    )
    sub.add_argument(
        "--compress",
        type=int,
        choices=range(10),
        metavar="0-9",
        help="pg_dump's compression level (its default)",
    )
    bucket(sub)

    sub = command("list", cmd_list, "List backups, newest first, with size, age, checksum and expiry.")
    sub.add_argument("--database", help="only this database's backups")
    sub.add_argument(
        "--expiring-within", type=int, default=7, metavar="DAYS", help="flag expiries this close"
    )
    bucket(sub)

    sub = command(
        "restore", cmd_restore, "Restore a backup after checking its SHA-256; refuses a non-empty target."
    )
    sub.add_argument("--database", required=True, help="target database")
    sub.add_argument("--backup", metavar="KEY", help="object key of the backup (default: the newest)")
    sub.add_argument("--from-database", help="whose newest backup to take (default: the target's name)")
    sub.add_argument("--force", action="store_true", help="replace the objects of a non-empty target")
    sub.add_argument("--create", action="store_true", help="create the target database if it does not exist")
    sub.add_argument("--workdir", type=Path, help="where the downloaded dump is kept while it is checked")
    bucket(sub)

    command(
        "verify", cmd_verify, "Check a live deployment against its stack outputs; non-zero on any failure."
    )
    command("compliance", cmd_compliance, "Per-bucket retention, versioning, encryption, and audit targets.")

    help_ = "What the stack gave you: URLs and how to sign in (never prints a password)."
    sub = commands.add_parser("summary", help=help_, description=help_)
    sub.set_defaults(run=cmd_summary)
    sub.add_argument(
        "--outputs", metavar="FILE", default="-", help="`pulumi stack output --json` (default: stdin)"
    )
    sub.add_argument("--stack", default="dev", help="the stack, for the commands it prints (default: dev)")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return int(args.run(args))
    except (ClientError, BotoCoreError) as err:
        converted = storage_error(err, args.command)
        if isinstance(converted, Day2Error):
            print(f"{args.command}: {converted}", file=sys.stderr)
            return converted.exit_code
        print(f"{args.command}: {err}", file=sys.stderr)
        return ExitCode.STORAGE
    except (Day2Error, Interrupted) as err:
        print(f"{args.command}: {err}", file=sys.stderr)
        return err.exit_code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
