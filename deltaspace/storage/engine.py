"""Engines from user-facing URLs.

``sqlite:///path.db`` (the default) and ``postgresql://user@host/db`` are what users write;
:func:`parse_url` refuses anything else with one line that says what was expected,
:func:`sqlalchemy_url` maps PostgreSQL onto the psycopg 3 driver, and :func:`make_engine` sets up
SQLite for several processes writing at once (WAL, a 30 s busy timeout, and write transactions
that take the database lock when they begin, so a read-then-write never fails half-way).

Reading commands open the database read-only (``read_only=True``): SQLite through a ``mode=ro``
URI and without the WAL pragma, PostgreSQL in read-only transactions, so that ``status`` works on
a database the user may not write. Only writing commands create a missing SQLite file
(``create=True``); a reading command on a missing file says so instead of leaving an empty one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from deltaspace.storage.errors import StorageError

DEFAULT_URL = "sqlite:///deltaspace.db"
EXPECTED = "expected sqlite:///path.db or postgresql://user@host/dbname"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# libpq waits forever for an unreachable server by default; a command should fail within seconds.
POSTGRES_CONNECT_TIMEOUT_S = 5
# Execution option read by the SQLite "begin" hook: "IMMEDIATE" (take the write lock at BEGIN)
# or "DEFERRED" (read-only transactions: a WAL snapshot that never blocks writers).
SQLITE_BEGIN = "deltaspace_sqlite_begin"
# A WAL database opened mode=ro fails with these when SQLite cannot create its -shm file next to
# it (a read-only folder); no process can be writing it then, so it is safe to open immutable.
_NO_SHARED_MEMORY = ("SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT", "SQLITE_CANTOPEN")


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL for a user-facing one, or StorageError naming what is wrong with it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        hint = f" (for a file, write sqlite:///{url})" if url and "://" not in url else ""
        raise StorageError(f"--storage {url!r} is not a database URL{hint}; {EXPECTED}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if not parsed.host and "host" not in parsed.query:
            raise StorageError(f"--storage {shown!r} names no server host; {EXPECTED}")
        if not parsed.database:
            raise StorageError(f"--storage {shown!r} names no database; {EXPECTED}")
    elif backend != "sqlite":
        raise StorageError(
            f"--storage {shown!r}: {backend} is not supported; deltaspace stores results in "
            "SQLite (sqlite:///path.db) or PostgreSQL (postgresql://user@host/dbname)"
        )
    return parsed


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL for a user-facing one: ``postgresql://`` becomes ``postgresql+psycopg://``.

    Pass the result to Optuna's ``RDBStorage`` too, so both share the driver.
    """
    return parse_url(url).render_as_string(hide_password=False)


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory database.

    ``sqlite:///file:runs/ds.db?mode=ro&uri=true`` (a SQLite URI filename) names ``runs/ds.db``.
    """
    name = url.database or ""
    if url.query.get("uri") == "true" and name.startswith("file:"):
        name = unquote(name.removeprefix("file:"))
        if name.startswith("//"):  # file://host/path: only the local host exists for SQLite
            name = "/" + name[2:].partition("/")[2]
        if url.query.get("mode") == "memory":
            return None
    return None if name in ("", ":memory:") else Path(name).expanduser()


def asks_read_only(url: str) -> bool:
    """True for a SQLite URI filename that opens the database ``mode=ro`` or ``immutable=1``."""
    parsed = parse_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.query.get("mode") == "ro" or parsed.query.get("immutable") == "1"
    )


def make_engine(url: str = DEFAULT_URL, *, create: bool = True, read_only: bool = False) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, busy_timeout and locking BEGINs.

    ``create=False`` refuses a SQLite file that does not exist yet instead of creating it (and
    its folders); ``read_only=True`` implies it and never writes. Nothing connects here: the
    first connection reports an unreachable server or a file that is not a database.
    """
    target = parse_url(url)
    if target.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        if read_only:
            connect_args["options"] = "-c default_transaction_read_only=on"
        return create_engine(target, pool_pre_ping=True, connect_args=connect_args)
    read_only = read_only or asks_read_only(url)
    path = sqlite_file(target)
    if path is not None:
        _check_sqlite_path(path, target, create=create and not read_only)
    engine = create_engine(
        target,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    if read_only and path is not None:
        event.listen(engine, "do_connect", _connect_read_only(path))
    event.listen(engine, "connect", _sqlite_read_only_on_connect if read_only else _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return read_only_transactions(engine) if read_only else engine


def read_only_transactions(engine: Engine) -> Engine:
    """The same engine (and pool) whose SQLite transactions do not take the write lock."""
    return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def _check_sqlite_path(path: Path, url: URL, *, create: bool) -> None:
    """Refuse a folder, or a missing file unless ``create`` (then make its folders)."""
    shown = url.render_as_string()
    try:
        if path.is_dir():
            raise StorageError(f"--storage {shown!r}: {path} is a folder, not a database file; {EXPECTED}")
        if path.exists():
            return
        if not create:
            raise StorageError(
                f"no database at {path} (run `deltaspace run STUDY.yaml` first, or pass --storage)"
            )
        above = next(parent for parent in path.parents if parent.exists())
        if not above.is_dir():
            raise StorageError(f"--storage {shown!r}: cannot create {path}: {above} is a file, not a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StorageError(f"--storage {shown!r}: cannot create or open {path}: {err.strerror}") from err


def _connect_read_only(path: Path) -> Callable[..., sqlite3.Connection]:
    """A ``do_connect`` hook opening ``path`` read-only (``mode=ro``), or immutable where SQLite
    cannot set up a WAL database's shared memory (a folder nobody can write)."""
    uri = path.resolve().as_uri()

    def connect(_dialect: Any, _record: Any, _args: Any, _kwargs: Any) -> sqlite3.Connection:
        options: dict[str, Any] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, **options)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorname", "") not in _NO_SHARED_MEMORY:
                raise
            connection.close()
            connection = sqlite3.connect(f"{uri}?immutable=1", uri=True, **options)
        return connection

    return connect


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    _sqlite_read_only_on_connect(dbapi_connection, _record)
    # Switching a new database to WAL needs an exclusive lock, and when several workers open it at
    # once SQLite may answer SQLITE_BUSY without calling the busy handler: retry for the timeout.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_read_only_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Stop pysqlite's own implicit BEGIN handling; _sqlite_on_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    dbapi_connection.execute("PRAGMA foreign_keys = ON")


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")
