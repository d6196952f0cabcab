"""Parallel coordinates of the sampled values against score, one line per complete trial.

Numbers stay numbers (spanning more than two decades, they go on a log10 axis); categories
(forms, positions, presets, and numbers some trials lack) get one tick each. Values every trial shares are left out: they
were not searched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict

from deltaspace.storage.records import TrialRecord

from .records import log_percent, trial_points
from .style import layout, text


class Axis(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: str
    values: list[float]
    ticks: list[str] = []  # category names, tick i at value i


class ParallelRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    numbers: list[int]
    axes: list[Axis]
    score: list[float]


def _axis(key: str, raw: list[Any]) -> Axis | None:
    if len({repr(v) for v in raw}) < 2:
        return None
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw):
        values = [float(v) for v in raw]
        if min(values) > 0 and max(values) / min(values) > 100:
            return Axis(label=f"log10 {key}", values=[math.log10(v) for v in values])
        return Axis(label=key, values=values)
    numbers = sorted({v for v in raw if isinstance(v, int | float) and not isinstance(v, bool)})
    ticks = [str(v) for v in numbers] + sorted({str(v) for v in raw} - {str(v) for v in numbers})
    return Axis(label=key, values=[float(ticks.index(str(v))) for v in raw], ticks=ticks)


def parallel_record(trials: Sequence[TrialRecord]) -> ParallelRecord:
    points = trial_points(trials)
    keys = sorted({k for p in points for k in p.values})
    axes = [a for k in keys if (a := _axis(k, [p.values.get(k, "-") for p in points]))]
    axes.append(Axis(label="log10 % of backbone", values=[log_percent(p.percent) for p in points]))
    return ParallelRecord(numbers=[p.number for p in points], axes=axes, score=[p.score for p in points])


def parallel_figure(record: ParallelRecord, title: str = "Sampled values against score") -> go.Figure:
    dimensions = []
    for axis in record.axes:
        dim: dict[str, Any] = {"label": text(axis.label), "values": axis.values}
        if axis.ticks:
            dim.update(tickvals=list(range(len(axis.ticks))), ticktext=[text(t) for t in axis.ticks])
        dimensions.append(dim)
    dimensions.append({"label": "score", "values": record.score})
    line = {
        "color": record.score,
        "colorscale": "Viridis",
        "showscale": True,
        "colorbar": {"title": {"text": "score"}},
    }
    trace = go.Parcoords(line=line, dimensions=dimensions, meta={"role": "trials", "numbers": record.numbers})
    return go.Figure(trace).update_layout(**layout(title))


def plot_parallel(trials: Sequence[TrialRecord]) -> go.Figure:
    return parallel_figure(parallel_record(trials))
