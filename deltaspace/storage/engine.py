"""Engines from user-facing URLs.

``sqlite:///path.db`` (the default) and ``postgresql://user@host/db`` are what users write;
:func:`sqlalchemy_url` maps PostgreSQL onto the psycopg 3 driver, and :func:`make_engine` sets up
SQLite for several processes writing at once (WAL, a 30 s busy timeout, and write transactions
that take the database lock when they begin, so a read-then-write never fails half-way).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

from deltaspace.storage.errors import StorageError

DEFAULT_URL = "sqlite:///deltaspace.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option read by the SQLite "begin" hook: "IMMEDIATE" (take the write lock at BEGIN)
# or "DEFERRED" (read-only transactions: a WAL snapshot that never blocks writers).
SQLITE_BEGIN = "deltaspace_sqlite_begin"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL for a user-facing one: ``postgresql://`` becomes ``postgresql+psycopg://``.

    Pass the result to Optuna's ``RDBStorage`` too, so both share the driver.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str = DEFAULT_URL) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, busy_timeout and locking BEGINs."""
    target = make_url(sqlalchemy_url(url))
    if target.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(
            f"unsupported database URL {target.render_as_string()!r}: deltaspace stores results in "
            "SQLite (sqlite:///path.db) or PostgreSQL (postgresql://user@host/dbname)"
        )
    if target.get_backend_name() == "postgresql":
        return create_engine(target, pool_pre_ping=True)
    if target.database and target.database != ":memory:":
        Path(target.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        target,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def read_only(engine: Engine) -> Engine:
    """The same engine (and pool) whose SQLite transactions do not take the write lock."""
    return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Stop pysqlite's own implicit BEGIN handling; _sqlite_on_begin emits BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")
