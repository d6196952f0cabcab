"""``deltaspace db upgrade``: bring a database's schema to this version's (the fix that
StorageVersionError names); ``deltaspace db compact``: drop spent promotion states and give the
space back. Only typer loads with this module; SQLAlchemy and alembic load inside."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_STORAGE = "sqlite:///deltaspace.db"  # engine.DEFAULT_URL, without importing SQLAlchemy here

db_app = typer.Typer(help="Maintain the results database.", no_args_is_help=True)


StorageUrl = Annotated[
    str,
    typer.Option(
        "--storage", envvar="DELTASPACE_STORAGE", help="sqlite:///path.db or postgresql://user@host/db."
    ),
]


@db_app.command("upgrade")
def upgrade_command(storage: StorageUrl = DEFAULT_STORAGE) -> None:
    """Upgrade the database's schema to this deltaspace version's (reading commands never do)."""
    from . import upgrade

    typer.echo(f"{storage} is at schema revision {upgrade(storage)}")


@db_app.command("compact")
def compact_command(storage: StorageUrl = DEFAULT_STORAGE) -> None:
    """Drop the saved promotion states nothing will resume (the trial's next rung is complete, or
    passed it over) and VACUUM, so the file shrinks. Safe while workers run: a state a pending,
    running or failed rung resumes from is kept."""
    from . import Storage

    size = _size_of(storage)
    opened = Storage(storage, create=False)  # a StorageError is one line and exit 2 (cli.main)
    try:
        dropped = opened.drop_spent_states()
        opened.vacuum()
    finally:
        opened.close()
    after = _size_of(storage)
    shrink = "" if size is None or after is None else f": {size / 1e6:.1f} MB -> {after / 1e6:.1f} MB"
    typer.echo(f"dropped {dropped} spent promotion states{shrink}")


def _size_of(storage: str) -> int | None:
    """Bytes of a SQLite database with its WAL (None: not a SQLite file)."""
    from .engine import parse_url, sqlite_file

    path = sqlite_file(parse_url(storage)) if storage.startswith("sqlite") else None
    if path is None or not path.exists():
        return None
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
