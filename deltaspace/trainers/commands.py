"""``deltaspace train`` and ``deltaspace tasks``: the trainers' commands (typer and rich only here)."""

from __future__ import annotations

from typing import Annotated

import typer


def train(
    method: Annotated[str, typer.Argument(help="Preset name (deltaspace methods) or method YAML file.")],
    model: Annotated[str, typer.Option("--model", help="minilm, a local model folder or a hub id.")],
    task: Annotated[str, typer.Option("--task", help="Task name (deltaspace tasks) or task YAML file.")],
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Folder of the task's split files; without it, the hub.")
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimiser steps (default: one epoch).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the method's).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, batches and dropout.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the TrialResult as JSON.")] = False,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size (32).")] = None,
    max_length: Annotated[int | None, typer.Option(help="Tokens per input (128).")] = None,
    eval_every: Annotated[
        int | None, typer.Option(help="Evaluate every N steps (default: at the end).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Most CPU threads (default: every usable core).")
    ] = None,
    adaptive_threads: Annotated[
        bool,
        typer.Option(
            "--adaptive-threads/--fixed-threads",
            help="Use fewer threads while other processes keep cores busy, or always --threads.",
        ),
    ] = True,
    max_train_examples: Annotated[
        int | None, typer.Option(help="Use only the first N training rows.")
    ] = None,
    max_eval_examples: Annotated[
        int | None, typer.Option(help="Use only the first N validation rows.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    precision: Annotated[
        str | None,
        typer.Option(help="fp32 | bf16 | fp16 | auto (default: bf16 on a GPU that has it, else fp32)."),
    ] = None,
    gradient_checkpointing: Annotated[
        bool, typer.Option(help="Recompute layers in the backward pass: less memory, more time.")
    ] = False,
    checked_eval: Annotated[
        bool,
        typer.Option(
            "--checked-eval/--float32-eval",
            help="Classification in a float32 run: a bf16 pass re-run in float32 near the boundary "
            "(same predictions, about 2x faster), or float32 throughout.",
        ),
    ] = True,
    quantization: Annotated[
        str | None,
        typer.Option(help="none | nf4 | int8: the frozen backbone quantised by bitsandbytes (CUDA)."),
    ] = None,
) -> None:
    """Train METHOD on a task and print the trial's result (exit 1 if the trial failed)."""
    from .cli_train import train_command

    code = train_command(
        method, model, task, data_dir, max_steps, lr, seed, json_out,
        batch_size=batch_size, max_length=max_length, eval_every=eval_every, threads=threads,
        adaptive_threads=adaptive_threads,
        max_train_examples=max_train_examples, max_eval_examples=max_eval_examples, progress=progress,
        precision=precision, gradient_checkpointing=gradient_checkpointing, quantization=quantization,
        checked_bf16_eval=checked_eval,
    )  # fmt: skip
    raise typer.Exit(code)


def tasks() -> None:
    """List the registered tasks: kind, inputs, metrics and primary score."""
    from rich.console import Console
    from rich.table import Table

    from .tasks import get_task, task_names

    table = Table("task", "kind", "inputs", "target", "metrics", "primary", "hub")
    for name in task_names():
        t = get_task(name)
        hub = f"{t.hub.path}{'/' + t.hub.name if t.hub and t.hub.name else ''}" if t.hub else ""
        table.add_row(
            name, t.kind, ", ".join(t.text_fields), t.label_field, ", ".join(t.metrics), t.primary_metric, hub
        )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("tasks")(tasks)
