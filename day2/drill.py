"""A restore drill: prove the newest backup of a database restores, and how long it takes.

The newest sealed backup of the database is restored, with every check a restore makes, into a
scratch database on the same server (``drill_<database>_<random>``, created and always dropped
again); its tables and their row counts are compared with the source's; the time from the start
of the restore to its end is the restore time the drill measures (the seed's RTO).

The source keeps changing after its backup, so row counts may differ: the drill reports each
difference and fails only when a table of the source is missing from the restore, or restored
empty while the source has rows. A failed restore fails the drill.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from day2.backups import check_database_name, psql, restore_postgres
from day2.errors import DatabaseError

_COUNTS = """
SELECT format('%I.%I', n.nspname, c.relname),
       (xpath('/row/c/text()', query_to_xml(
           format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1
"""
"""Every user table of a database with its exact row count, in one statement."""


def table_counts(database: str) -> dict[str, int]:
    """Each user table of ``database`` (``schema.table``) and how many rows it holds now."""
    done = psql(check_database_name(database), _COUNTS)
    if done.returncode != 0:
        raise DatabaseError(f"cannot count the rows of {database}: {done.stderr.strip()}")
    rows = (line.rsplit("|", 1) for line in done.stdout.splitlines() if line)
    return {table: int(count) for table, count in rows}


@dataclass(frozen=True)
class TableCheck:
    table: str
    source: int
    restored: int | None
    """None: the table is not in the restore."""

    @property
    def fails(self) -> bool:
        return self.restored is None or (self.restored == 0 and self.source > 0)


@dataclass(frozen=True)
class DrillResult:
    database: str
    backup: str
    """The key of the backup restored."""
    scratch: str
    seconds_to_restore: float
    tables: tuple[TableCheck, ...]

    @property
    def ok(self) -> bool:
        return bool(self.tables) and not any(t.fails for t in self.tables)

    @property
    def differences(self) -> tuple[TableCheck, ...]:
        return tuple(t for t in self.tables if t.restored != t.source)


def scratch_name(database: str) -> str:
    """A database name of 63 characters at most that no one else uses."""
    return f"drill_{database[:44]}_{secrets.token_hex(4)}"


def drill(
    s3, bucket: str, database: str, *, seal_key: bytes | None, workdir: Path | None = None
) -> DrillResult:
    """Restore the newest sealed backup of ``database`` into a scratch database, compare, drop it."""
    check_database_name(database)
    scratch = scratch_name(database)
    began = time.monotonic()
    try:
        backup = restore_postgres(
            s3, bucket, scratch, seal_key=seal_key, source_database=database, create=True, workdir=workdir
        )
        seconds = time.monotonic() - began
        restored = table_counts(scratch)
    finally:
        dropped = psql(scratch, f'DROP DATABASE IF EXISTS "{scratch}"', maintenance=True)
    if dropped.returncode != 0:
        raise DatabaseError(
            f"the drill could not drop its scratch database {scratch}: {dropped.stderr.strip()}"
        )
    source = table_counts(database)
    tables = tuple(TableCheck(table, count, restored.get(table)) for table, count in sorted(source.items()))
    return DrillResult(database, backup.key, scratch, seconds, tables)
