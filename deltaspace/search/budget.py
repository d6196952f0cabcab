"""Budgets before compute: a point's exact parameter count and estimated memory decide whether it
may train.

The count comes from ``deltaspace.space.accounting`` on the model's dimensions (its config only),
and the memory estimate from that count, the point's batch shape and precision
(``deltaspace.space.memory``), so an over-budget point costs no model load and no training step.
Its verdict is an Optuna constraint value (``<= 0`` feasible): the relative excess over the
tightest budget, set on the trial as constraint ``budget`` (``Trial.set_constraint``), which every
constrained sampler reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..space.accounting import ModelDims, ParamCount, count_method
from ..space.errors import SpecError
from ..space.study import Budget
from ..trainers.memory import estimate_for
from ..trainers.settings import TrainSettings
from .space_sampling import SampledPoint

CONSTRAINT = "budget"
INVALID_VIOLATION = 1.0  # a combination the DeltaSpec validator refuses


@dataclass(frozen=True)
class BudgetCheck:
    """The count of a point (None when it cannot be built) and its constraint value."""

    count: ParamCount | None
    violation: float
    reason: str | None = None
    memory_mb: float | None = None  # the estimate, when the budget limits memory

    @property
    def feasible(self) -> bool:
        return self.violation <= 0


def check_point(
    point: SampledPoint,
    dims: ModelDims,
    budget: Budget,
    settings: TrainSettings | None = None,
    head: str = "sequence_classification",
) -> BudgetCheck:
    """Count ``point`` on a model of ``dims`` and compare with ``budget``; with ``max_memory_mb``,
    the memory of training it with ``settings`` (the point's, defaults if None) and a ``head``
    of that kind is estimated too."""
    if point.method is None:
        return BudgetCheck(None, INVALID_VIOLATION, point.problem)
    try:
        count = count_method(point.method, dims)
    except SpecError as exc:  # e.g. layers the model does not have
        return BudgetCheck(None, INVALID_VIOLATION, str(exc))
    excess = []
    if budget.max_delta_params is not None:
        excess.append(
            (
                count.delta_params / budget.max_delta_params - 1,
                f"max_delta_params={budget.max_delta_params:,}",
            )
        )
    if budget.max_percent is not None:
        excess.append((count.percent / budget.max_percent - 1, f"max_percent={budget.max_percent:g}"))
    memory = None
    if budget.max_memory_mb is not None:
        memory = estimate_for(settings or TrainSettings(), dims, count, head)
        excess.append((memory.total_mb / budget.max_memory_mb - 1, f"max_memory_mb={budget.max_memory_mb:g}"))
    if not excess:
        return BudgetCheck(count, -1.0)
    violation, limit = max(excess)
    reason = None
    if violation > 0 and limit.startswith("max_memory_mb") and memory is not None:
        reason = f"over budget: estimated training memory {memory.summary()} exceeds {limit}"
    elif violation > 0:
        reason = (
            f"over budget: {count.delta_params:,} delta parameters ({count.percent:.4f}% of the backbone) "
            f"exceed {limit}"
        )
    return BudgetCheck(count, violation, reason, memory.total_mb if memory else None)
