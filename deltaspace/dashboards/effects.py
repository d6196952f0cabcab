"""The marginal effect of each dimension value: the mean score of the designs that use it, with
the 95% Student-t interval of that mean (`deltaspace.stats.seed_interval` over the designs' seed
means), one panel per dimension. Designs are grouped as in ``design_space.py``: a combined method
counts for every value it uses, and an optional band of the backbone's percent keeps comparable
designs. A value with one design has no interval."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict

from deltaspace.stats import seed_interval

from .design_space import band_text, dimension_groups, in_band
from .records import DESIGN_DIMENSIONS, StudyTrials, points_of
from .style import SCORE_TITLE, layout, text

COLS = 2


class Effect(BaseModel):
    model_config = ConfigDict(frozen=True)
    value: str
    n: int
    mean: float
    low: float | None
    high: float | None


class EffectsRecord(BaseModel):
    """For each dimension, each value's mean score over its designs and its interval."""

    model_config = ConfigDict(frozen=True)
    band: tuple[float, float] | None
    panels: dict[str, list[Effect]]


def effects_record(
    studies: Sequence[StudyTrials],
    dimensions: Sequence[str] = DESIGN_DIMENSIONS,
    band: tuple[float, float] | None = None,
) -> EffectsRecord:
    points = in_band(points_of(studies), band)
    panels = {}
    for dim in dimensions:
        effects = []
        for value, group in dimension_groups(points, dim).items():
            interval = seed_interval([p.score for p in group])
            effects.append(
                Effect(value=value, n=len(group), mean=interval.mean, low=interval.low, high=interval.high)
            )
        panels[dim] = effects
    return EffectsRecord(band=band, panels=panels)


def _y_range(effects: list[Effect]) -> list[float] | None:
    """The means with their intervals, which may reach no further than the spread of the means
    (at least 0.05) beyond them: a value with two designs can have an interval wider than the
    scale, and it would flatten the others."""
    if not effects:
        return None
    means = [e.mean for e in effects]
    reach = max(max(means) - min(means), 0.05)
    low = max(min(means) - reach, min(e.low if e.low is not None else e.mean for e in effects))
    high = min(max(means) + reach, max(e.high if e.high is not None else e.mean for e in effects))
    pad = 0.05 * (high - low) or 0.01
    return [low - pad, high + pad]


def effects_figure(
    record: EffectsRecord, title: str = "Marginal effect of each dimension value"
) -> go.Figure:
    dims = list(record.panels)
    rows = max(1, -(-len(dims) // COLS))
    fig = make_subplots(
        rows=rows, cols=COLS, subplot_titles=[text(d) for d in dims], vertical_spacing=0.36 / rows
    )
    for i, dim in enumerate(dims):
        effects = record.panels[dim]
        fig.add_trace(
            go.Scatter(
                x=[f"{text(e.value)} (n={e.n})" for e in effects],
                y=[e.mean for e in effects],
                error_y={
                    "type": "data", "symmetric": False,
                    "array": [(e.high - e.mean) if e.high is not None else 0.0 for e in effects],
                    "arrayminus": [(e.mean - e.low) if e.low is not None else 0.0 for e in effects],
                },
                mode="markers", marker={"size": 9, "color": "#1f77b4"}, showlegend=False,
                text=[
                    f"{text(dim)} {text(e.value)}: mean {e.mean:.4f}"
                    + (f" [{e.low:.4f}, {e.high:.4f}]" if e.low is not None and e.high is not None else " (one design)")
                    + f" over {e.n} design{'s' if e.n != 1 else ''}"
                    for e in effects
                ],
                hovertemplate="%{text}<extra></extra>",
                meta={"role": "effects", "dimension": dim},
            ),
            row=i // COLS + 1, col=i % COLS + 1,
        )  # fmt: skip
        fig.update_yaxes(range=_y_range(effects), row=i // COLS + 1, col=i % COLS + 1)
    fig.update_yaxes(title_text="mean " + SCORE_TITLE)
    fig.update_xaxes(type="category", tickangle=-30)
    return fig.update_layout(**layout(title + band_text(record.band), height=340 * rows))
