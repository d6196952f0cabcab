"""The Pareto front: delta parameters (log axis, ticks also in percent of the backbone) against score.

One point per design (its seed mean; `deltaspace.search.pareto`), flagged on the front under the
study's objectives and directions. Front points are solid, with error bars of their 95%
interval, and (for score against parameters) joined by a step line; dominated points are faded.
Only front points and published presets are labelled, in a column right of the plot with a
leader line to each point, spread so that no two labels overlap (the record places them: the
figure's height and margins are fixed, so a label's height in score units is known). The
parameter budget, when the study has one, is a vertical line; full fine-tuning's score a
horizontal one. Every point's hover names its coordinates, score ± interval, parameters, steps
and rung. Each trace carries ``meta.role`` (trials, front, presets) for tests and pages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict

from deltaspace.search.pareto import DEFAULT_OBJECTIVES

from .records import Point, StudyTrials, common_objectives, points_of
from .style import PARAMS_TITLE, SCORE_TITLE, colors, layout, text

LABEL_FONT = 11
LABEL_GAP_PX = 17  # one label line plus air
LABEL_CHARS = 34
MARGIN = {"l": 70, "r": 250, "t": 70, "b": 200}
LEGEND_DROP_PX = 95  # the legend starts this far below the plot (under the two-line ticks and title)  # fixed (no autoexpand): label geometry depends on it
MIN_HEIGHT = 620


class Label(BaseModel):
    """A label in the column right of the plot: its text, the point it names, and its height."""

    model_config = ConfigDict(frozen=True)
    study: str
    number: int
    text: str
    x: float  # the point's parameters
    y: float  # the point's score
    label_y: float  # where the label sits, in score units


class ParetoRecord(BaseModel):
    """Designs (front ones flagged, each with its colour group), the front fewest parameters
    first, the labels and the geometry they were placed for, full fine-tuning's best score and
    the parameter budget when known."""

    model_config = ConfigDict(frozen=True)
    color_by: str
    objectives: list[str]
    points: list[Point]
    front: list[tuple[str, int]]
    full_finetuning: float | None = None
    budget_params: float | None = None
    labels: list[Label] = []
    height: int = MIN_HEIGHT
    y_range: tuple[float, float] | None = None
    x_range: tuple[float, float] | None = None  # log10 of parameters


def color_label(point: Point, color_by: str) -> str:
    """The group a point is coloured by: family, method, study, a dimension or a sampled value."""
    if color_by in ("family", "study"):
        return str(getattr(point, color_by))
    if color_by == "method":
        return point.method_name
    if color_by in point.dims:
        return point.dims[color_by]
    return str(point.values.get(color_by, "-"))


def _x(point: Point) -> int:
    return max(point.delta_params, 1)  # a log axis has no 0 (a head-only probe)


def backbone_size(points: Sequence[Point]) -> float | None:
    """The backbone size all points share (from params / percent), or None."""
    sizes = {round(p.delta_params * 100 / p.percent, -2) for p in points if p.percent and p.delta_params}
    return sizes.pop() if len(sizes) == 1 else None


def label_text(point: Point) -> str:
    """The method's name, and the preset it equals when the name does not say so."""
    name = point.method_name
    if point.preset and name.split("@")[0] != point.preset:
        name = f"{name} (= {point.preset})"
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


def spread(targets: Sequence[float], low: float, high: float, gap: float) -> list[float]:
    """Positions for labels wanted at ``targets`` (ascending), ``gap`` apart, inside
    ``[low + gap/2, high - gap/2]``: labels that would overlap form a run centred on the mean
    of their targets (moved inside the bounds when it pokes out), and runs that touch merge."""
    runs: list[tuple[float, list[float]]] = []  # (first position, targets)

    def placed(members: list[float]) -> float:
        start = sum(members) / len(members) - (len(members) - 1) * gap / 2
        return max(low + gap / 2, min(start, high - gap / 2 - (len(members) - 1) * gap))

    for y in targets:
        runs.append((placed([y]), [y]))
        while len(runs) > 1 and runs[-2][0] + len(runs[-2][1]) * gap > runs[-1][0] + 1e-12:
            members = runs[-2][1] + runs[-1][1]
            runs[-2:] = [(placed(members), members)]
    return [start + i * gap for start, members in runs for i in range(len(members))]


def _budget(studies: Sequence[StudyTrials], points: Sequence[Point]) -> float | None:
    """The parameter budget of a single study, as a parameter count."""
    if len(studies) != 1:
        return None
    study = studies[0]
    if study.max_delta_params is not None:
        return study.max_delta_params
    backbone = backbone_size(points)
    if study.max_percent is not None and backbone:
        return study.max_percent * backbone / 100
    return None


def pareto_record(
    studies: Sequence[StudyTrials], color_by: str = "family", objectives: Sequence[str] | None = None
) -> ParetoRecord:
    """Every design, the front flagged under the studies' (shared) objectives, labels placed."""
    objectives = tuple(objectives or common_objectives(studies) or DEFAULT_OBJECTIVES)
    points = [p.model_copy(update={"color": color_label(p, color_by)}) for p in points_of(studies)]
    ordered = sorted((p for p in points if p.on_front), key=lambda p: (p.delta_params, -p.score))
    full = [p.score for p in points if p.family == "full"]
    budget = _budget(studies, points)
    record = ParetoRecord(
        color_by=color_by,
        objectives=list(objectives),
        points=points,
        front=[(p.study, p.number) for p in ordered],
        full_finetuning=max(full) if full else None,
        budget_params=budget,
    )
    return _place_labels(record) if points else record


def _y_range(record: ParetoRecord) -> tuple[float, float]:
    """The scores shown, with the front's intervals as far as a quarter of their span beyond."""
    scores = [p.score for p in record.points]
    if record.full_finetuning is not None:
        scores.append(record.full_finetuning)
    low, high = min(scores), max(scores)
    reach = 0.25 * (high - low) or 0.01
    front = [p for p in record.points if p.on_front]
    low = max(low - reach, min([low, *(p.score_low for p in front if p.score_low is not None)]))
    high = min(high + reach, max([high, *(p.score_high for p in front if p.score_high is not None)]))
    pad = 0.04 * (high - low) or 0.01
    return low - pad, high + pad


def _place_labels(record: ParetoRecord) -> ParetoRecord:
    """Labels for front points and presets, spread in score units over a fixed-height plot."""
    named = sorted(
        (p for p in record.points if p.on_front or p.preset), key=lambda p: (p.score, p.delta_params)
    )
    low, high = _y_range(record)
    height = max(MIN_HEIGHT, MARGIN["t"] + MARGIN["b"] + LABEL_GAP_PX * (len(named) + 2))
    plot_px = height - MARGIN["t"] - MARGIN["b"]
    gap = LABEL_GAP_PX * (high - low) / plot_px
    placed = spread([p.score for p in named], low, high, gap)
    xs = [math.log10(_x(p)) for p in record.points]
    if record.budget_params:
        xs.append(math.log10(record.budget_params))
    labels = [
        Label(study=p.study, number=p.number, text=label_text(p), x=_x(p), y=p.score, label_y=y)
        for p, y in zip(named, placed, strict=True)
    ]
    return record.model_copy(
        update={
            "labels": labels,
            "height": height,
            "y_range": (low, high),
            "x_range": (min(xs) - 0.25, max(xs) + 0.25),
        }
    )


def _score_line(point: Point) -> str:
    if point.score_high is None or point.score_low is None:
        return f"score {point.score:.4f} (1 seed: no interval)"
    seeds = ", ".join(f"{s:.4f}" for _, s in sorted(point.seed_scores.items()))
    return (
        f"score {point.score:.4f} ± {point.score_high - point.score:.4f} "
        f"(95% interval [{point.score_low:.4f}, {point.score_high:.4f}], {point.seeds} seeds: {seeds})"
    )


def hover(point: Point) -> str:
    percent = f" ({point.percent:.4g}% of the backbone)" if point.percent is not None else ""
    preset = f" · preset {text(point.preset)}" if point.preset else ""
    trials = ", ".join(str(n) for n in point.numbers)
    run = [
        f"{point.steps} steps" if point.steps is not None else "",
        f"rung {point.rung}" if point.rung is not None else "",
    ]
    lines = [
        f"<b>{text(point.method_name)}</b> — {text(point.family)}{preset}",
        _score_line(point),
        f"{point.delta_params:,} delta parameters{percent}",
        f"study {text(point.study)}, trial{'s' if len(point.numbers) > 1 else ''} {trials}"
        + "".join(f" · {r}" for r in run if r),
        *(text(line) for line in point.method.splitlines()[1:]),
    ]
    return "<br>".join(lines)


def _errors(points: list[Point]) -> dict[str, Any]:
    return {
        "type": "data",
        "symmetric": False,
        "array": [(p.score_high - p.score) if p.score_high is not None else 0.0 for p in points],
        "arrayminus": [(p.score - p.score_low) if p.score_low is not None else 0.0 for p in points],
        "thickness": 1.2,
        "width": 3,
    }


def _scatter(points: list[Point], color: str, name: str, front: bool, legend: bool) -> go.Scatter:
    return go.Scatter(
        x=[_x(p) for p in points],
        y=[p.score for p in points],
        error_y=_errors(points) if front else None,
        mode="markers",
        name=text(name),
        legendgroup=text(name),
        showlegend=legend,
        marker={"color": color, "size": 10 if front else 8, "opacity": 1.0 if front else 0.3},
        text=[hover(p) for p in points],
        customdata=[[p.study, p.number] for p in points],
        hovertemplate="%{text}<extra></extra>",
        meta={"role": "trials", "front": front},
    )


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


def _front_trace(record: ParetoRecord) -> go.Scatter:
    """The front: a step line for score against parameters; rings round the points otherwise."""
    by_key = {(p.study, p.number): p for p in record.points}
    front = [by_key[key] for key in record.front]
    two_d = sorted(record.objectives) == sorted(DEFAULT_OBJECTIVES)
    name = "Pareto front" + ("" if two_d else f" ({', '.join(record.objectives)})")
    style: dict[str, Any] = (
        {"mode": "lines", "line_shape": "hv", "line": {"color": "#444", "width": 1.5}}
        if two_d
        else {"mode": "markers", "marker": {"symbol": "circle-open", "size": 17, "color": "#444"}}
    )
    return go.Scatter(
        x=[_x(p) for p in front],
        y=[p.score for p in front],
        name=text(name),
        hoverinfo="skip",
        customdata=[[p.study, p.number] for p in front],
        meta={"role": "front"},
        **style,
    )


def _label_annotations(record: ParetoRecord) -> list[dict[str, Any]]:
    assert record.x_range is not None
    return [
        {
            "x": math.log10(label.x),
            "y": label.y,
            "xref": "x",
            "yref": "y",
            "ax": record.x_range[1],
            "ay": label.label_y,
            "axref": "x",
            "ayref": "y",
            "text": text(label.text),
            "xanchor": "left",
            "yanchor": "middle",
            "showarrow": True,
            "arrowhead": 0,
            "arrowwidth": 0.7,
            "arrowcolor": "#999",
            "font": {"size": LABEL_FONT},
            "standoff": 4,
            "name": f"label:{label.study}:{label.number}",
        }  # fmt: skip
        for label in record.labels
    ]


def pareto_figure(record: ParetoRecord, title: str = "Pareto front") -> go.Figure:
    fig = go.Figure()
    palette = colors(p.color for p in record.points)
    for label, color in palette.items():
        group = [p for p in record.points if p.color == label]
        has_front = any(p.on_front for p in group)
        for front in (False, True):
            chosen = [p for p in group if p.on_front == front]
            if chosen:  # one legend entry per group: its front points' when it has any
                fig.add_trace(_scatter(chosen, color, label, front, legend=front or not has_front))
    fig.add_trace(_front_trace(record))
    presets = [p for p in record.points if p.preset]
    if presets:
        fig.add_trace(
            go.Scatter(
                x=[_x(p) for p in presets],
                y=[p.score for p in presets],
                mode="markers",
                name="published presets",
                text=[text(p.preset) for p in presets],
                marker={"symbol": "star-open", "size": 16, "color": "#000"},
                hoverinfo="skip",
                customdata=[[p.study, p.number] for p in presets],
                meta={"role": "presets"},
            )
        )
    if record.full_finetuning is not None:
        fig.add_hline(
            y=record.full_finetuning, line_dash="dash", line_color="#888",
            annotation_text="full fine-tuning", annotation_position="bottom left",
        )  # fmt: skip
    if record.budget_params is not None:
        fig.add_vline(
            x=record.budget_params, line_dash="dot", line_color="#b00",
            annotation_text=f"budget {_si(record.budget_params)}", annotation_position="top left",
            annotation_font_color="#b00",
        )  # fmt: skip
    plot_px = record.height - MARGIN["t"] - MARGIN["b"]
    legend = {
        "title": {"text": text(record.color_by)}, "orientation": "h", "y": -LEGEND_DROP_PX / plot_px,
        "yanchor": "top",
    }  # fmt: skip
    margin = {**MARGIN, "autoexpand": False}
    fig.update_layout(**layout(title, legend=legend, height=record.height, margin=margin))
    for annotation in _label_annotations(record) if record.labels else []:
        fig.add_annotation(**annotation)
    fig.update_xaxes(type="log", title_text=PARAMS_TITLE)
    fig.update_yaxes(title_text=SCORE_TITLE)
    if record.x_range is not None and record.y_range is not None:
        fig.update_xaxes(range=list(record.x_range))
        fig.update_yaxes(range=list(record.y_range))
    if not record.points:
        fig.add_annotation(
            text="no complete trial yet", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    backbone = backbone_size(record.points)
    if record.points and backbone:
        _percent_ticks(fig, record.points, backbone)
    return fig


def plot_pareto(
    trials: Sequence[Any], color_by: str = "family", title: str = "Pareto front", name: str = "study"
) -> go.Figure:
    """The front of bare trials (score against delta parameters)."""
    return pareto_figure(pareto_record([StudyTrials(name, trials)], color_by), title)


def front_keys(fig: go.Figure) -> list[Any]:
    """The (study, number) pairs of the figure's front trace (what tests and pages read)."""
    trace = next(t for t in fig.data if (t.meta or {}).get("role") == "front")
    return [tuple(c) for c in trace.customdata]
