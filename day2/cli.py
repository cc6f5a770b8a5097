"""``python -m day2``: back up, list, restore, verify and report on a minio-platform stack.

Exit codes (scripts may rely on them): 0 success; 1 a verify or compliance check failed; 2 bad
usage or input; 3 the endpoint is unreachable or refused the credentials; 4 no such backup;
5 PostgreSQL failed or the restore target is not empty; 6 a backup failed its seal or SHA-256 check;
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
from minio.error import MinioAdminException
from tqdm import tqdm
from urllib3.exceptions import MaxRetryError

from day2 import backups, cluster_config
from day2.buckets import object_lock_enabled
from day2.compliance import compliance_report
from day2.connection import AUDITOR, ROOT, connection_for, read_outputs, refusals_named, storage_error
from day2.drill import drill
from day2.errors import Day2Error, ExitCode, Interrupted, UsageError
from day2.summary import render_summary
from day2.verify import admin_client, verify

BACKUP_ACCOUNT = "backup-service"
CONFIG_ACCOUNT = "config-export"


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
    return _connection_with(args, _outputs(args), default_account)


def _connection_with(args: argparse.Namespace, outputs: dict[str, Any] | None, default_account: str):
    return connection_for(args.account or default_account, outputs, args.endpoint, args.region)


def _seal_key(args: argparse.Namespace, outputs: dict[str, Any] | None) -> bytes | None:
    """The stack's backup seal key: from --seal-key-file, else the outputs' backup_seal_key."""
    if args.seal_key_file is not None:
        try:
            return backups.check_seal_key(args.seal_key_file.read_bytes())
        except OSError as err:
            raise UsageError(f"cannot read the seal key file {args.seal_key_file}: {err.strerror}") from err
    key = (outputs or {}).get("backup_seal_key")
    return backups.check_seal_key(key) if key else None


def _lock(args: argparse.Namespace, outputs: dict[str, Any] | None, s3) -> backups.Lock | None:
    """The lock each backup gets: --lock-mode and --lock-days, else the outputs' for the bucket.
    A locked bucket with neither is refused: a backup there would not be locked."""
    if args.lock_days is not None:
        return backups.Lock(args.lock_mode, args.lock_days)
    configured = (outputs or {}).get("bucket_configuration", {}).get(args.bucket, {}).get("object_lock")
    locked = object_lock_enabled(s3, args.bucket)
    if configured and not locked:
        raise UsageError(
            f"the stack locks s3://{args.bucket}, but the bucket has no object lock: it was made before "
            "the stack locked backups, and S3 adds a lock only to a new bucket (docs/day2.md, "
            "'A backups bucket made before locks')"
        )
    if configured:
        return backups.Lock(configured["mode"], int(configured["days"]))
    if locked:
        raise UsageError(
            f"s3://{args.bucket} has object lock on: give --outputs (bucket_configuration) or --lock-days "
            "and --lock-mode, so the backup is locked like the others"
        )
    return None


def cmd_backup(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    s3 = _connection_with(args, outputs, BACKUP_ACCOUNT).s3()
    seal_key = _seal_key(args, outputs)
    if seal_key is None:
        raise UsageError("backup seals what it writes: give --outputs (backup_seal_key) or --seal-key-file")
    lock = _lock(args, outputs, s3)
    with _progress(f"backup {args.database}") as progress:
        result = backups.backup_postgres(
            s3,
            args.bucket,
            args.database,
            seal_key=seal_key,
            lock=lock,
            part_size=args.part_size * backups.MIB,
            concurrency=args.concurrency,
            progress=progress,
            compress=args.compress,
            started=lambda key: print(
                f"backup: streaming {args.database} to s3://{args.bucket}/{key}", file=sys.stderr, flush=True
            ),
        )
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
    else:
        print(f"backed up {args.database} to s3://{result.bucket}/{result.key} (sealed)")
        locked = f", locked until {result.locked_until}" if result.locked_until else ""
        print(f"{_size(result.size)}, sha256 {result.sha256}, {result.pg_dump_version}{locked}")
    return ExitCode.OK


def cmd_list(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    s3 = _connection_with(args, outputs, BACKUP_ACCOUNT).s3()
    found = backups.list_backups(s3, args.bucket, args.database, _seal_key(args, outputs))
    left = backups.leftovers(s3, args.bucket, args.database, found)
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
        _print_leftovers(left)
        return ExitCode.OK
    rows = [
        [
            b.key,
            _size(b.size),
            _age(b.age(now)),
            b.seal,
            b.sha256[:16] if b.sha256 else "-",
            (f"{b.expires:%Y-%m-%d}" + (" (soon)" if b.expires <= soon else "")) if b.expires else "never",
        ]
        for b in found
    ]
    print(_table(["BACKUP", "SIZE", "AGE", "SEAL", "SHA-256", "EXPIRES"], rows))
    _print_leftovers(left)
    return ExitCode.OK


def _print_leftovers(left: backups.Leftovers) -> None:
    if left.unsealed:
        print(
            f"{left.unsealed} backup(s) without a seal: interrupted after the upload, or made before seals; "
            "restore refuses them (--unsealed trusts their metadata), the bucket's lifecycle expires them"
        )
    if left.unfinished_uploads:
        print(
            f"{left.unfinished_uploads} unfinished upload(s): backups running now, or interrupted "
            "(MinIO removes those after 24 h)"
        )


def cmd_restore(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    s3 = _connection_with(args, outputs, BACKUP_ACCOUNT).s3()
    with _progress(f"restore {args.database}") as progress:
        backup = backups.restore_postgres(
            s3,
            args.bucket,
            args.database,
            seal_key=_seal_key(args, outputs),
            key=args.backup,
            source_database=args.from_database,
            force=args.force,
            create=args.create,
            unsealed=args.unsealed,
            workdir=args.workdir,
            progress=progress,
            concurrency=args.concurrency,
        )
    how = (
        "seal and sha256"
        if backup.seal == backups.SealState.VERIFIED
        else "sha256 from its metadata, unsealed"
    )
    print(f"restored s3://{args.bucket}/{backup.key} into {args.database} ({how} {backup.sha256} verified)")
    return ExitCode.OK


def cmd_drill(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    s3 = _connection_with(args, outputs, BACKUP_ACCOUNT).s3()
    result = drill(s3, args.bucket, args.database, seal_key=_seal_key(args, outputs), workdir=args.workdir)
    if args.json:
        print(
            json.dumps(
                {
                    "database": result.database,
                    "backup": result.backup,
                    "seconds_to_restore": round(result.seconds_to_restore, 3),
                    "ok": result.ok,
                    "tables": [dataclasses.asdict(t) for t in result.tables],
                },
                indent=2,
            )
        )
    else:
        print(f"drill: restored s3://{args.bucket}/{result.backup} in {result.seconds_to_restore:.1f} s")
        rows = [
            [t.table, t.source, "missing" if t.restored is None else t.restored, "FAIL" if t.fails else "ok"]
            for t in result.tables
        ]
        print(_table(["TABLE", "SOURCE ROWS", "RESTORED ROWS", ""], rows))
        if result.differences and result.ok:
            print("rows differ where the source changed after the backup; no table is missing or emptied")
    if not result.ok:
        print(
            f"drill: the restore of {args.database} is missing tables or rows"
            if result.tables
            else f"drill: {args.database} has no table to compare",
            file=sys.stderr,
        )
        return ExitCode.CHECKS_FAILED
    return ExitCode.OK


def _read_configuration(connection) -> dict[str, Any]:
    with refusals_named(connection):
        return cluster_config.read_configuration(admin_client(connection), connection.s3())


def cmd_export_config(args: argparse.Namespace) -> int:
    outputs = _outputs(args)
    connection = _connection_with(args, outputs, CONFIG_ACCOUNT)
    document = _read_configuration(connection)
    if args.to is not None:
        text = json.dumps(document, indent=2)
        try:
            args.to.write_text(text + "\n")
        except OSError as err:
            raise UsageError(f"cannot write {args.to}: {err.strerror}") from err
        counts = {section: len(document[section]) for section in cluster_config.SECTIONS}
        print(json.dumps({"file": str(args.to), "counts": counts}) if args.json else f"exported to {args.to}")
        return ExitCode.OK
    s3 = connection.s3()
    with refusals_named(connection):
        export = cluster_config.write_export(s3, args.bucket, document, _lock(args, outputs, s3))
    if args.json:
        print(json.dumps(dataclasses.asdict(export)))
    else:
        counts = ", ".join(f"{n} {section.replace('_', ' ')}" for section, n in export.counts.items())
        locked = f", locked until {export.locked_until}" if export.locked_until else ""
        print(f"exported the configuration to s3://{export.bucket}/{export.key} ({counts}{locked})")
    return ExitCode.OK


def cmd_import_config(args: argparse.Namespace) -> int:
    if not args.dry_run:
        raise UsageError(
            "import-config compares only (--dry-run): what the stack configures is applied by `pulumi up`, "
            "and an export holds no secret key to recreate a user or service account with; apply the rest "
            "of what the dry run lists with mc admin"
        )
    outputs = _outputs(args)
    connection = _connection_with(args, outputs, CONFIG_ACCOUNT)
    if args.source is not None:
        try:
            text = Path(args.source).read_text()
        except OSError as err:
            raise UsageError(f"cannot read {args.source}: {err.strerror}") from err
        where, exported = args.source, cluster_config.parse_export(text, args.source)
    else:
        with refusals_named(connection):
            key, exported = cluster_config.read_export(connection.s3(), args.bucket, args.key)
        where = f"s3://{args.bucket}/{key}"
    found = cluster_config.differences(exported, _read_configuration(connection))
    if args.json:
        print(json.dumps({"export": where, "differences": [
            {"action": d.action, "kind": d.kind, "name": d.name, "fields": list(d.fields)} for d in found
        ]}, indent=2))  # fmt: skip
        return ExitCode.OK
    if not found:
        print(f"import-config: the cluster matches {where}; nothing would change")
        return ExitCode.OK
    print(f"import-config --dry-run: applying {where} would")
    what = {"add": "add", "change": "change", "extra": "leave (on the cluster only)"}
    print(_table(
        ["", "KIND", "NAME", "DETAIL"],
        [[{"add": "+", "change": "~", "extra": "="}[d.action], d.kind, d.name,
          ", ".join(d.fields) if d.fields else what[d.action]] for d in found],
    ))  # fmt: skip
    secretless = [d.name for d in found if d.action == "add" and d.section in ("users", "service_accounts")]
    if secretless:
        print(f"an export holds no secret: {', '.join(secretless)} would need a new secret key")
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace) -> int:
    from day2.service import serve  # the scheduler and metrics libraries: only the service needs them

    serve(args.config)
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


def _concurrency(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise argparse.ArgumentTypeError(f"{value} is outside 1 to 16")
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
            f"only); default: {BACKUP_ACCOUNT} for backups, {CONFIG_ACCOUNT} for export-config and "
            f"import-config, {AUDITOR} for verify and compliance; without "
            "--outputs, MINIO_ACCESS_KEY and MINIO_SECRET_KEY are used",
        )
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    def bucket(sub: argparse.ArgumentParser, concurrency: int | None = None, sealed: bool = True) -> None:
        sub.add_argument(
            "--bucket", default=backups.DEFAULT_BUCKET, help="backup bucket (default: %(default)s)"
        )
        if not sealed:
            return
        sub.add_argument(
            "--seal-key-file",
            type=Path,
            metavar="FILE",
            help="the stack's backup seal key (default: the outputs' backup_seal_key)",
        )
        if concurrency is not None:
            sub.add_argument(
                "--concurrency",
                type=_concurrency,
                default=concurrency,
                metavar="N",
                help="parts (ranges) in flight, 1 to 16 (default: %(default)s); memory use follows it",
            )

    sub = command("backup", cmd_backup, "Stream pg_dump (custom format) into the cluster and seal it.")
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
    sub.add_argument(
        "--lock-days",
        type=int,
        metavar="DAYS",
        help="lock the backup this long (default: the bucket's objectLock from --outputs)",
    )
    sub.add_argument(
        "--lock-mode", choices=("GOVERNANCE", "COMPLIANCE"), default="COMPLIANCE", help="with --lock-days"
    )
    bucket(sub, concurrency=backups.DEFAULT_CONCURRENCY)

    sub = command("list", cmd_list, "List backups, newest first, with size, age, seal, checksum and expiry.")
    sub.add_argument("--database", help="only this database's backups")
    sub.add_argument(
        "--expiring-within", type=int, default=7, metavar="DAYS", help="flag expiries this close"
    )
    bucket(sub)

    sub = command(
        "restore",
        cmd_restore,
        "Restore a backup after checking its seal and SHA-256; refuses a non-empty target.",
    )
    sub.add_argument("--database", required=True, help="target database")
    sub.add_argument("--backup", metavar="KEY", help="object key of the backup (default: the newest)")
    sub.add_argument("--from-database", help="whose newest backup to take (default: the target's name)")
    sub.add_argument("--force", action="store_true", help="replace the objects of a non-empty target")
    sub.add_argument("--create", action="store_true", help="create the target database if it does not exist")
    sub.add_argument("--workdir", type=Path, help="where the downloaded dump is kept while it is checked")
    sub.add_argument(
        "--unsealed",
        action="store_true",
        help="restore a backup without a seal (made before seals) against the SHA-256 in its metadata",
    )
    bucket(sub, concurrency=backups.RESTORE_CONCURRENCY)

    sub = command(
        "drill",
        cmd_drill,
        "Restore the newest backup into a scratch database, compare it with the source, drop it, time it.",
    )
    sub.add_argument("--database", required=True, help="whose newest backup to restore (and compare with)")
    sub.add_argument("--workdir", type=Path, help="where the downloaded dump is kept while it is checked")
    bucket(sub)

    command(
        "verify", cmd_verify, "Check a live deployment against its stack outputs; non-zero on any failure."
    )
    command("compliance", cmd_compliance, "Per-bucket retention, versioning, encryption, and audit targets.")

    sub = command(
        "export-config",
        cmd_export_config,
        "Export policies, users, groups, service accounts (no secrets) and bucket settings to the bucket.",
    )
    sub.add_argument("--to", type=Path, metavar="FILE", help="write the export to this file instead")
    sub.add_argument("--lock-days", type=int, metavar="DAYS", help="lock the export this long (as backup)")
    sub.add_argument(
        "--lock-mode", choices=("GOVERNANCE", "COMPLIANCE"), default="COMPLIANCE", help="with --lock-days"
    )
    bucket(sub, sealed=False)

    sub = command(
        "import-config",
        cmd_import_config,
        "Compare a configuration export with the cluster: what applying it would add and change.",
    )
    sub.add_argument("--dry-run", action="store_true", help="show the differences (the only mode)")
    chosen = sub.add_mutually_exclusive_group()
    chosen.add_argument("--key", help="the export's key in the bucket (default: the newest)")
    chosen.add_argument(
        "--from", dest="source", metavar="FILE", help="an export in a file (export-config --to)"
    )
    bucket(sub, sealed=False)

    help_ = "Run the stack's backup service: its schedules' backups and drills, and their metrics."
    sub = commands.add_parser("serve", help=help_, description=help_)
    sub.set_defaults(run=cmd_serve)
    sub.add_argument("--config", type=Path, required=True, metavar="FILE", help="the service's JSON config")

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
    except (ClientError, BotoCoreError, MaxRetryError, MinioAdminException) as err:
        converted = storage_error(err)
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
