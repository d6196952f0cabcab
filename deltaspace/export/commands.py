"""``deltaspace export``: write a stored study's best trial, Pareto front or one trial out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_STORAGE = "sqlite:///deltaspace.db"  # storage.DEFAULT_URL, without importing SQLAlchemy here


def export_command(
    study: Annotated[str, typer.Argument(help="Name of the stored study.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write (created).")],
    fmt: Annotated[str, typer.Option("--format", help="yaml | weights | peft | merged")] = "yaml",
    best: Annotated[bool, typer.Option("--best", help="The best-scoring trial (the default).")] = False,
    pareto: Annotated[bool, typer.Option("--pareto", help="Every trial on the Pareto front.")] = False,
    trial: Annotated[int | None, typer.Option("--trial", help="The trial with this number.")] = None,
    storage: Annotated[str, typer.Option(help="Database URL.")] = DEFAULT_STORAGE,
    no_training: Annotated[
        bool, typer.Option("--no-training", help="Fail instead of retraining trials that kept no weights.")
    ] = False,
) -> None:
    """Export trials as re-runnable YAML, safetensors weights, a peft adapter or a merged model.

    A trial that kept no weights is retrained from its stored spec and seed first (not for yaml).
    """
    from rich.console import Console

    from deltaspace.search.pareto import designs, interval_text
    from deltaspace.space.errors import DeltaspaceError
    from deltaspace.storage import Storage, StorageError

    from .study import FORMATS, export_study

    if sum((best, pareto, trial is not None)) > 1:
        raise DeltaspaceError("choose one of --best, --pareto and --trial N")
    if fmt not in FORMATS:
        raise DeltaspaceError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    selection = "pareto" if pareto else "trial" if trial is not None else "best"
    try:
        db = Storage(storage, read_only=True)
        exported = export_study(
            db,
            study,
            fmt,  # type: ignore[arg-type]
            out,
            selection=selection,  # type: ignore[arg-type]
            number=trial,
            allow_training=not no_training,
        )
        by_number = {n: d for d in designs(db.list_trials(study)) for n in d.numbers}
    except StorageError as exc:
        raise DeltaspaceError(str(exc)) from None
    console = Console()
    for item in exported:
        design = by_number.get(item.trial)
        score = f" (score {interval_text(design)})" if design else ""
        console.print(f"trial {item.trial}{score} -> {item.path} ({', '.join(item.files)})", highlight=False)
        for note in item.notes:
            console.print(f"  note: {note}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
