"""Multi-fidelity promotion for multi-objective studies: which trials go on to the next budget.

Optuna's pruners judge one objective and Ray's schedulers one metric; a PEFT study has two at
least (score up, parameters down), and a small method that scores a little less is as much the
answer as a large one that scores more. So, declared in the study file::

    search: {promotion: {rungs: [40, 120, 360], eta: 3, seeds: [0, 1, 2]}}

every trial trains ``rungs[0]`` steps (on the learning-rate schedule of the last rung, its loop
state kept in SQL); when every trial of a rung has finished, the best ``ceil(n / eta)`` of its
``n`` distinct designs by non-dominated rank and crowding distance over all of the study's
objectives (`deltaspace.stats.promotion_order`: the front first, spread along it, then the next
front: a band, so near-front points survive) continue from their saved state to the next budget;
the last rung runs every survivor on the final seeds, so the front it gives carries intervals.
Every rung's result stays in ``ds_rungs``; a trial's row carries its highest rung.

`Promotions.advance` is what a worker calls when it has nothing to train: it decides the next
rung (exactly once per rung, whatever the number of workers: `Storage.decide_promotion`), says
to wait while another worker finishes a rung, or says the study is done. Running a promoted
rung is `Worker.run_rung` (``worker.py``), on local workers, PostgreSQL workers and Ray alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Literal

from ..space.study import OBJECTIVES, Promotion
from ..stats import promotion_order
from ..storage import RungRecord, Storage, TrialRecord
from .objective import objective_values
from .validate import StudyPlan

Step = Literal["decided", "waiting", "done"]


def survivors(candidates: Sequence[tuple[int, list[float]]], directions: Sequence[str], eta: float) -> list[int]:
    """The trial numbers that go on: the first ``ceil(n / eta)`` of the ``n`` candidates
    ((number, objective values)) in promotion order."""
    if not candidates:
        return []
    keep = max(1, math.ceil(len(candidates) / eta))
    order = promotion_order([values for _, values in candidates], directions)
    return sorted(candidates[i][0] for i in order[:keep])


def distinct_design(trial: TrialRecord) -> str:
    """What makes two trials one design at a rung: the method and how it trained."""
    return trial.method_hash + json.dumps(trial.training, sort_keys=True)


class Promotions:
    """The promotion decisions of one study, made through ``storage``."""

    def __init__(self, plan: StudyPlan, storage: Storage) -> None:
        assert plan.spec.search.promotion is not None
        self.plan, self.storage = plan, storage
        self.promotion: Promotion = plan.spec.search.promotion

    @property
    def name(self) -> str:
        return self.plan.spec.name

    def advance(self) -> Step:
        """With every trial of rung 0 finished: decide the next undecided rung whose rung below
        is finished (``decided``), ``waiting`` while a rung is still being trained, else ``done``."""
        decided = {p.rung for p in self.storage.promotions(self.name)}
        rows = self.storage.list_rungs(self.name)
        for rung in range(1, len(self.promotion.rungs)):
            if rung in decided:
                if any(r.rung == rung and r.status in ("pending", "running") for r in rows):
                    return "waiting"
                continue
            below = [r for r in rows if r.rung == rung - 1 and r.status == "complete"]
            chosen = self.choose(below)
            self.storage.decide_promotion(self.name, rung, self.promotion.rungs[rung], chosen, len(below))
            return "decided"  # by this worker or, at the same moment, another: either way, go on
        return "done"

    def choose(self, below: Sequence[RungRecord]) -> list[int]:
        """The trials of ``below`` (complete rows of one rung) promoted to the next one."""
        spec = self.plan.spec
        trials = {t.number: t for t in self.storage.list_trials(self.name)}
        seen: set[str] = set()
        candidates = []
        for row in sorted(below, key=lambda r: r.number):
            trial, result = trials[row.number], row.result
            design = distinct_design(trial)
            if result is None or design in seen:
                continue  # a design sampled twice goes on once
            seen.add(design)
            candidates.append((row.number, objective_values(spec.objectives, result)))
        return survivors(candidates, [OBJECTIVES[o][0] for o in spec.objectives], self.promotion.eta)


def seeds_trained(result_metrics: dict[str, float]) -> int:
    """How many seeds one stored result trained (its ``score_seed<N>`` metrics, else one)."""
    return max(1, sum(1 for k in result_metrics if k.startswith("score_seed")))


def training_steps(storage: Storage, name: str) -> int:
    """The optimiser steps a study spent, over every seed of every trial and rung that trained
    (pruned and failed ones included): with promotion, a rung continued from the rung below
    adds only its own steps, and the last rung's further seeds train from the start."""
    rows = storage.list_rungs(name)
    if not rows:
        return sum(
            (t.steps or 0) * seeds_trained(t.metrics)
            for t in storage.list_trials(name)
            if t.status in ("complete", "pruned", "failed")
        )
    budgets = {r.rung: r.steps for r in rows}
    total = 0
    for row in rows:
        result = row.result
        if result is None:
            continue
        below = budgets.get(row.rung - 1, 0) if row.rung > 0 else 0
        steps = result.steps or 0
        total += (steps - below) + (seeds_trained(result.metrics) - 1) * steps
    return total
