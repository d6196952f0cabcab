"""Empirical distribution functions (Radosavovic et al. 2019, "On Network Design Spaces"):
``F(x) = (1/n) Σ_i 1[v_i ≤ x]``, the share of a sample at or below ``x``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def empirical_cdf(values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The EDF of ``values`` as a step function: the sorted values and the share ≤ each.

    Equal values collapse into one step. ``([], [])`` for no values.

    >>> empirical_cdf([0.7, 0.5, 0.7, 0.9])
    ([0.5, 0.7, 0.9], [0.25, 0.75, 1.0])
    """
    data = np.sort(np.asarray(values, dtype=float))
    if data.size == 0:
        return [], []
    steps, counts = np.unique(data, return_counts=True)
    return [float(v) for v in steps], [float(c) for c in np.cumsum(counts) / data.size]
