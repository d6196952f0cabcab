"""Which trials to export: the best, the Pareto front, or one by number.

Objectives are deltaspace's two headline ones: the score goes up (the trainer reports the task's
primary metric, higher is better) and the delta parameters go down. A trial is on the Pareto
front when no other trial is at least as good on both and strictly better on one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from deltaspace.space.errors import DeltaspaceError
from deltaspace.storage.records import TrialRecord

Selection = Literal["best", "pareto", "trial"]


def non_dominated(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (params, score) points no other point dominates (fewer params is better,
    higher score is better), in input order. Duplicated points are all kept."""
    front = []
    for i, (params, score) in enumerate(points):
        dominated = any(p <= params and s >= score and (p < params or s > score) for p, s in points)
        if not dominated:
            front.append(i)
    return front


def scored(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Complete trials with a score and a parameter count: the ones fronts are made of."""
    return [
        t for t in trials if t.status == "complete" and t.score is not None and t.delta_params is not None
    ]


def pareto_trials(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The non-dominated complete trials, fewest parameters first."""
    points = scored(trials)
    front = [points[i] for i in non_dominated([(t.delta_params or 0, t.score or 0.0) for t in points])]
    return sorted(front, key=lambda t: (t.delta_params or 0, t.number))


def select_trials(
    trials: Sequence[TrialRecord], selection: Selection = "best", number: int | None = None
) -> list[TrialRecord]:
    """The trials an export writes; a DeltaspaceError says why when there are none."""
    if selection == "trial":
        found = [t for t in trials if t.number == number]
        if not found:
            raise DeltaspaceError(f"the study has no trial {number}; trials: {[t.number for t in trials]}")
        if found[0].status != "complete":
            raise DeltaspaceError(
                f"trial {number} is {found[0].status}; only complete trials can be exported"
            )
        return found
    candidates = scored(trials)
    if not candidates:
        raise DeltaspaceError("the study has no complete trial with a score yet: nothing to export")
    if selection == "pareto":
        return pareto_trials(candidates)
    return [max(candidates, key=lambda t: (t.score or 0.0, -(t.delta_params or 0), -t.number))]
