"""``deltaspace report`` and ``deltaspace serve``: the dashboards from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_STORAGE = "sqlite:///deltaspace.db"  # storage.DEFAULT_URL, without importing SQLAlchemy here
StorageOption = Annotated[
    str,
    typer.Option(
        "--storage", envvar="DELTASPACE_STORAGE", help="sqlite:///path.db or postgresql://user@host/db."
    ),
]


def report_command(
    study: Annotated[str, typer.Argument(help="Name of the stored study.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path("report.html"),
    storage: StorageOption = DEFAULT_STORAGE,
) -> None:
    """Write one self-contained HTML report (every figure, the trials table; works offline)."""
    from rich.console import Console

    from deltaspace.space.errors import DeltaspaceError
    from deltaspace.storage import Storage, StorageError

    from .report import write_report

    try:
        path = write_report(Storage(storage), study, out)
    except StorageError as exc:
        raise DeltaspaceError(str(exc)) from None
    Console().print(f"wrote {path}", highlight=False)


def serve_command(
    storage: StorageOption = DEFAULT_STORAGE,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the service to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8050,
) -> None:
    """Serve the dashboards and the JSON API (OpenAPI at /docs) over the database."""
    from deltaspace.space.errors import DeltaspaceError
    from deltaspace.storage import StorageError

    from .app import serve

    try:
        serve(storage, host, port)
    except StorageError as exc:
        raise DeltaspaceError(str(exc)) from None


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("serve")(serve_command)
