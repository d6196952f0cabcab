"""Which trials to export: the best, the Pareto front, or one by number.

The front is the study's (`deltaspace.search.pareto`: designs, seed means, the study's
objectives and directions), the same one ``status`` and the dashboards show; each front design
is exported as its first trial. The best is the design with the highest seed mean (ties: fewer
delta parameters, then the earlier trial).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from deltaspace.search.pareto import DEFAULT_OBJECTIVES, Design, designs, pareto_front
from deltaspace.space.errors import DeltaspaceError
from deltaspace.storage.records import TrialRecord

Selection = Literal["best", "pareto", "trial"]


def pareto_trials(
    trials: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES
) -> list[TrialRecord]:
    """The first trial of each design on the front, fewest parameters first."""
    front = pareto_front(trials, objectives)
    return [d.trial for d in sorted(front, key=lambda d: (d.trial.delta_params or 0, d.number))]


def best_design(trials: Sequence[TrialRecord]) -> Design | None:
    """The design with the highest seed mean, or None when no trial completed with a score."""
    candidates = designs(trials, DEFAULT_OBJECTIVES)
    if not candidates:
        return None
    return max(candidates, key=lambda d: (d.score, -(d.trial.delta_params or 0), -d.number))


def select_trials(
    trials: Sequence[TrialRecord],
    selection: Selection = "best",
    number: int | None = None,
    objectives: Sequence[str] = DEFAULT_OBJECTIVES,
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
    best = best_design(trials)
    if best is None:
        raise DeltaspaceError("the study has no complete trial with a score yet: nothing to export")
    if selection == "pareto":
        front = pareto_trials(trials, objectives)
        if not front:
            raise DeltaspaceError(
                f"no complete trial measured every objective ({', '.join(objectives)}): no front to export"
            )
        return front
    return [best.trial]
