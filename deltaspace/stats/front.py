"""The Pareto front: the points that no other point dominates, under any objectives and directions.

Point ``a`` dominates ``b`` when it is at least as good on every objective and strictly better on
one (better: larger for ``maximize``, smaller for ``minimize``). Equal points do not dominate each
other, so duplicates stay on the front together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Direction = Literal["maximize", "minimize"]


def _signed(points: Sequence[Sequence[float]], directions: Sequence[str]) -> np.ndarray:
    """The points with every objective turned into one to maximise."""
    unknown = sorted(set(directions) - {"maximize", "minimize"})
    if unknown:
        raise ValueError(f"unknown direction(s) {unknown}; give 'maximize' or 'minimize'")
    signs = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    values = np.asarray(points, dtype=float).reshape(len(points), len(directions))
    if np.isnan(values).any():
        raise ValueError("a point has a missing (NaN) objective value")
    return values * signs


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """True when ``a`` is at least as good as ``b`` on every objective and better on one."""
    x, y = _signed([a, b], directions)
    return bool(np.all(x >= y) and np.any(x > y))


def non_dominated(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates, in input order.

    >>> non_dominated([(0.8, 100), (0.7, 10), (0.6, 50)], ["maximize", "minimize"])
    [0, 1]
    """
    if not len(points):
        return []
    values = _signed(points, directions)
    at_least = np.all(values[:, None, :] >= values[None, :, :], axis=2)  # [i, j]: i ≥ j everywhere
    better = np.any(values[:, None, :] > values[None, :, :], axis=2)
    dominated = np.any(at_least & better, axis=0)  # j is dominated by some i
    return [int(i) for i in np.flatnonzero(~dominated)]
