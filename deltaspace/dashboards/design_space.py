"""The design space analysed: for each dimension, the distribution of scores of the designs that
use each value (Radosavovic et al. 2019, "On Network Design Spaces for Visual Recognition";
Chen et al. 2023, "Parameter-Efficient Fine-Tuning Design Spaces").

Each dimension (form, position, insertion, composition, size, layers) gets one panel with one
empirical distribution function per value: ``F(x)``, the share of the value's designs scoring at
most ``x``; a curve further right is a better value. A design is one point (its seed mean), and a
combined method counts for every value it uses: MAM is in both the prefix and the bottleneck
curve, never in a "bottleneck+prefix" one. Optionally only designs within a band of the
backbone's percent are kept, so that "parallel beats sequential at ~1% parameters" is read off
one figure. Sizes (whose meaning is the form's: rank, width, length) are grouped into ranges
when they take more than ``MAX_SIZES`` values.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict

from deltaspace.stats import empirical_cdf

from .records import DESIGN_DIMENSIONS, Point, StudyTrials, natural_key, points_of
from .style import SCORE_TITLE, colors, layout, text

MAX_SIZES = 6
COLS = 2
LEGEND_SPACE = 0.24  # between the columns, in parts of the width: the left panels' legends


def in_band(points: Sequence[Point], band: tuple[float, float] | None) -> list[Point]:
    """The points whose percent of the backbone lies in ``[low, high)`` (all without a band)."""
    if band is None:
        return list(points)
    low, high = band
    return [p for p in points if p.percent is not None and low <= p.percent < high]


def band_text(band: tuple[float, float] | None) -> str:
    return "" if band is None else f" (designs with {band[0]:g}% to {band[1]:g}% of the backbone)"


def size_range(size: int) -> str:
    """The power-of-four range a size falls in: 1-4, 5-16, 17-64, ..."""
    high = 4
    while size > high:
        high *= 4
    return f"{high // 4 + 1 if high > 4 else 1}-{high}"


def dimension_groups(points: Sequence[Point], dim: str) -> dict[str, list[Point]]:
    """The points that use each value of ``dim`` (a point is in every group it uses)."""
    numeric = dim == "size" and len({v for p in points for v in p.dim_values.get(dim, ())}) > MAX_SIZES
    groups: dict[str, list[Point]] = {}
    for p in points:
        values = p.dim_values.get(dim, [])
        for value in dict.fromkeys(size_range(int(v)) if numeric else v for v in values):
            groups.setdefault(value, []).append(p)
    return {value: groups[value] for value in sorted(groups, key=natural_key)}


class Curve(BaseModel):
    """One value's EDF: scores ascending and the share of its designs at or below each."""

    model_config = ConfigDict(frozen=True)
    value: str
    n: int
    scores: list[float]
    shares: list[float]
    numbers: list[tuple[str, int]]  # the designs it holds


class EdfRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    band: tuple[float, float] | None
    panels: dict[str, list[Curve]]


def edf_record(
    studies: Sequence[StudyTrials],
    dimensions: Sequence[str] = DESIGN_DIMENSIONS,
    band: tuple[float, float] | None = None,
) -> EdfRecord:
    points = in_band(points_of(studies), band)
    panels = {}
    for dim in dimensions:
        curves = []
        for value, group in dimension_groups(points, dim).items():
            scores, shares = empirical_cdf([p.score for p in group])
            numbers = [(p.study, p.number) for p in group]
            curves.append(Curve(value=value, n=len(group), scores=scores, shares=shares, numbers=numbers))
        panels[dim] = curves
    return EdfRecord(band=band, panels=panels)


def _steps(curve: Curve) -> tuple[list[float], list[float]]:
    """The EDF drawn from 0 to its first score, then up each step."""
    if not curve.scores:
        return [], []
    return [curve.scores[0], *curve.scores], [0.0, *curve.shares]


def edf_figure(record: EdfRecord, title: str = "Score distribution per dimension value") -> go.Figure:
    dims = list(record.panels)
    rows = max(1, -(-len(dims) // COLS))
    fig = make_subplots(
        rows=rows, cols=COLS, subplot_titles=[text(d) for d in dims], vertical_spacing=0.3 / rows,
        horizontal_spacing=LEGEND_SPACE,
    )  # fmt: skip
    legends = {}
    for i, dim in enumerate(dims):
        row, col = i // COLS + 1, i % COLS + 1
        legend = "legend" if i == 0 else f"legend{i + 1}"
        palette = colors(c.value for c in record.panels[dim])
        for curve in record.panels[dim]:
            x, y = _steps(curve)
            fig.add_trace(
                go.Scatter(
                    x=x, y=y, mode="lines", line_shape="hv", line={"color": palette[curve.value], "width": 2},
                    name=text(f"{curve.value} (n={curve.n})"), legend=legend,
                    hovertemplate=text(f"{dim} {curve.value}") + ": %{y:.0%} of "
                    + f"{curve.n} designs score ≤ %{{x:.4f}}<extra></extra>",
                    meta={"role": "edf", "dimension": dim, "value": curve.value},
                ),
                row=row, col=col,
            )  # fmt: skip
        subplot = fig.get_subplot(row, col)
        legends[legend] = {  # beside its panel, in the space between the columns (or the margin)
            "x": subplot.xaxis.domain[1] + 0.01, "y": subplot.yaxis.domain[1], "xanchor": "left",
            "yanchor": "top", "font": {"size": 10}, "title": {"text": text(dim)},
        }  # fmt: skip
    scores = [x for curves in record.panels.values() for c in curves for x in c.scores]
    if scores:  # a little room either side, so that a step at the extreme score stays visible
        pad = 0.03 * (max(scores) - min(scores)) or 0.01
        fig.update_xaxes(range=[min(scores) - pad, max(scores) + pad])
    fig.update_xaxes(title_text=SCORE_TITLE)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_yaxes(title_text="share of designs ≤ score", col=1)
    fig.update_layout(
        **layout(title + band_text(record.band), height=360 * rows, margin={"r": 190}), **legends
    )
    return fig
