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


def non_dominated_ranks(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Each point's non-dominated rank: 0 for the front, 1 for the front once it is removed, ….

    >>> non_dominated_ranks([(0.8, 100), (0.7, 10), (0.6, 50), (0.5, 200)], ["maximize", "minimize"])
    [0, 0, 1, 2]
    """
    ranks = [-1] * len(points)
    left = list(range(len(points)))
    rank = 0
    while left:
        for k in non_dominated([points[i] for i in left], directions):
            ranks[left[k]] = rank
        left = [i for i in left if ranks[i] < 0]
        rank += 1
    return ranks


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance within one set of points: per objective, the gap between each
    point's two neighbours in that objective's order over the objective's range, summed; the
    extremes of every objective get infinity, so a front's ends are kept first."""
    n = len(points)
    if n <= 2:
        return [float("inf")] * n
    values = np.asarray(points, dtype=float).reshape(n, -1)
    distance = np.zeros(n)
    for column in values.T:
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return [float(d) for d in distance]


def promotion_order(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices from the most to the least promising: by non-dominated rank, then (within a rank)
    by crowding distance, largest first, then by index. The first ``k`` are the best ``k`` to
    keep when a front must survive with its spread (multi-fidelity promotion)."""
    ranks = non_dominated_ranks(points, directions)
    crowding = [0.0] * len(points)
    for rank in set(ranks):
        members = [i for i, r in enumerate(ranks) if r == rank]
        for i, d in zip(members, crowding_distances([points[i] for i in members]), strict=True):
            crowding[i] = d
    return sorted(range(len(points)), key=lambda i: (ranks[i], -crowding[i], i))
