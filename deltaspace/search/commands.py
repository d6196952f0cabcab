"""CLI commands of the search: ``run``, ``worker``, ``status`` and ``studies``.

Only typer and rich load with this module; Optuna, torch and Ray load inside the commands.
Expected problems (a bad study file, an unknown study, a database error) become one line on
stderr and exit code 2 through ``DeltaspaceError``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

DEFAULT_STORAGE = "sqlite:///deltaspace.db"
console = Console()

StorageOption = Annotated[
    str,
    typer.Option(
        "--storage", envvar="DELTASPACE_STORAGE", help="sqlite:///path.db or postgresql://user@host/db."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of tables.")]


@contextmanager
def _one_line_errors(storage: str) -> Iterator[None]:
    """Storage errors are expected too (unknown study, unreachable database, a full disk, also
    inside Optuna's writes to ``storage``): one line, exit 2."""
    from ..storage import StorageError
    from .errors import SearchError

    try:
        yield
    except StorageError as exc:
        raise SearchError(str(exc)) from None
    except Exception as exc:
        if "optuna" not in sys.modules:  # only Optuna's own errors are translated below
            raise
        from .study_db import optuna_failure

        failure = optuna_failure(exc, storage)
        if failure is None:
            raise
        raise SearchError(str(failure)) from exc


def run_command(
    study: Annotated[Path, typer.Argument(help="The study YAML file.")],
    storage: StorageOption = DEFAULT_STORAGE,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    workers: Annotated[
        int, typer.Option(min=1, help="Trials at a time (worker processes, or Ray trials).")
    ] = 1,
    ray_address: Annotated[
        str | None, typer.Option(help="Join this Ray cluster instead of starting one.")
    ] = None,
) -> None:
    """Start STUDY, or resume it: re-running the same command continues where it stopped."""
    with _one_line_errors(storage):
        from ..storage import Storage
        from .executors import ExecutorOptions, get_executor
        from .progress import StudyProgress
        from .study_runner import prepare_study

        run = get_executor(executor)
        Storage(storage).close()  # a bad or unreachable --storage fails now, before the study loads a model
        plan, created = prepare_study(study, storage)
        spec = plan.spec
        console.print(f"{'starting' if created else 'resuming'} study [bold]{spec.name}[/bold] in {storage}")
        try:
            with StudyProgress(storage, spec, console) as progress:
                options = ExecutorOptions(
                    workers=workers, ray_address=ray_address, timeout=spec.budget.timeout,
                    on_trial=progress.refresh, poll=progress.refresh,
                )  # fmt: skip
                run(plan, storage, options)
        except KeyboardInterrupt:
            console.print(f"interrupted; run `deltaspace run {study}` again to resume")
            raise typer.Exit(130) from None


def worker_command(
    study: Annotated[
        str | None, typer.Argument(help="A stored study; without it, claim queued studies.")
    ] = None,
    storage: StorageOption = DEFAULT_STORAGE,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads for training.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Stop starting trials after this many seconds.")
    ] = None,
    exit_when_idle: Annotated[
        bool, typer.Option(help="Without STUDY: exit when no study is queued.")
    ] = False,
    poll: Annotated[float, typer.Option(help="Without STUDY: seconds between looks at the queue.")] = 5.0,
) -> None:
    """Add a worker to STUDY (shared through --storage), or work through queued studies."""
    with _one_line_errors(storage):
        from .study_runner import join_study, serve_queue

        if study is not None:
            ran = join_study(study, storage, threads=threads, timeout=timeout)
            console.print(f"worker ran {ran} trial(s) of {study}")
        else:
            done = serve_queue(storage, threads=threads, poll_seconds=poll, exit_when_idle=exit_when_idle)
            console.print(
                f"worker ran {len(done)} queued stud{'y' if len(done) == 1 else 'ies'}: {', '.join(done)}"
            )


def status_command(
    study: Annotated[str | None, typer.Argument(help="A stored study; without it, every study.")] = None,
    storage: StorageOption = DEFAULT_STORAGE,
    json_out: JsonOption = False,
    timing: Annotated[
        bool, typer.Option("--timing", help="Where the trials' time went, phase by phase.")
    ] = False,
    csv_out: Annotated[
        bool,
        typer.Option(
            "--csv", help="Every trial as CSV (its design's seed mean and 95% interval, front flag)."
        ),
    ] = False,
) -> None:
    """Trials by status and the current Pareto front (score ± its 95% interval over seeds)."""
    if timing and csv_out:
        from .errors import SearchError

        raise SearchError("choose one of --timing and --csv")
    with _one_line_errors(storage):
        from ..storage import Storage
        from .pareto import status_record, study_objectives
        from .progress import render_status
        from .timing import rung_results, timing_record
        from .trial_rows import rows_csv, trial_rows

        db = Storage(storage, read_only=True)
        names = [study] if study is not None else [s.name for s in db.list_studies()]
        if csv_out:
            rows = [
                row
                for name in names
                for row in trial_rows(db.list_trials(name), study_objectives(db.get_study(name).spec_yaml))
            ]
            sys.stdout.write(rows_csv(rows))
            return
        if timing:
            timings = {
                name: timing_record(db.list_trials(name), rung_results(db.list_rungs(name)) or None)
                for name in names
            }
            if json_out:
                print(json.dumps(timings[study] if study is not None else timings, indent=2))
            for name, record in [] if json_out else timings.items():
                console.print(_timing_table(name, record))
            return
        records = [status_record(db, name) for name in names]
        if json_out:
            print(json.dumps(records[0] if study is not None else records, indent=2, default=str))
            return
        for record in records:
            console.print(render_status(record))
        if not records:
            console.print(f"no studies in {storage}")


def _timing_table(name: str, record: dict) -> Table | str:
    if not record["trials"]:
        return f"{name}: no complete trial with phase timings"
    unit = record.get("unit", "trial")
    table = Table(title=f"{name}: mean seconds per complete {unit} ({record['trials']} {unit}s)")
    for column in ("phase", "seconds", "share"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for phase, cell in record["phases"].items():
        table.add_row(phase, f"{cell['seconds']:.3f}", f"{100 * cell['share']:.1f}%")
    table.add_section()
    table.add_row("trial (phases)", f"{record['wall_seconds']:.3f}", "")
    if record["row_seconds"] is not None:
        table.add_row("trial (start to finish row)", f"{record['row_seconds']:.3f}", "")
    table.add_row("outside train + evaluate", "", f"{100 * record['outside_share']:.1f}%")
    return table


def studies_command(storage: StorageOption = DEFAULT_STORAGE, json_out: JsonOption = False) -> None:
    """List the stored studies with their trial counts."""
    with _one_line_errors(storage):
        from ..storage import Storage

        summaries = Storage(storage, read_only=True).list_studies()
        if json_out:
            print(json.dumps([s.model_dump(mode="json") for s in summaries], indent=2))
            return
        table = Table(title=f"studies in {storage}")
        for column in ("study", "status", "trials", "target", "counts", "best score", "created"):
            table.add_column(column)
        for s in summaries:
            counts = ", ".join(f"{n} {k}" for k, n in s.counts.items() if n)
            best = "-" if s.best_score is None else f"{s.best_score:.4f}"
            created = s.created_at.strftime("%Y-%m-%d %H:%M")
            table.add_row(
                s.name, s.status, str(s.n_trials), str(s.n_trials_target or "-"), counts, best, created
            )
        console.print(table)


def delete_command(
    study: Annotated[str, typer.Argument(help="Name of the stored study.")],
    storage: StorageOption = DEFAULT_STORAGE,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a stored study with its trials, rungs and Optuna rows (a study file of the same name
    then starts afresh). Kept weight files are left on disk."""
    with _one_line_errors(storage):
        from ..storage import Storage

        reader = Storage(storage, read_only=True)
        try:
            count = len(reader.list_trials(study))
        finally:
            reader.close()
        if not yes and not typer.confirm(f"delete study {study!r} and its {count} trials from {storage}?"):
            raise typer.Exit(1)
        from .study_runner import delete_study

        deleted = delete_study(study, storage)
        console.print(f"deleted study {study} ({deleted} trials)")


def register(app: typer.Typer) -> None:
    from ..storage.commands import db_app

    db_app.command("delete")(delete_command)
    app.command("run")(run_command)
    app.command("worker")(worker_command)
    app.command("status")(status_command)
    app.command("studies")(studies_command)
