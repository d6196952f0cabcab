"""The Pareto front of a study's complete trials, and its status as one plain record.

``status_record`` is what ``deltaspace status --json`` prints and what the progress display
draws: counts by status, the target, and the non-dominated complete trials under the study's
objectives (score up, the others down).
"""

from __future__ import annotations

from typing import Any

from ..space.study import OBJECTIVES, StudySpec
from ..storage import Storage, TrialRecord


def objective_value(record: TrialRecord, objective: str) -> float | None:
    value = getattr(record, OBJECTIVES[objective][1])
    return None if value is None else float(value)


def pareto_front(records: list[TrialRecord], objectives: tuple[str, ...]) -> list[TrialRecord]:
    """Complete trials that no other complete trial beats on every objective, best score first."""
    signs = [1.0 if OBJECTIVES[o][0] == "maximize" else -1.0 for o in objectives]
    points = []
    for record in records:
        values = [objective_value(record, o) for o in objectives]
        if record.status == "complete" and None not in values:
            points.append((record, [s * v for s, v in zip(signs, values, strict=True) if v is not None]))

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and a != b

    front = [r for r, p in points if not any(dominates(q, p) for _, q in points)]
    return sorted(front, key=lambda r: -(r.score or 0.0))


def status_record(storage: Storage, spec: StudySpec) -> dict[str, Any]:
    """Counts by status, the trial target, and the current front of ``spec``'s study."""
    record = storage.get_study(spec.name)
    trials = storage.list_trials(spec.name)
    counts = {s: 0 for s in ("complete", "pruned", "infeasible", "failed", "running")}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    front = [
        {
            "number": t.number,
            "method": t.method_name,
            **{o: objective_value(t, o) for o in spec.objectives},
            "percent": t.percent,
            "params": t.params,
        }
        for t in pareto_front(trials, spec.objectives)
    ]
    done = sum(n for s, n in counts.items() if s != "running")
    return {
        "study": spec.name,
        "status": record.status,
        "n_trials": record.n_trials_target,
        "done": done,
        "counts": counts,
        "objectives": list(spec.objectives),
        "front": front,
    }
