"""Diff pruning (Guo et al. 2021): W' = W + z ⊙ w, hard-concrete gates z, an L0 penalty.

Trains ``2·i·o`` per site (w and log α); stores the top ``k = fraction·i·o`` entries of z ⊙ w as
k values and k indices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import (
    WEIGHT_LEVEL,
    FormInfo,
    LearningRate,
    SiteShape,
    kept_entries,
    no_peft,
    weight_level_problems,
)

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def stored(delta: DeltaSpec, s: SiteShape) -> tuple[int, int]:
    k = kept_entries(delta.fraction or 1.0, s.i * s.o)
    return k, k


L0_DIFF = FormInfo(
    name="l0_diff",
    formula="ΔW = z ⊙ w, z hard-concrete gates",
    source="Guo et al. 2021 (diff pruning); Louizos et al. 2018",
    example={"position": "query", "fraction": 0.05},
    sites=("weight",),
    size=None,
    defaults={"insertion": None, "composition": "add", "init": "zero", "penalty": 1.25e-7},
    reads=frozenset({"fraction", "penalty"}),
    requires={
        "fraction": "the share of W's entries that may change",
        "penalty": "the L0 penalty weight",
    },
    per_site=lambda delta, s: 2 * s.i * s.o,
    stored=stored,
    problems=weight_level_problems,
    learning_rate=LearningRate(1e-5, 1e-3, 1e-4),
    peft=no_peft("peft has no tuner for a l0_diff delta here"),
    **WEIGHT_LEVEL,  # type: ignore[arg-type]
)
