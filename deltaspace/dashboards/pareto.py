"""The Pareto front: delta parameters (log axis, ticks also in percent of the backbone) against score.

Front points are solid and joined by a step line, dominated points faded; colour is the method
family or any chosen dimension; hovering shows the whole method. Trials that evaluated a
published preset unchanged are marked as reference points, and full fine-tuning's score, when a
trial ran it, is a horizontal line. Each trace carries ``meta.role`` (trials, front, presets) so
that tests and pages can find it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict

from deltaspace.export.select import non_dominated
from deltaspace.storage.records import TrialRecord

from .records import Point, trial_points
from .style import PARAMS_TITLE, SCORE_TITLE, colors, layout, text


class ParetoRecord(BaseModel):
    """Points (front ones flagged, each with its colour group), the front fewest parameters first,
    and full fine-tuning's best score when a trial ran it."""

    model_config = ConfigDict(frozen=True)
    color_by: str
    points: list[Point]
    front: list[tuple[str, int]]
    full_finetuning: float | None = None


def color_label(point: Point, color_by: str) -> str:
    """The group a point is coloured by: family, method, study, a dimension or a sampled value."""
    if color_by in ("family", "study"):
        return str(getattr(point, color_by))
    if color_by == "method":
        return point.method_name
    if color_by in point.dims:
        return point.dims[color_by]
    return str(point.values.get(color_by, "-"))


def pareto_record(trials: Sequence[TrialRecord], color_by: str = "family") -> ParetoRecord:
    """Every scored trial, the non-dominated ones flagged, and full fine-tuning's score if run."""
    points = trial_points(trials)
    front = set(non_dominated([(p.delta_params, p.score) for p in points]))
    points = [
        p.model_copy(update={"on_front": i in front, "color": color_label(p, color_by)})
        for i, p in enumerate(points)
    ]
    ordered = sorted((p for p in points if p.on_front), key=lambda p: (p.delta_params, -p.score))
    full = [p.score for p in points if p.family == "full"]
    return ParetoRecord(
        color_by=color_by,
        points=points,
        front=[(p.study, p.number) for p in ordered],
        full_finetuning=max(full) if full else None,
    )


def hover(point: Point) -> str:
    percent = f" ({point.percent:.4g}% of the backbone)" if point.percent is not None else ""
    lines = [
        f"<b>{text(point.method_name)}</b> — {text(point.family)}",
        f"score {point.score:.4f} · {point.delta_params:,} delta parameters{percent}",
        f"study {text(point.study)}, trial {point.number}",
        *(text(line) for line in point.method.splitlines()[1:]),
    ]
    return "<br>".join(lines)


def _x(point: Point) -> int:
    return max(point.delta_params, 1)  # a log axis has no 0 (a head-only probe)


def _scatter(points: list[Point], color: str, name: str, front: bool) -> go.Scatter:
    return go.Scatter(
        x=[_x(p) for p in points],
        y=[p.score for p in points],
        mode="markers",
        name=text(name),
        legendgroup=text(name),
        showlegend=front or not any(p.on_front for p in points),
        marker={"color": color, "size": 10 if front else 8, "opacity": 1.0 if front else 0.3},
        text=[hover(p) for p in points],
        customdata=[[p.study, p.number] for p in points],
        hovertemplate="%{text}<extra></extra>",
        meta={"role": "trials", "front": front},
    )


def _backbone(points: list[Point]) -> float | None:
    """The backbone size all points share (from params / percent), or None."""
    sizes = {round(p.delta_params * 100 / p.percent, -2) for p in points if p.percent and p.delta_params}
    return sizes.pop() if len(sizes) == 1 else None


def _si(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def _percent_ticks(fig: go.Figure, points: list[Point], backbone: float) -> None:
    """Ticks at powers of ten, each labelled with its parameter count and percent of the backbone."""
    low = math.floor(math.log10(min(_x(p) for p in points)))
    high = math.ceil(math.log10(max(_x(p) for p in points)))
    ticks = [10.0**k for k in range(low, high + 1)]
    labels = [f"{_si(v)}<br>{100 * v / backbone:.3g}%" for v in ticks]
    fig.update_xaxes(tickvals=ticks, ticktext=labels, title_text=PARAMS_TITLE + " and % of the backbone")


def pareto_figure(record: ParetoRecord, title: str = "Pareto front") -> go.Figure:
    fig = go.Figure()
    palette = colors(p.color for p in record.points)
    for label, color in palette.items():
        group = [p for p in record.points if p.color == label]
        for front in (False, True):
            chosen = [p for p in group if p.on_front == front]
            if chosen:
                fig.add_trace(_scatter(chosen, color, label, front))
    by_key = {(p.study, p.number): p for p in record.points}
    front = [by_key[key] for key in record.front]
    fig.add_trace(
        go.Scatter(
            x=[_x(p) for p in front],
            y=[p.score for p in front],
            mode="lines",
            line_shape="hv",
            name="Pareto front",
            line={"color": "#444", "width": 1.5},
            hoverinfo="skip",
            customdata=[[p.study, p.number] for p in front],
            meta={"role": "front"},
        )
    )
    presets = [p for p in record.points if p.preset]
    if presets:
        fig.add_trace(
            go.Scatter(
                x=[_x(p) for p in presets],
                y=[p.score for p in presets],
                mode="markers+text",
                name="published presets",
                text=[text(p.preset) for p in presets],
                textposition="top center",
                marker={"symbol": "star-open", "size": 16, "color": "#000"},
                hoverinfo="skip",
                customdata=[[p.study, p.number] for p in presets],
                meta={"role": "presets"},
            )
        )
    if record.full_finetuning is not None:
        fig.add_hline(
            y=record.full_finetuning,
            line_dash="dash",
            line_color="#888",
            annotation_text="full fine-tuning",
            annotation_position="bottom right",
        )
    fig.update_layout(**layout(title, legend={"title": {"text": text(record.color_by)}}))
    fig.update_xaxes(type="log", title_text=PARAMS_TITLE)
    fig.update_yaxes(title_text=SCORE_TITLE)
    backbone = _backbone(record.points)
    if record.points and backbone:
        _percent_ticks(fig, record.points, backbone)
    return fig


def plot_pareto(
    trials: Sequence[TrialRecord], color_by: str = "family", title: str = "Pareto front"
) -> go.Figure:
    return pareto_figure(pareto_record(trials, color_by), title)


def front_keys(fig: go.Figure) -> list[Any]:
    """The (study, number) pairs of the figure's front trace (what tests and pages read)."""
    trace = next(t for t in fig.data if (t.meta or {}).get("role") == "front")
    return [tuple(c) for c in trace.customdata]
