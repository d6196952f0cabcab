"""Each design dimension's effect: score against delta parameters, split by the value each trial
took for insertion form, position, composition and functional form (the ablation plots of
He et al. 2022, §4). A method with several deltas is labelled by all its values ("attn_output+ffn_output")."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict

from deltaspace.storage.records import TrialRecord

from .records import DIMENSIONS, trial_points
from .style import PARAMS_TITLE, SCORE_TITLE, colors, layout, text


class EffectPoint(BaseModel):
    model_config = ConfigDict(frozen=True)
    study: str
    number: int
    delta_params: int
    score: float
    method_name: str


class EffectsRecord(BaseModel):
    """For each dimension, the points grouped by the value they took."""

    model_config = ConfigDict(frozen=True)
    groups: dict[str, dict[str, list[EffectPoint]]]


def effects_record(trials: Sequence[TrialRecord], dimensions: Sequence[str] = DIMENSIONS) -> EffectsRecord:
    groups: dict[str, dict[str, list[EffectPoint]]] = {dim: {} for dim in dimensions}
    for p in trial_points(trials):
        for dim in dimensions:
            groups[dim].setdefault(p.dims[dim], []).append(
                EffectPoint(
                    study=p.study,
                    number=p.number,
                    delta_params=p.delta_params,
                    score=p.score,
                    method_name=p.method_name,
                )
            )
    return EffectsRecord(groups={d: dict(sorted(g.items())) for d, g in groups.items()})


def effects_figure(record: EffectsRecord, title: str = "Effect of each design dimension") -> go.Figure:
    dims = list(record.groups)
    cols = 2
    rows = max(1, -(-len(dims) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[text(d) for d in dims])
    for i, dim in enumerate(dims):
        palette = colors(record.groups[dim])
        for value, points in record.groups[dim].items():
            fig.add_trace(
                go.Scatter(
                    x=[max(p.delta_params, 1) for p in points],
                    y=[p.score for p in points],
                    mode="markers",
                    name=text(f"{dim}: {value}"),
                    legendgroup=text(dim),
                    marker={"color": palette[value]},
                    text=[text(f"{p.method_name} (trial {p.number})") for p in points],
                    hovertemplate="%{text}<br>%{x:,} parameters, score %{y:.4f}<extra></extra>",
                    customdata=[[p.study, p.number] for p in points],
                    meta={"role": "trials", "dimension": dim},
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_xaxes(type="log", title_text=PARAMS_TITLE)
    fig.update_yaxes(title_text=SCORE_TITLE)
    fig.update_layout(**layout(title, height=380 * rows))
    return fig


def plot_effects(trials: Sequence[TrialRecord]) -> go.Figure:
    return effects_figure(effects_record(trials))
