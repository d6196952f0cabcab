"""Seed means with 95% confidence intervals, and paired comparisons over shared seeds.

A score measured on ``n`` seeds is a sample: its mean has the Student-t interval
``mean ± t_{1-α/2, n-1} · s / √n`` (s the sample standard deviation), scipy's
``stats.t.interval(confidence, n - 1, loc=mean, scale=s / √n)``. Two designs run on the same seeds
are compared on their per-seed differences (a paired t-interval): the first is "better" when the
whole interval of the difference lies above zero, "worse" when below, and "within noise" when it
holds zero or there are fewer than two shared seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
Verdict = Literal["better", "worse", "within noise"]


@dataclass(frozen=True)
class Interval:
    """A mean over ``n`` values and its confidence interval (None below two values)."""

    mean: float
    low: float | None
    high: float | None
    n: int
    std: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean


def seed_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of ``values`` with its Student-t confidence interval.

    One value has no interval (``low`` and ``high`` are None); equal values have a zero-width one.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("an interval needs at least one value")
    mean = float(data.mean())
    if data.size == 1:
        return Interval(mean, None, None, 1, None)
    std = float(data.std(ddof=1))
    if std == 0.0:
        return Interval(mean, mean, mean, int(data.size), 0.0)
    low, high = stats.t.interval(confidence, data.size - 1, loc=mean, scale=std / math.sqrt(data.size))
    return Interval(mean, float(low), float(high), int(data.size), std)


@dataclass(frozen=True)
class Comparison:
    """The paired difference ``a - b`` over shared seeds, its interval and the verdict on ``a``."""

    difference: float | None
    low: float | None
    high: float | None
    n: int
    verdict: Verdict


def paired_comparison(
    a: Mapping[int, float],
    b: Mapping[int, float],
    confidence: float = CONFIDENCE,
    higher_is_better: bool = True,
) -> Comparison:
    """Compare ``a`` with ``b`` (scores by seed) on the seeds both ran."""
    shared = sorted(set(a) & set(b))
    if not shared:
        return Comparison(None, None, None, 0, "within noise")
    interval = seed_interval([a[s] - b[s] for s in shared], confidence)
    verdict: Verdict = "within noise"
    if interval.low is not None and interval.high is not None:
        sign = 1.0 if higher_is_better else -1.0
        low, high = sorted((sign * interval.low, sign * interval.high))
        verdict = "better" if low > 0 else "worse" if high < 0 else "within noise"
    return Comparison(interval.mean, interval.low, interval.high, interval.n, verdict)
