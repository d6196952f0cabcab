"""LoKr (LyCORIS; Yeh et al. 2024): ΔW = W1 ⊗ W2, composed as h + s·x ΔWᵀ (s = α/r in peft).

Each dimension of the projection is split in two factors (``factorization``: the divisor pair
closest to its square root, the smaller first, as LyCORIS and peft split it), out = a·b and
in = c·d; W1 is (a × c) and W2 (b × d), so kron(W1, W2) is (out × in). W2 is itself the low-rank
product W2a W2b (b × r, r × d) when r < max(b, d)/2, and a full matrix otherwise (peft's rule,
``decompose_both`` off: W1 is always full). Per projection ``a·c + r·(b + d)`` (or ``a·c + b·d``).
ΔW is explicit, so it merges into W and accepts DoRA's ``decomposed`` composition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, SiteShape, at_weight, ungated_tuner

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def factorization(dimension: int) -> tuple[int, int]:
    """(m, n), m ≤ n, m·n = ``dimension``: LyCORIS's split (peft's ``factorization`` with factor -1).

    Walks the divisors upwards from 1, stopping when the pair's sum would exceed the first pair's
    (1 + dimension): the last divisor pair not past the square root, e.g. 768 → (24, 32)."""
    m, n = 1, dimension
    while m < n:
        new_m = m + 1
        while dimension % new_m:
            new_m += 1
        new_n = dimension // new_m
        if new_m + new_n > 1 + dimension:
            break
        m, n = new_m, new_n
    return min(m, n), max(m, n)


def factor_shapes(rank: int, out_dim: int, in_dim: int) -> tuple[tuple[int, int], tuple[int, int], bool]:
    """((a, c) of W1, (b, d) of W2, whether W2 is the low-rank product W2a W2b)."""
    a, b = factorization(out_dim)
    c, d = factorization(in_dim)
    return (a, c), (b, d), rank < max(b, d) / 2


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    r = delta.size or 0
    (a, c), (b, d), low_rank = factor_shapes(r, s.o, s.i)
    return a * c + (r * (b + d) if low_rank else b * d)




LOKR = FormInfo(
    name="lokr",
    formula="ΔW = W1 ⊗ (W2a W2b)",
    source="LyCORIS; Yeh et al. 2024 (ICLR), 'Navigating Text-To-Image Customization'",
    example={"position": "value", "size": 2},
    sites=("weight",),
    size="the rank r of W2 = W2a W2b (W2 full when r ≥ max(b, d)/2)",
    defaults={"insertion": "parallel", "composition": "scaled", "init": "zero"},
    insertions=("parallel",),
    compositions=("add", "scaled", "gated"),
    composition_clash="an update of W is added to h",
    per_site=per_site,
    merges=at_weight,
    weight_update=at_weight,
    learning_rate=LearningRate(1e-4, 1e-2, 2e-3),
    peft=ungated_tuner("lokr", "LoKr"),
)
