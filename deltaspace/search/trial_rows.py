"""A study's trials as flat rows: what ``deltaspace status --csv`` prints and the dashboard's
"trials as CSV" link downloads.

One row per trial, whatever its status: its columns, its design's seed mean with the 95%
interval and whether the design is on the study's front (`pareto.designs`), then one column per
sampled value (``param.<name>``) and per metric (``metric.<name>``), the union over trials.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..storage import TrialRecord
from .pareto import DEFAULT_OBJECTIVES, designs

COLUMNS = (
    "study_name", "number", "status", "method_name", "seed", "score",
    "design_score", "design_score_low", "design_score_high", "design_seeds", "on_front",
    "delta_params", "head_params", "trainable_params", "stored_params", "percent", "steps",
    "train_seconds", "eval_seconds", "examples_per_second", "peak_memory_mb",
    "latency_ms_batch1", "latency_ms_batch32", "failure_reason", "started_at", "finished_at",
    "method_hash", "method_json",
)  # fmt: skip
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DESIGN_COLUMNS = ("design_score", "design_score_low", "design_score_high", "design_seeds", "on_front")


def _flat(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def trial_rows(
    trials: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES
) -> list[dict[str, Any]]:
    """One row per trial, by study and number."""
    by_number = {}
    for d in designs(trials, objectives):
        for n in d.numbers:
            by_number[(d.study, n)] = d
    rows = []
    for t in sorted(trials, key=lambda t: (t.study_name, t.number)):
        row = {c: getattr(t, c) for c in COLUMNS if c not in DESIGN_COLUMNS}
        design = by_number.get((t.study_name, t.number))
        if design is not None:
            interval = design.interval
            row.update(design_score=interval.mean, design_score_low=interval.low,
                       design_score_high=interval.high, design_seeds=interval.n, on_front=design.on_front)  # fmt: skip
        row.update(_flat(t.params, "param."))
        row.update({f"metric.{k}": v for k, v in t.metrics.items()})
        rows.append(row)
    return rows


def _cell(value: Any) -> Any:
    """Empty for None; text a spreadsheet would run as a formula starts with a quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV text: the fixed columns, then every other column any row has (sorted)."""
    extra = sorted({k for row in rows for k in row} - set(COLUMNS))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*COLUMNS, *extra], restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()
