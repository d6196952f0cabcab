"""Intrinsic-dimension tuning (Li et al. 2018; Aghajanyan et al. 2021): θ = θ0 + P(θ_d).

θ_d (``size`` = d) is shared by every site of the intrinsic deltas with one ``group_key``; it
counts once (``shared``). Structure-aware (SAID) adds one λ per site and keeps θ^{d-m}, m sites.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from .base import WEIGHT_LEVEL, FormInfo, LearningRate, no_peft, weight_level_problems

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def group_key(delta: DeltaSpec) -> tuple[object, ...]:
    """Intrinsic deltas with equal keys share one θ_d across all their sites; give a delta its
    own subspace with another ``seed``."""
    return (delta.size, delta.projection, delta.structured, delta.seed)


def shared(delta: DeltaSpec, sites: int) -> int:
    d = delta.size or 0
    if not delta.structured:
        return d
    if d <= sites:
        raise SpecError(
            f"size={d} is too small for a structured intrinsic delta over {sites} sites: d counts one "
            f"λ per site plus the subspace θ^(d-m), so it needs d > {sites}"
        )
    return d - sites


INTRINSIC = FormInfo(
    name="intrinsic",
    formula="ΔW = P(θ_d), θ_d shared",
    source="Li et al. 2018; Aghajanyan et al. 2021 (SAID)",
    example={"position": "key", "size": 16, "projection": "dense"},
    sites=("weight",),
    size="the subspace dimension d",
    defaults={"insertion": None, "composition": "add", "init": "zero", "projection": "fastfood"},
    reads=frozenset({"projection", "structured", "seed"}),
    requires={"projection": "dense, sparse or fastfood"},
    per_site=lambda delta, s: 1 if delta.structured else 0,
    group_key=group_key,
    shared=shared,
    problems=weight_level_problems,
    learning_rate=LearningRate(1e-3, 1e-1, 1e-2),
    peft=no_peft("peft has no tuner for a intrinsic delta here"),
    **WEIGHT_LEVEL,  # type: ignore[arg-type]
)
