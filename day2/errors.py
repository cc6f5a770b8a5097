"""The errors the day-2 tools report, each with the exit code scripts can rely on (README "Day-2 tools")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECKS_FAILED = 1
    """verify or compliance found a problem (each is named in the output)."""
    USAGE = 2
    STORAGE = 3
    """The endpoint is unreachable or refused the credentials."""
    NOT_FOUND = 4
    """No such backup (or no backup at all)."""
    DATABASE = 5
    """pg_dump, pg_restore or psql failed, or the target database is not empty."""
    CORRUPT = 6
    """A backup's content does not match its recorded SHA-256, or it has none."""
    INTERRUPTED = 130


class Day2Error(Exception):
    exit_code = ExitCode.CHECKS_FAILED


class UsageError(Day2Error):
    exit_code = ExitCode.USAGE


class StorageError(Day2Error):
    exit_code = ExitCode.STORAGE


class BackupNotFound(Day2Error):
    exit_code = ExitCode.NOT_FOUND


class DatabaseError(Day2Error):
    exit_code = ExitCode.DATABASE


class CorruptBackup(Day2Error):
    exit_code = ExitCode.CORRUPT


class Interrupted(BaseException):
    """SIGINT or SIGTERM: raised where the tool is, so every cleanup runs.

    A BaseException, like KeyboardInterrupt: libraries that retry on any Exception (botocore
    does, around each HTTP request) must not swallow it.
    """

    exit_code = ExitCode.INTERRUPTED
