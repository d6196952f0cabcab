"""A trial's learning curve: its intermediate scores against optimiser steps, one line per seed
(and rung, when the study promotes) of its design.

The points of a finished trial are its result's evaluation curve; those of a running or pruned
trial the intermediate scores it reported (``ds_intermediate``). Each seed of the design is a
line: a design run as one trial per seed shows them all; a trial that trained several seeds
itself reported the first seed's curve only, and its other seeds' final scores are points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict

from deltaspace.storage.records import IntermediatePoint, TrialRecord

from .records import rung_of
from .style import SCORE_TITLE, colors, layout, text


class Series(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: str
    number: int
    seed: int
    rung: int | None
    steps: list[int]
    scores: list[float]


class FinalScore(BaseModel):
    """A seed's final score with no curve (the other seeds of a multi-seed trial)."""

    model_config = ConfigDict(frozen=True)
    seed: int
    step: int | None
    score: float


class CurveRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    number: int  # the trial the page is about
    series: list[Series]
    finals: list[FinalScore] = []


def trial_curve(trial: TrialRecord, reported: Sequence[IntermediatePoint]) -> tuple[list[int], list[float]]:
    """The trial's (steps, scores): its result's evaluation curve, else what it reported."""
    result = trial.result
    if result is not None and result.eval_curve:
        return [p.step for p in result.eval_curve], [p.score for p in result.eval_curve]
    return [p.step for p in reported], [p.score for p in reported]


def curve_record(
    number: int,
    trials: Sequence[TrialRecord],
    reported: Mapping[int, Sequence[IntermediatePoint]],
    seed_scores: Mapping[int, float] | None = None,
) -> CurveRecord:
    """Curves of ``trials`` (the trial ``number`` and the other seeds of its design), with the
    final scores of seeds no trial drew a curve for."""
    series = []
    for t in sorted(trials, key=lambda t: (rung_of(t) or 0, t.seed, t.number)):
        steps, scores = trial_curve(t, reported.get(t.number, ()))
        rung = rung_of(t)
        label = f"trial {t.number}, seed {t.seed}" + (f", rung {rung}" if rung is not None else "")
        series.append(
            Series(label=label, number=t.number, seed=t.seed, rung=rung, steps=steps, scores=scores)
        )
    drawn = {s.seed for s in series if s.scores}
    last_step = max((s.steps[-1] for s in series if s.steps), default=None)
    finals = [
        FinalScore(seed=seed, step=last_step, score=score)
        for seed, score in sorted((seed_scores or {}).items())
        if seed not in drawn
    ]
    return CurveRecord(number=number, series=series, finals=finals)


def curve_figure(record: CurveRecord, title: str = "Learning curve") -> go.Figure:
    fig = go.Figure()
    palette = colors(s.label for s in record.series)
    for s in record.series:
        fig.add_trace(
            go.Scatter(
                x=s.steps, y=s.scores, mode="lines+markers", name=text(s.label),
                line={"color": palette[s.label], "width": 3 if s.number == record.number else 1.5},
                hovertemplate=text(s.label) + ": step %{x}, score %{y:.4f}<extra></extra>",
                meta={"role": "curve", "number": s.number, "seed": s.seed},
            )
        )  # fmt: skip
    if record.finals:
        fig.add_trace(
            go.Scatter(
                x=[f.step for f in record.finals], y=[f.score for f in record.finals], mode="markers",
                name="other seeds (final score)", marker={"symbol": "diamond", "size": 10, "color": "#444"},
                text=[f"seed {f.seed}" for f in record.finals],
                hovertemplate="%{text}: final score %{y:.4f}<extra></extra>", meta={"role": "finals"},
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="optimiser steps")
    fig.update_yaxes(title_text=SCORE_TITLE)
    return fig.update_layout(**layout(title, height=420))
