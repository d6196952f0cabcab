"""Alembic migrations of deltaspace's ``ds_`` tables, run from code (no alembic.ini on disk).

``upgrade(url)`` backs ``deltaspace db upgrade``; :class:`~deltaspace.storage.repository.Storage`
calls :func:`ensure_schema` on open, or :func:`check_schema` when it opens the database read-only
(reading commands never change a database, so an old schema there names the command that does). To write a new revision after changing ``models.py``::

    from alembic import command
    from deltaspace.storage.engine import make_engine
    from deltaspace.storage.migrations import alembic_config

    with make_engine("sqlite:///scratch.db").begin() as conn:   # a database at head
        command.revision(alembic_config(conn), "what changed", autogenerate=True, rev_id="0002_...")
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from deltaspace.storage.engine import make_engine
from deltaspace.storage.errors import StorageError, StorageVersionError
from deltaspace.storage.failures import opening

# Optuna keeps its own ``alembic_version`` table in a shared database; ours must differ.
VERSION_TABLE = "ds_alembic_version"
# pg_advisory_xact_lock key serialising concurrent upgrades of one PostgreSQL database.
# (SQLite needs none: the upgrade transaction starts with BEGIN IMMEDIATE.)
_PG_LOCK_KEY = 0x64656C7461


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config for this folder; ``env.py`` runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "deltaspace ships at least one migration"
    return head


def current_revision(url: str) -> str | None:
    """The schema revision of the database at ``url`` (None: deltaspace never wrote there)."""
    engine = make_engine(url)
    try:
        with opening(url):
            return _current(engine)
    finally:
        engine.dispose()


def upgrade(url: str) -> str:
    """Upgrade the database at ``url`` to the newest schema; returns the revision it is at."""
    engine = make_engine(url)
    try:
        with opening(url):
            ensure_schema(engine, url)
    finally:
        engine.dispose()
    return head_revision()


def ensure_schema(engine: Engine, url: str) -> None:
    """Bring the schema to head, or raise StorageVersionError if the database is from the future."""
    script = ScriptDirectory.from_config(alembic_config())
    current = _current(engine)
    if current == script.get_current_head():
        return
    _refuse_unknown(script, current, url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        # alembic re-reads the revision inside this locked transaction: a racing process upgrades
        # once, the other finds head and does nothing.
        command.upgrade(alembic_config(conn), "head")


def check_schema(engine: Engine, url: str) -> None:
    """Raise StorageError unless the schema is at head; reads only, for read-only databases."""
    script = ScriptDirectory.from_config(alembic_config())
    current, head = _current(engine), script.get_current_head()
    if current == head:
        return
    shown = make_url(url).render_as_string(hide_password=True)
    if current is None:
        raise StorageError(
            f"{shown} holds no deltaspace studies (no deltaspace tables); "
            "run `deltaspace run STUDY.yaml` on it first, or pass another --storage"
        )
    _refuse_unknown(script, current, url)
    raise StorageVersionError(
        f"the database {shown} is at schema revision {current!r}, older than this deltaspace's {head!r}; "
        f"reading commands do not change it: run `deltaspace db upgrade --storage {shown}` first"
    )


def _refuse_unknown(script: ScriptDirectory, current: str | None, url: str) -> None:
    if current is None or current in {rev.revision for rev in script.walk_revisions()}:
        return
    shown = make_url(url).render_as_string(hide_password=True)
    raise StorageVersionError(
        f"the database {shown} is at schema revision {current!r}, which this version of deltaspace "
        f"does not know (its newest is {script.get_current_head()!r}); it was probably written by a "
        "newer deltaspace. Install that version, then run `deltaspace db upgrade`."
    )


def _current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()
