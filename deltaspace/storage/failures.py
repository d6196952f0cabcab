"""Database failures as one line each: what failed, the driver's reason, and the likely cause.

A file that is not a database, an unreachable server, a full disk or a read-only file are
expected in use, not bugs, so :func:`opening` (around opening a Storage) and
:class:`Transactions` (around every read and write) turn SQLAlchemy's OperationalError and
DatabaseError into StorageError. Integrity, programming and data errors pass through: a taken
study name is handled by its caller, and the others are deltaspace bugs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError, DataError, IntegrityError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from deltaspace.storage.engine import EXPECTED, sqlite_file
from deltaspace.storage.errors import ReadOnlyStorageError, StorageError

_NOT_OURS = (IntegrityError, ProgrammingError, DataError)
READ_ONLY_HINT = (
    "reading commands (status, studies, report, export) work on it; writing needs write access "
    "to the file and its folder"
)


def reason(err: DatabaseError) -> str:
    """The driver's own message, first line only (SQLAlchemy appends SQL and a link to it)."""
    lines = str(err.orig).strip().splitlines() or [type(err.orig).__name__]
    return lines[0].removeprefix("connection failed: ").strip()


def _sqlite_code(err: DatabaseError) -> str:
    return getattr(err.orig, "sqlite_errorname", "") or ""


def _read_only(err: DatabaseError) -> bool:
    return _sqlite_code(err).startswith("SQLITE_READONLY") or getattr(err.orig, "sqlstate", None) == "25006"


def _hint(err: DatabaseError) -> str:
    code, sqlstate = _sqlite_code(err), getattr(err.orig, "sqlstate", None)
    if code == "SQLITE_FULL" or code.startswith("SQLITE_IOERR") or sqlstate == "53100":
        return " (disk full?)"
    if _read_only(err):
        return " (the database is read-only)"
    if code.startswith("SQLITE_BUSY"):
        return " (another process holds the database lock)"
    if err.connection_invalidated:
        return " (lost the connection to the database server?)"
    return ""


def open_failure(err: DatabaseError, url: str) -> StorageError:
    """The error for a database that could not be opened at ``url``."""
    target = make_url(url)
    shown = target.render_as_string(hide_password=True)
    why, code = reason(err), _sqlite_code(err)
    if target.get_backend_name() != "postgresql":
        path = sqlite_file(target)
        if code == "SQLITE_NOTADB":
            return StorageError(f"--storage {shown!r}: {path} is not a SQLite database ({why}); {EXPECTED}")
        if _read_only(err):
            return ReadOnlyStorageError(f"the database {path} is read-only: {READ_ONLY_HINT}")
        if code == "SQLITE_CANTOPEN":
            return StorageError(
                f"--storage {shown!r}: cannot open or create {path} ({why}); is its folder writable?"
            )
        return StorageError(f"--storage {shown!r}: cannot open {path}{_hint(err)}: {why}")
    host, port = target.host or target.query.get("host"), target.port or 5432
    if f'database "{target.database}" does not exist' in why:
        return StorageError(
            f"--storage {shown!r}: the PostgreSQL server at {host}:{port} has no database {target.database!r}; "
            f"create it (createdb -h {host} -p {port} {target.database}) or fix the name"
        )
    return StorageError(
        f"--storage {shown!r}: cannot connect to the PostgreSQL server at {host}:{port} ({why}); "
        "is it running, reachable and accepting this user?"
    )


@contextmanager
def opening(url: str) -> Iterator[None]:
    """Raise StorageError (one line) when opening the database at ``url`` fails in the driver."""
    try:
        yield
    except _NOT_OURS:
        raise
    except DatabaseError as err:
        raise open_failure(err, url) from err


class Transactions:
    """Begins read or write transactions (``with t.begin() as session``), like a sessionmaker,
    and reports a failing database as one StorageError line instead of a driver traceback."""

    def __init__(self, maker: sessionmaker[Session], url: str, *, write: bool, allowed: bool = True) -> None:
        self._maker, self._url, self._write, self._allowed = maker, url, write, allowed

    @contextmanager
    def begin(self) -> Iterator[Session]:
        if not self._allowed:
            shown = make_url(self._url).render_as_string(hide_password=True)
            raise ReadOnlyStorageError(
                f"the database {shown} is open read-only here; this command cannot change it"
            )
        try:
            with self._maker.begin() as session:
                yield session
        except _NOT_OURS:
            raise
        except DatabaseError as err:
            raise failure(err, self._url, write=self._write) from err


def failure(err: DatabaseError, url: str, *, write: bool = True) -> StorageError:
    """The error for a read or write that failed in the database at ``url`` (Optuna's writes too)."""
    shown = make_url(url).render_as_string(hide_password=True)
    kind = ReadOnlyStorageError if _read_only(err) else StorageError
    what = "write" if write else "read"
    return kind(f"database {what} failed{_hint(err)}: {reason(err)} (--storage {shown})")
