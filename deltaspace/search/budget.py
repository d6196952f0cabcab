"""Budgets before compute: a point's exact parameter count decides whether it may train.

The count comes from ``deltaspace.space.accounting`` on the model's dimensions (its config only),
so an over-budget point costs no model load and no training step. Its verdict is an Optuna
constraint value (``<= 0`` feasible): the relative excess over the tightest budget, set on the
trial as constraint ``budget`` (``Trial.set_constraint``), which every constrained sampler reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..space.accounting import ModelDims, ParamCount, count_method
from ..space.errors import SpecError
from ..space.study import Budget
from .space_sampling import SampledPoint

CONSTRAINT = "budget"
INVALID_VIOLATION = 1.0  # a combination the DeltaSpec validator refuses


@dataclass(frozen=True)
class BudgetCheck:
    """The count of a point (None when it cannot be built) and its constraint value."""

    count: ParamCount | None
    violation: float
    reason: str | None = None

    @property
    def feasible(self) -> bool:
        return self.violation <= 0


def check_point(point: SampledPoint, dims: ModelDims, budget: Budget) -> BudgetCheck:
    """Count ``point`` on a model of ``dims`` and compare with ``budget``."""
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
    if not excess:
        return BudgetCheck(count, -1.0)
    violation, limit = max(excess)
    reason = None
    if violation > 0:
        reason = (
            f"over budget: {count.delta_params:,} delta parameters ({count.percent:.4f}% of the backbone) "
            f"exceed {limit}"
        )
    return BudgetCheck(count, violation, reason)
