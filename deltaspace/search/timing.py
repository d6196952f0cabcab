"""Where a study's time went: per-phase means over its complete trials (``status --timing``).

Phases come from each result's ``phase_seconds`` (`deltaspace.trainers.measure.PhaseClock`).
``row_seconds`` is the wall time between a trial's ``started_at`` and ``finished_at`` rows, so it
also holds what the result cannot measure of itself (the writes around it); ``outside_share``
is the share of that time not spent training or evaluating. A promoted study is timed over its
rungs' results (`rung_results`): each rung is a run of its own, and a trial's row spans the wait
between its rungs, so rows are not timed there.
"""

from __future__ import annotations

import statistics
from typing import Any

TRAINING_PHASES = ("train", "evaluate", "evaluate_full")


def rung_results(rungs: list[Any]) -> list[Any]:
    """The results of a promoted study's complete rungs (its rows of ``ds_rungs``)."""
    return [r.result for r in rungs if r.status == "complete" and r.result is not None]


def timing_record(trials: list[Any], results: list[Any] | None = None) -> dict[str, Any]:
    """Mean seconds per phase, each phase's share of the trial wall time, and the share outside
    training and evaluation, over the trials that finished with phase timings (or over
    ``results``, the runs of a promoted study's rungs, when given)."""
    if results is None:
        timed = [t for t in trials if t.status == "complete" and t.result is not None and t.result.phase_seconds]
        phases = [t.result.phase_seconds for t in timed]
    else:
        timed = []
        phases = [r.phase_seconds for r in results if r.phase_seconds]
    if not phases:
        return {"unit": "trial", "trials": 0, "phases": {}, "wall_seconds": None, "row_seconds": None, "outside_share": None}
    names = list(dict.fromkeys(k for p in phases for k in p if k != "wall"))
    wall = statistics.fmean(p.get("wall", 0.0) for p in phases)
    means = {k: statistics.fmean(p.get(k, 0.0) for p in phases) for k in names}
    rows = [
        (t.finished_at - t.started_at).total_seconds() for t in timed if t.started_at and t.finished_at
    ]
    row_seconds = statistics.fmean(rows) if rows else None
    total = max(row_seconds or 0.0, wall)
    inside = sum(means.get(k, 0.0) for k in TRAINING_PHASES)
    return {
        "unit": "trial" if results is None else "rung run",
        "trials": len(phases),
        "phases": {k: {"seconds": v, "share": v / total if total else 0.0} for k, v in means.items()},
        "wall_seconds": wall,
        "row_seconds": row_seconds,
        "outside_share": (total - inside) / total if total else None,
    }
