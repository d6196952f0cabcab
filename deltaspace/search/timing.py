"""Where a study's time went: per-phase means over its complete trials (``status --timing``).

Phases come from each result's ``phase_seconds`` (`deltaspace.trainers.measure.PhaseClock`).
``row_seconds`` is the wall time between a trial's ``started_at`` and ``finished_at`` rows, so it
also holds what the result cannot measure of itself (the writes around it); ``outside_share``
is the share of that time not spent training or evaluating.
"""

from __future__ import annotations

import statistics
from typing import Any

TRAINING_PHASES = ("train", "evaluate", "evaluate_full")


def timing_record(trials: list[Any]) -> dict[str, Any]:
    """Mean seconds per phase, each phase's share of the trial wall time, and the share outside
    training and evaluation, over the trials that finished with phase timings."""
    timed = [t for t in trials if t.status == "complete" and t.result is not None and t.result.phase_seconds]
    if not timed:
        return {"trials": 0, "phases": {}, "wall_seconds": None, "row_seconds": None, "outside_share": None}
    phases = [t.result.phase_seconds for t in timed]
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
        "trials": len(timed),
        "phases": {k: {"seconds": v, "share": v / total if total else 0.0} for k, v in means.items()},
        "wall_seconds": wall,
        "row_seconds": row_seconds,
        "outside_share": (total - inside) / total if total else None,
    }
