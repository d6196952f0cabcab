"""A study's designs and their Pareto front: the one definition ``status``, ``report``, ``serve``,
``export --pareto`` and the bench read.

A *design* is one method trained one way: the complete trials that share the canonical method
JSON and every training setting except the seed (and the thread count, which changes no result).
Its score is the mean over its seeds with a 95% Student-t interval (`deltaspace.stats`); the
seeds come from its trials (one per seed, as the bench stores them) or from a trial's
``score_seed<N>`` metrics (a study with several ``seeds`` trains them all in one trial). Its other
objectives (parameters, latency, memory) are the median over its trials.

The front is `deltaspace.stats.non_dominated` over the study's objectives and directions
(``objectives`` in the study file; score and delta parameters when the file names none), so a
study optimising ``[score, delta_params, latency_ms]`` shows one front everywhere.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import yaml

from ..space.study import OBJECTIVES
from ..stats import Interval, non_dominated, seed_interval
from ..storage import Storage, TrialRecord
from ..trainers.settings import EXECUTION_SETTINGS

DEFAULT_OBJECTIVES = ("score", "delta_params")
REPLICATE_SETTINGS = EXECUTION_SETTINGS | {"seed"}
SEED_METRIC = re.compile(r"score_seed(-?\d+)")


@dataclass(frozen=True)
class Design:
    """One design of a study: its trials (first by number), seed scores and objective values."""

    study: str
    trials: tuple[TrialRecord, ...]
    seeds: dict[int, float]
    interval: Interval
    objectives: dict[str, float]
    on_front: bool = False

    @property
    def trial(self) -> TrialRecord:
        """The design's first trial: the one exports and links name."""
        return self.trials[0]

    @property
    def number(self) -> int:
        return self.trials[0].number

    @property
    def numbers(self) -> list[int]:
        return [t.number for t in self.trials]

    @property
    def method_name(self) -> str:
        return self.trials[0].method_name

    @property
    def score(self) -> float:
        return self.interval.mean


def objective_value(record: TrialRecord, objective: str) -> float | None:
    value = getattr(record, OBJECTIVES[objective][1])
    return None if value is None else float(value)


def seed_scores(trial: TrialRecord) -> dict[int, float]:
    """The trial's score per seed: its ``score_seed<N>`` metrics, else its one seed's score."""
    found = {int(m[1]): float(v) for k, v in trial.metrics.items() if (m := SEED_METRIC.fullmatch(k))}
    if found:
        return found
    return {} if trial.score is None else {trial.seed: float(trial.score)}


def design_key(trial: TrialRecord) -> tuple[str, str, str]:
    """What makes two trials one design: study, canonical method, training except the seed."""
    training = {k: v for k, v in trial.training.items() if k not in REPLICATE_SETTINGS}
    return trial.study_name, trial.method_json, json.dumps(training, sort_keys=True, default=str)


def study_objectives(spec_yaml: str) -> tuple[str, ...]:
    """The objectives a stored study file names, read leniently (a bench study stores no full
    study file): its ``objectives`` when they are all known, else score and delta parameters."""
    try:
        data = yaml.safe_load(spec_yaml)
    except yaml.YAMLError:
        return DEFAULT_OBJECTIVES
    named = data.get("objectives") if isinstance(data, dict) else None
    if isinstance(named, list) and named and all(isinstance(o, str) and o in OBJECTIVES for o in named):
        return tuple(named)
    return DEFAULT_OBJECTIVES


def designs(trials: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES) -> list[Design]:
    """The complete trials with every objective measured, grouped into designs, front flagged."""
    groups: dict[tuple[str, str, str], list[TrialRecord]] = {}
    for t in sorted(trials, key=lambda t: (t.study_name, t.number)):
        if t.status == "complete" and all(objective_value(t, o) is not None for o in objectives):
            groups.setdefault(design_key(t), []).append(t)
    out = []
    for members in groups.values():
        seeds: dict[int, float] = {}
        for t in members:
            for seed, score in seed_scores(t).items():
                seeds.setdefault(seed, score)
        interval = seed_interval(list(seeds.values()))
        values = {o: _value(members, o, interval) for o in objectives}
        out.append(Design(members[0].study_name, tuple(members), seeds, interval, values))
    directions = [OBJECTIVES[o][0] for o in objectives]
    front = set(non_dominated([[d.objectives[o] for o in objectives] for d in out], directions))
    return [replace(d, on_front=i in front) for i, d in enumerate(out)]


def _value(members: list[TrialRecord], objective: str, interval: Interval) -> float:
    if objective == "score":
        return interval.mean
    return statistics.median(float(getattr(t, OBJECTIVES[objective][1])) for t in members)


def pareto_front(
    trials: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES
) -> list[Design]:
    """The designs on the front, best score first (ties: fewer parameters, then trial number)."""
    front = [d for d in designs(trials, objectives) if d.on_front]
    return sorted(front, key=lambda d: (-d.score, d.trial.delta_params or 0, d.number))


def interval_text(design: Design, digits: int = 4) -> str:
    """``0.8123 ± 0.0150 (3 seeds)``, or ``0.8123 (1 seed)``."""
    n = design.interval.n
    spread = f" ± {design.interval.half_width:.{digits}f}" if design.interval.half_width is not None else ""
    return f"{design.score:.{digits}f}{spread} ({n} seed{'s' if n != 1 else ''})"


def front_row(design: Design, objectives: Sequence[str]) -> dict[str, Any]:
    """One front design as ``status --json`` prints it."""
    return {
        "number": design.number,
        "trials": design.numbers,
        "method": design.method_name,
        **{o: design.objectives[o] for o in objectives},
        "score_low": design.interval.low,
        "score_high": design.interval.high,
        "seeds": design.interval.n,
        "percent": design.trial.percent,
        "steps": design.trial.steps,
        "rung": design.trial.rung,
        "params": design.trial.params,
    }


def status_record(storage: Storage, name: str, objectives: Sequence[str] | None = None) -> dict[str, Any]:
    """Counts by status, the trial target, and the current front of study ``name`` (under
    ``objectives``; by default those its stored file names)."""
    record = storage.get_study(name)
    objectives = tuple(objectives or study_objectives(record.spec_yaml))
    trials = storage.list_trials(name)
    counts = {s: 0 for s in ("complete", "pruned", "infeasible", "failed", "running")}
    for t in trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    done = sum(n for s, n in counts.items() if s != "running")
    return {
        "warnings": step_warnings(trials),
        "study": name,
        "status": record.status,
        "n_trials": record.n_trials_target,
        "done": done,
        "counts": counts,
        "objectives": list(objectives),
        "front": [front_row(d, objectives) for d in pareto_front(trials, objectives)],
        "rungs": rung_counts(storage, name),
    }


def rung_counts(storage: Storage, name: str) -> list[dict[str, Any]]:
    """Per rung of a promoted study: its budget and its rows by status (empty without promotion)."""
    out: dict[int, dict[str, Any]] = {}
    for row in storage.list_rungs(name):
        cell = out.setdefault(row.rung, {"rung": row.rung, "steps": row.steps, "pending": 0, "running": 0,
                                         "complete": 0, "failed": 0})  # fmt: skip
        cell[row.status] += 1
    return [out[k] for k in sorted(out)]


def step_warnings(trials: Sequence[Any]) -> list[str]:
    """A warning when the study's complete trials trained different numbers of steps: their scores
    then measure their budgets as well as their designs (a wall-time limit on a busy machine, or
    early stopping)."""
    rungs = {getattr(t, "rung", None) for t in trials}
    if len(rungs) > 1:  # a promoted study: budgets differ by rung on purpose; compare within one
        return [w for r in sorted(rungs, key=lambda r: -1 if r is None else r)
                for w in step_warnings([t for t in trials if getattr(t, "rung", None) == r])]  # fmt: skip
    steps = sorted({t.steps for t in trials if t.status == "complete" and t.steps is not None})
    if len(steps) <= 1:
        return []
    cut = [t for t in trials if t.status == "complete" and t.result is not None and t.result.stop_reason]
    why = f"; e.g. trial {cut[0].number}: {cut[0].result.stop_reason}" if cut else ""
    return [
        f"complete trials trained different numbers of steps ({steps[0]} to {steps[-1]}): "
        f"scores compare budgets as well as designs{why}"
    ]
