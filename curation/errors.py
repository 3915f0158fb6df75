"""Errors meant for users: each message says what went wrong and what to do next."""

from __future__ import annotations

import errno
import sys


class CurateError(Exception):
    """An error a user can act on. The CLI prints it without a traceback and exits 1."""


class WorkspaceNotFound(CurateError):
    pass


class DatabaseUnreachable(CurateError):
    pass


class StageLocked(CurateError):
    """Another process runs the same stage on the same workspace."""


_DISK = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
         errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
         errno.EPERM: "permission denied"}


def first_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of a message, shortened: a user reads one line."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


def user_message(exc: BaseException) -> str | None:
    """A one-line message for an error a user can fix (disk, database, encoding), else None.

    Used by the CLI's root group, so a full disk, a killed database server or a damaged SQLite file
    ends a command with one line and exit 1 instead of a traceback.
    """
    if isinstance(exc, CurateError):
        return first_line(exc, 2000)
    if isinstance(exc, OSError) and exc.errno in _DISK:
        where = f" ({exc.filename})" if exc.filename else ""
        return (f"{_DISK[exc.errno]}{where}: free space, or choose a folder you can write to, then run the "
                "command again (finished work is kept)")
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({first_line(exc)}); fix or replace it and run the command again"
    return _database_message(exc)


def _database_message(exc: BaseException) -> str | None:
    sa_exc = sys.modules.get("sqlalchemy.exc")  # not loaded: no SQLAlchemy error can exist (models never loads it)
    DatabaseError = getattr(sa_exc, "DatabaseError", ())
    OperationalError = getattr(sa_exc, "OperationalError", ())
    if not isinstance(exc, DatabaseError) and not _driver_error(exc):
        return None
    reason = first_line(getattr(exc, "orig", None) or exc, 200)
    low = reason.lower()
    if "malformed" in low or "not a database" in low or "file is encrypted" in low:
        return (f"the database file is damaged ({reason}). Restore curate.sqlite from a backup; "
                "`sqlite3 curate.sqlite .recover` may save its rows")
    if "locked" in low:
        return f"the database is busy ({reason}); wait for the other curate command to finish and run this again"
    if isinstance(exc, OperationalError) or type(exc).__name__ == "OperationalError":
        return (f"lost the database connection ({reason}). Check that the database server is running, then run "
                "the command again: committed batches are kept and the stage resumes")
    return f"database error: {reason}"


def _driver_error(exc: BaseException) -> bool:
    """A database driver's own error that escaped SQLAlchemy's wrapping (sqlite3, psycopg)."""
    return type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg", "psycopg2") and \
        type(exc).__name__ in ("OperationalError", "DatabaseError", "InterfaceError")
