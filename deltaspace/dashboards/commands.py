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
        path = write_report(Storage(storage, read_only=True), study, out)
    except StorageError as exc:
        raise DeltaspaceError(str(exc)) from None
    Console().print(f"wrote {path}", highlight=False)


def serve_command(
    storage: StorageOption = DEFAULT_STORAGE,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 0.0.0.0 exposes the service to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (1-65535).")] = 8050,
    allowed_host: Annotated[
        list[str],
        typer.Option(help="Another Host name the service answers to (repeatable; '*' accepts any)."),
    ] = [],  # noqa: B006
    data_root: Annotated[
        list[Path],
        typer.Option(
            help="A folder submitted studies may read models, tasks and data from (repeatable; "
            "default: the working directory)."
        ),
    ] = [],  # noqa: B006
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, in MB.")] = 1.0,
    max_trials: Annotated[
        int, typer.Option(help="Most trials (× seeds) a submitted study may ask for.")
    ] = 1000,
    max_steps: Annotated[
        int, typer.Option(help="Most training steps per trial a submitted study may ask for.")
    ] = 100_000,
) -> None:
    """Serve the dashboards and the JSON API (OpenAPI at /docs) over the database.

    With DELTASPACE_API_TOKEN set, every /api request needs 'Authorization: Bearer TOKEN'.
    """
    import os

    from deltaspace.space.errors import DeltaspaceError
    from deltaspace.storage import StorageError

    from .app import listening_socket, serve
    from .security import is_loopback, serve_policy

    for option, value in (
        ("--max-body-mb", max_body_mb),
        ("--max-trials", max_trials),
        ("--max-steps", max_steps),
    ):
        if not value > 0:
            raise DeltaspaceError(f"{option} {value}: give a positive number")
    for root in data_root:
        if not root.is_dir():
            raise DeltaspaceError(f"--data-root {root}: not a folder")
    sock = listening_socket(host, port)
    token = os.environ.get("DELTASPACE_API_TOKEN") or None
    policy = serve_policy(
        host, Path.cwd(), allowed_hosts=allowed_host, data_roots=data_root,
        max_body_mb=max_body_mb, max_trials=max_trials, max_steps=max_steps, token=token,
    )  # fmt: skip
    if not is_loopback(host) and token is None:
        typer.echo(
            "warning: the API has no authentication and is reachable from the network; "
            "set DELTASPACE_API_TOKEN",
            err=True,
        )
    if policy.allowed_hosts is None:
        typer.echo(
            "warning: any Host header is accepted, so DNS rebinding is not stopped; "
            "name the service's host names with --allowed-host",
            err=True,
        )
    try:
        serve(storage, sock, policy)
    except StorageError as exc:
        raise DeltaspaceError(str(exc)) from None


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
    app.command("serve")(serve_command)
