"""``deltaspace db upgrade``: bring a database's schema to this version's (the fix that
StorageVersionError names). Only typer loads with this module; SQLAlchemy and alembic load inside."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_STORAGE = "sqlite:///deltaspace.db"  # engine.DEFAULT_URL, without importing SQLAlchemy here

db_app = typer.Typer(help="Maintain the results database.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_command(
    storage: Annotated[
        str,
        typer.Option(
            "--storage", envvar="DELTASPACE_STORAGE", help="sqlite:///path.db or postgresql://user@host/db."
        ),
    ] = DEFAULT_STORAGE,
) -> None:
    """Upgrade the database's schema to this deltaspace version's (reading commands never do)."""
    from . import upgrade

    typer.echo(f"{storage} is at schema revision {upgrade(storage)}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
