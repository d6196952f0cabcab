"""VeRA (Kopiczko et al. 2024): ΔW = diag(λ_b) B diag(λ_d) A with A (r × in), B (out × r) frozen
random matrices shared by every site (regenerated from ``seed``) and only the scaling vectors
trained: ``r + o`` per projection. λ_b starts at 0 (an identity), λ_d at 0.1 (the paper's d_init).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, SiteShape, at_weight, ungated_tuner

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    return (delta.size or 0) + s.o



def group_key(delta: DeltaSpec) -> tuple[object, ...]:
    """VeRA deltas with one rank and seed share A and B (frozen: nothing trainable is shared)."""
    return (delta.size, delta.seed)



VERA = FormInfo(
    name="vera",
    formula="ΔW = diag(λ_b) B diag(λ_d) A, A and B frozen random, shared",
    source="Kopiczko et al. 2024 (VeRA, ICLR)",
    example={"position": "value", "size": 4},
    sites=("weight",),
    size="the rank r of the shared random matrices",
    defaults={"insertion": "parallel", "composition": "add", "init": "zero"},
    insertions=("parallel",),
    compositions=("add", "scaled", "gated"),
    composition_clash="an update of W is added to h",
    reads=frozenset({"seed"}),
    per_site=per_site,
    group_key=group_key,
    merges=at_weight,
    weight_update=at_weight,
    learning_rate=LearningRate(1e-3, 1e-1, 1e-2),
    peft=ungated_tuner("vera", "VeRA"),
)
