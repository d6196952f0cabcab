"""Hypervolume against trials and against training time, one line per study.

The hypervolume is the area a study's points dominate in (log10 of the percent of the backbone
trained, minimised) × (score, maximised), up to the reference point (2, i.e. the whole
backbone; the lowest score shown, or 0). All studies on one figure share the reference, so their
lines compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from pydantic import BaseModel, ConfigDict

from deltaspace.storage.records import TrialRecord

from .records import hypervolume, log_percent
from .style import colors, layout, text

FINISHED = ("complete", "pruned", "failed", "infeasible")


class HypervolumeCurve(BaseModel):
    model_config = ConfigDict(frozen=True)
    study: str
    trials: list[int]  # trials finished so far (1, 2, ...)
    seconds: list[float]  # training seconds spent so far
    hypervolume: list[float]


class HypervolumeRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    reference: tuple[float, float]
    curves: list[HypervolumeCurve]


def hypervolume_record(studies: Mapping[str, Sequence[TrialRecord]]) -> HypervolumeRecord:
    """Each study's hypervolume after each finished trial (in trial-number order)."""
    scores = [
        t.score for ts in studies.values() for t in ts if t.status == "complete" and t.score is not None
    ]
    reference = (2.0, min([0.0, *scores]))
    curves = []
    for name, trials in studies.items():
        done = sorted((t for t in trials if t.status in FINISHED), key=lambda t: t.number)
        points: list[tuple[float, float]] = []
        seconds, spent, volumes = [], 0.0, []
        for t in done:
            spent += t.train_seconds or 0.0
            if t.status == "complete" and t.score is not None:
                points.append((log_percent(t.percent), t.score))
            seconds.append(spent)
            volumes.append(hypervolume(points, reference))
        curves.append(
            HypervolumeCurve(
                study=name, trials=list(range(1, len(done) + 1)), seconds=seconds, hypervolume=volumes
            )
        )
    return HypervolumeRecord(reference=reference, curves=curves)


def hypervolume_figure(record: HypervolumeRecord, title: str = "Hypervolume") -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("against trials", "against training time"))
    palette = colors(c.study for c in record.curves)
    for curve in record.curves:
        for col, x in ((1, curve.trials), (2, curve.seconds)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=curve.hypervolume,
                    mode="lines+markers",
                    line_shape="hv",
                    name=text(curve.study),
                    legendgroup=text(curve.study),
                    showlegend=col == 1,
                    line={"color": palette[curve.study]},
                    meta={"role": "hypervolume", "study": curve.study},
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="trials", row=1, col=1)
    fig.update_xaxes(title_text="training seconds", row=1, col=2)
    fig.update_yaxes(title_text="hypervolume (score × decades of parameters)", row=1, col=1)
    return fig.update_layout(**layout(title))


def plot_hypervolume(studies: Mapping[str, Sequence[TrialRecord]]) -> go.Figure:
    return hypervolume_figure(hypervolume_record(studies))
