"""deltaspace.stats against independent computations: the front against a brute-force filter
written out here, intervals against scipy's t-interval computed here, the EDF against numpy."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from scipy import stats as scipy_stats

from deltaspace.stats import dominates, empirical_cdf, non_dominated, paired_comparison, seed_interval

DIRECTIONS = ("maximize", "minimize", "minimize")  # score up, parameters and latency down


def brute_force_front(points: list[tuple[float, ...]], directions: tuple[str, ...]) -> list[int]:
    """Indices of points no other point beats: ≥ everywhere (after the directions) and > once."""

    def better_or_equal(a: float, b: float, direction: str) -> bool:
        return a >= b if direction == "maximize" else a <= b

    def strictly_better(a: float, b: float, direction: str) -> bool:
        return a > b if direction == "maximize" else a < b

    front = []
    for i, p in enumerate(points):
        beaten = False
        for j, q in enumerate(points):
            if i == j:
                continue
            if all(better_or_equal(qk, pk, d) for qk, pk, d in zip(q, p, directions, strict=True)) and any(
                strictly_better(qk, pk, d) for qk, pk, d in zip(q, p, directions, strict=True)
            ):
                beaten = True
                break
        if not beaten:
            front.append(i)
    return front


@pytest.mark.parametrize("seed", range(20))
def test_front_equals_brute_force_over_three_mixed_objectives(seed: int) -> None:
    rng = random.Random(seed)
    # coarse grids make ties and duplicates, which must stay on the front together
    points = [
        (rng.choice([0.5, 0.6, 0.7, 0.8]), rng.choice([10, 100, 1000]), rng.choice([1.0, 2.0, 3.0]))
        for _ in range(rng.randint(1, 40))
    ]
    assert non_dominated(points, DIRECTIONS) == brute_force_front(points, DIRECTIONS)


def test_directions_matter() -> None:
    points = [(0.8, 100.0, 5.0), (0.8, 100.0, 1.0), (0.9, 200.0, 9.0)]
    assert non_dominated(points, DIRECTIONS) == [1, 2]
    assert non_dominated(points, ("maximize", "minimize", "maximize")) == [0, 2]
    assert dominates(points[1], points[0], DIRECTIONS) and not dominates(points[0], points[0], DIRECTIONS)
    assert non_dominated([], DIRECTIONS) == []
    with pytest.raises(ValueError, match="unknown direction"):
        non_dominated(points, ("up", "down", "down"))


@pytest.mark.parametrize(
    "values", [[0.8, 0.82, 0.79], [0.51, 0.78, 0.80, 0.81], [0.7, 0.9], [1.0, 2.0, 4.0, 8.0, 16.0]]
)
def test_seed_interval_is_scipys_t_interval(values: list[float]) -> None:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    low, high = scipy_stats.t.interval(0.95, n - 1, loc=mean, scale=sd / math.sqrt(n))
    # and the same interval from the t quantile, written out
    half = scipy_stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    got = seed_interval(values)
    assert got.mean == pytest.approx(mean) and got.n == n and got.std == pytest.approx(sd)
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))
    assert got.half_width == pytest.approx(half)


def test_one_seed_has_no_interval_and_equal_seeds_a_zero_one() -> None:
    one = seed_interval([0.7])
    assert (one.mean, one.low, one.high, one.half_width) == (0.7, None, None, None)
    same = seed_interval([0.5, 0.5, 0.5])
    assert (same.low, same.high, same.half_width) == (0.5, 0.5, 0.0)


def test_paired_comparison_uses_the_differences_on_shared_seeds() -> None:
    a = {0: 0.80, 1: 0.82, 2: 0.81, 7: 0.99}  # seed 7 has no partner: left out
    b = {0: 0.70, 1: 0.74, 2: 0.70}
    diffs = [0.10, 0.08, 0.11]
    low, high = scipy_stats.t.interval(
        0.95, 2, loc=np.mean(diffs), scale=np.std(diffs, ddof=1) / math.sqrt(3)
    )
    got = paired_comparison(a, b)
    assert got.n == 3 and got.difference == pytest.approx(np.mean(diffs))
    assert (got.low, got.high) == (pytest.approx(low), pytest.approx(high))
    assert got.verdict == "better"
    assert paired_comparison(b, a).verdict == "worse"
    noisy = paired_comparison({0: 0.8, 1: 0.6, 2: 0.75}, {0: 0.7, 1: 0.7, 2: 0.7})
    assert noisy.verdict == "within noise" and noisy.low < 0 < noisy.high
    assert paired_comparison({0: 0.9}, {0: 0.1}).verdict == "within noise"  # one seed proves nothing
    assert paired_comparison({0: 0.9}, {1: 0.1}).n == 0
    # for a cost (lower is better) the verdict turns round
    assert paired_comparison(b, a, higher_is_better=False).verdict == "better"


def test_edf_against_numpy() -> None:
    rng = np.random.default_rng(0)
    values = list(np.round(rng.uniform(0.5, 0.9, 50), 2))  # rounded: ties
    xs, shares = empirical_cdf(values)
    assert xs == sorted(set(values))
    data = np.array(values)
    for x, share in zip(xs, shares, strict=True):
        assert share == pytest.approx(np.mean(data <= x))
    assert empirical_cdf([]) == ([], [])


def test_front_is_order_independent() -> None:
    points = [(0.8, 100.0, 2.0), (0.7, 50.0, 3.0), (0.9, 300.0, 1.0), (0.6, 60.0, 3.0)]
    expected = {points[i] for i in non_dominated(points, DIRECTIONS)}
    for order in itertools.permutations(points):
        assert {order[i] for i in non_dominated(list(order), DIRECTIONS)} == expected
