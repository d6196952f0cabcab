"""The ``deltaspace`` command. Expected errors become one line on stderr and exit code 2.

Heavy libraries (torch, transformers, optuna, ray, plotly) load inside the commands that need
them, so ``deltaspace --help`` stays fast; a test asserts it.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .space import DeltaspaceError, MethodSpec, load_method, preset, preset_names, preset_source
from .space.dimensions import POSITIONS

app = typer.Typer(
    help="Design-space search and benchmarking for parameter-efficient fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def resolve_method(method: str) -> MethodSpec:
    """A preset name, or a YAML file (which may itself start from a preset)."""
    if method.endswith((".yaml", ".yml")) or Path(method).exists():
        return load_method(Path(method))
    if "/" in method or Path(method).suffix:
        raise DeltaspaceError(
            f"method {method!r}: no such file, and not a preset name (`deltaspace methods` lists the presets)"
        )
    return preset(method)


def _coordinates(spec: MethodSpec) -> list[str]:
    parts = []
    for d in spec.deltas:
        comp = d.composition + (f" s={d.scale:g}" if d.composition == "scaled" else "")
        comp += f" ({d.gate})" if d.gate else ""
        act = f" {d.activation}" if d.form == "bottleneck" else ""
        parts.append(f"{d.form}{act} | {d.insertion or '-'} | {d.position} | {comp} | {d.size or '-'}")
    return parts


@app.command("methods")
def methods_command(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON list instead of a table.")] = False,
) -> None:
    """List the presets with their four coordinates and sizes."""
    specs = [preset(name) for name in preset_names()]
    if json_out:
        body = [{**s.model_dump(mode="json"), "source": preset_source(s.name)} for s in specs]
        print(json.dumps(body, indent=2))
        return
    table = Table(title="deltaspace presets (form | insertion | position | composition | size)")
    for col in ("preset", "functional form", "insertion", "position", "composition", "size", "trainable"):
        table.add_column(col)
    table.add_column("source")
    for spec in specs:
        rows = _coordinates(spec) or ["- | - | - | - | -"]
        for i, row in enumerate(rows):
            cells = [c.strip() for c in row.split("|")]
            first = i == 0
            table.add_row(
                spec.name if first else "",
                *cells,
                ",".join(spec.trainable) if first else "",
                preset_source(spec.name) if first else "",
            )
        table.add_section()
    console.print(table)


@app.command("positions")
def positions_command() -> None:
    """List the positions (modified representations) a delta can take."""
    table = Table(title="positions")
    for col in ("position", "kind", "sublayer", "meaning"):
        table.add_column(col)
    for name, info in POSITIONS.items():
        table.add_row(name, info.kind, info.sublayer, info.description)
    console.print(table)


@app.command("forms")
def forms_command(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON list instead of a table.")] = False,
) -> None:
    """List the functional forms: formula, source, sites, what size means, learning-rate range."""
    from .space.forms import FORMS

    rows = [
        {
            "form": f.name,
            "formula": f.formula,
            "source": f.source,
            "sites": list(f.sites),
            "size": f.size,
            "insertions": list(f.insertions),
            "compositions": list(f.compositions),
            "learning_rate": {"low": f.learning_rate.low, "high": f.learning_rate.high,
                              "default": f.learning_rate.default},  # fmt: skip
        }
        for f in FORMS.values()
    ]
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="functional forms (one registry: deltaspace/space/forms/)")
    for col in ("form", "formula", "size", "sites", "learning rate (default)", "source"):
        table.add_column(col)
    for r in rows:
        lr = r["learning_rate"]
        table.add_row(r["form"], r["formula"], r["size"] or "-", ", ".join(r["sites"]),
                      f"{lr['low']:g}–{lr['high']:g} ({lr['default']:g})", r["source"])  # fmt: skip
    console.print(table)


@app.command("count")
def count_command(
    method: Annotated[str, typer.Argument(help="A preset name or a method YAML file.")],
    model: Annotated[str, typer.Option(help="Local directory, hub id, or 'minilm'.")],
    num_labels: Annotated[int, typer.Option(help="Labels of the classification head.")] = 2,
    head: Annotated[
        str, typer.Option(help="sequence_classification | regression | seq2seq | none")
    ] = "sequence_classification",
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Exact trainable parameters of METHOD on MODEL, from the config alone (no weights load)."""
    from .methods import model_dims
    from .space import HeadSpec, count_method

    spec = resolve_method(method)
    try:
        head_spec = HeadSpec(kind=head, num_labels=num_labels)  # type: ignore[arg-type]
    except ValueError:
        raise DeltaspaceError(
            f"--head {head!r}: use sequence_classification, regression, seq2seq or none"
        ) from None
    dims = model_dims(model, head_spec)
    counts = count_method(spec, dims)
    if json_out:
        body: dict[str, Any] = {"method": spec.name, "model": model, **counts.model_dump(mode="json")}
        print(json.dumps(body, indent=2))
        return
    table = Table(
        title=f"{spec.name} on {model} ({dims.model_type}, {dims.backbone_params:,} backbone parameters)"
    )
    for col, justify in (
        ("delta", "left"),
        ("form", "left"),
        ("position", "left"),
        ("sites", "right"),
        ("per site", "right"),
        ("parameters", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for b in counts.breakdown:
        where = b.position if b.sites else f"{b.position} (absent here: where_present)"
        table.add_row(str(b.index), b.form, where, str(b.sites), f"{b.per_site:,}", f"{b.params:,}")
    for group, n in counts.declared.items():
        table.add_row("backbone", group, "-", "-", "-", f"{n:,}")
    console.print(table)
    console.print(
        f"delta parameters: {counts.delta_params:,} ({counts.percent:.4f}% of the backbone's "
        f"{counts.backbone_params:,} parameters: the model without its task head, tied embeddings once)"
    )
    console.print(f"task-head parameters: {counts.head_params:,}")
    console.print(f"trainable in total: {counts.trainable_params:,}")


@functools.cache
def _register_optional_commands() -> None:
    """Commands contributed by later subpackages, each in its own small module; once per process
    (Typer appends on every registration, and rebuilds its click group from all of them on each
    call: registered per call, the 1,000th in-process ``main`` of a test run took seconds)."""
    from . import cli_commands

    cli_commands.register(app)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C: the running trial is recorded failed and queued again."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated(f"signal {signum}")


def _handle_sigterm() -> None:
    """Make SIGTERM (``kill``, a batch scheduler, ``docker stop``) stop like Ctrl-C, so a trial never
    stays "running" until its heartbeat expires. Only the main thread can install handlers."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def main(argv: list[str] | None = None) -> None:
    from .trainers.threads import short_openmp_waits

    short_openmp_waits()  # before any command imports torch: waiting OpenMP threads soon sleep
    # no per-trial "Loading weights" bars under deltaspace's own progress display (set it to 0 to see them)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _register_optional_commands()
    _handle_sigterm()
    try:
        app(args=argv, standalone_mode=True)
    except DeltaspaceError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
