"""The sortable table of a study's trials: every trial, whatever its status.

``table_record`` computes the rows; the ``trials_table.html`` template draws them (escaped) and
a few lines of JavaScript sort them by any column (each cell carries its sort key). Beside a
trial's own score stands its design's seed mean with the half-width of its 95% interval and the
number of seeds (`deltaspace.search.pareto`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from deltaspace.search.pareto import Design, designs
from deltaspace.storage.records import TrialRecord

from .records import method_family


class Cell(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    key: float | str  # what the column sorts by


class TableRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    columns: list[str]
    rows: list[list[Cell]]


COLUMNS: tuple[tuple[str, str], ...] = (
    ("trial", "number"),
    ("status", "status"),
    ("method", "method_name"),
    ("family", "family"),
    ("score", "score"),
    ("seed mean ± 95%", "design"),
    ("delta params", "delta_params"),
    ("% backbone", "percent"),
    ("train s", "train_seconds"),
    ("latency ms", "latency_ms_batch1"),
    ("peak MB", "peak_memory_mb"),
    ("failure", "failure_reason"),
)
_FORMATS = {
    "score": "{:.4f}",
    "delta_params": "{:,}",
    "percent": "{:.4g}",
    "train_seconds": "{:.1f}",
    "latency_ms_batch1": "{:.2f}",
    "peak_memory_mb": "{:.0f}",
}


def _cell(field: str, value: Any) -> Cell:
    if value is None:
        return Cell(text="", key="")
    if isinstance(value, int | float):
        return Cell(text=_FORMATS.get(field, "{}").format(value), key=float(value))
    return Cell(text=str(value), key=str(value).lower())


def _design_cell(design: Design | None) -> Cell:
    if design is None:
        return Cell(text="", key="")
    half = design.interval.half_width
    spread = f" ± {half:.4f}" if half is not None else ""
    return Cell(text=f"{design.score:.4f}{spread} ({design.interval.n})", key=design.score)


def table_record(trials: Sequence[TrialRecord]) -> TableRecord:
    by_number = {n: d for d in designs(trials) for n in d.numbers}
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        values = {**t.model_dump(), "family": method_family(t.method)}
        rows.append(
            [
                _design_cell(by_number.get(t.number)) if field == "design" else _cell(field, values[field])
                for _, field in COLUMNS
            ]
        )
    return TableRecord(columns=[label for label, _ in COLUMNS], rows=rows)
