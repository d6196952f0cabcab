"""stats: the numbers every front and every comparison is made of, with no deltaspace imports.

``front.py`` (which points no other point dominates, over any objectives and directions),
``intervals.py`` (a seed mean with its Student-t interval; a paired comparison over shared seeds
and its verdict) and ``edf.py`` (empirical distribution functions). Callers turn their records
into numbers; this package never sees a trial.
"""

from __future__ import annotations

from .edf import empirical_cdf
from .front import (
    Direction,
    crowding_distances,
    dominates,
    non_dominated,
    non_dominated_ranks,
    promotion_order,
)
from .intervals import Comparison, Interval, paired_comparison, seed_interval

__all__ = [
    "Comparison",
    "Direction",
    "Interval",
    "crowding_distances",
    "dominates",
    "empirical_cdf",
    "non_dominated",
    "non_dominated_ranks",
    "paired_comparison",
    "promotion_order",
    "seed_interval",
]
