"""PaFi (Liao et al. 2023): ΔW nonzero only on the ``fraction`` of W's entries smallest in magnitude.

Trains and stores k = fraction·i·o values per site, plus their k indices.
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


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    return kept_entries(delta.fraction or 1.0, s.i * s.o)


def stored(delta: DeltaSpec, s: SiteShape) -> tuple[int, int]:
    k = per_site(delta, s)
    return k, k


MAGNITUDE_MASK = FormInfo(
    name="magnitude_mask",
    formula="ΔW = scatter(values at the smallest-|W| entries)",
    source="Liao et al. 2023 (PaFi)",
    example={"position": "ffn_in", "fraction": 0.05},
    sites=("weight",),
    size=None,
    defaults={"insertion": None, "composition": "add", "init": "zero"},
    reads=frozenset({"fraction"}),
    requires={"fraction": "the share of W's entries that may change"},
    per_site=per_site,
    stored=stored,
    problems=weight_level_problems,
    learning_rate=LearningRate(1e-5, 1e-3, 1e-4),
    peft=no_peft("peft has no tuner for a magnitude_mask delta here"),
    **WEIGHT_LEVEL,  # type: ignore[arg-type]
)
