"""``deltaspace train METHOD --model MODEL --task TASK``: one trial from the command line.

`train_command` is what the ``deltaspace`` CLI calls; it prints the `TrialResult` as a table, or
as JSON with ``--json``, and returns the exit code: 0 for a complete (or pruned) trial, 1 for a
failed one, 2 for a usage error (unknown method or task, bad setting), reported in one line.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import ValidationError

from ..space.errors import DeltaspaceError
from ..space.yaml_io import format_validation_error
from .quantization import quantization_problem
from .result import TrialResult
from .settings import TrainSettings


def train_command(
    method: str,
    model: str,
    task: str,
    data_dir: str | None = None,
    max_steps: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    json_out: bool = False,
    *,
    batch_size: int | None = None,
    max_length: int | None = None,
    eval_every: int | None = None,
    threads: int | None = None,
    adaptive_threads: bool = True,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    progress: bool = True,
    precision: str | None = None,
    gradient_checkpointing: bool = False,
    quantization: str | None = None,
    checked_bf16_eval: bool = True,
) -> int:
    """Train ``method`` (preset name or method YAML) on ``task`` (name or task YAML) and print the result."""
    from .tasks import resolve_task
    from .trial import resolve_method, run_trial

    given = {
        "max_steps": max_steps,
        "lr": lr,
        "batch_size": batch_size,
        "max_length": max_length,
        "eval_every": eval_every,
        "threads": threads,
        "adaptive_threads": adaptive_threads,
        "max_train_examples": max_train_examples,
        "max_eval_examples": max_eval_examples,
        "precision": precision,
        "gradient_checkpointing": gradient_checkpointing or None,
        "quantization": quantization,
        "checked_bf16_eval": checked_bf16_eval,
    }
    try:
        settings = TrainSettings(
            seed=seed, progress=progress, **{k: v for k, v in given.items() if v is not None}
        )
        method_spec = resolve_method(method)
        resolve_task(task)  # a usage error, reported before any loading
        problem = quantization_problem(settings.quantization, method_spec, model)
        if problem is not None:
            raise DeltaspaceError(problem)
    except ValidationError as exc:
        print(f"error: {format_validation_error(exc, 'settings')}", file=sys.stderr)
        return 2
    except DeltaspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_trial(model, method_spec, task, data_dir, settings)
    if json_out:
        print(result.to_json())
    else:
        print_result(result)
    return 1 if result.status == "failed" else 0


def print_result(result: TrialResult, console: Any = None) -> None:
    """A readable table of one trial's outcome."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{result.method_name or 'model'} on {result.task}: {result.status}", show_header=False
    )
    table.add_column(style="bold")
    table.add_column(justify="right")

    def row(name: str, value: Any, fmt: str = "{}") -> None:
        if value is not None:
            table.add_row(name, fmt.format(value))

    row("failure", result.failure_reason)
    row(f"score ({result.primary_metric})", result.score, "{:.4f}")
    for name, value in result.metrics.items():
        row(f"  {name}", value, "{:.4f}")
    row("delta params", result.delta_params, "{:,}")
    row("head params", result.head_params, "{:,}")
    row("trainable / backbone", result.percent, "{:.3f} %")
    row("learning rate", result.learning_rate, "{:g}")
    row("steps", result.steps)
    row("train seconds", result.train_seconds, "{:.1f}")
    row("train examples/s", result.train_examples_per_second, "{:.1f}")
    row("eval seconds", result.eval_seconds, "{:.2f}")
    row("peak memory", result.peak_memory_mb, "{:.0f} MB")
    row("latency batch 1", result.latency_ms_batch1, "{:.2f} ms/example")
    row("latency batch 32", result.latency_ms_batch32, "{:.2f} ms/example")
    row("seed", result.seed)
    (console or Console()).print(table)
