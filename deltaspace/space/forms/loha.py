"""LoHa (Hyeon-Woo et al. 2022, FedPara; LyCORIS): ΔW = (W1a W1b) ⊙ (W2a W2b), composed as h + s·x ΔWᵀ.

Two rank-r products multiplied entrywise reach rank r² with ``2·r·(i + o)`` parameters per
projection. ΔW is explicit, so it merges into W and accepts DoRA's ``decomposed`` composition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, SiteShape, at_weight, ungated_tuner

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    return 2 * (delta.size or 0) * (s.i + s.o)




LOHA = FormInfo(
    name="loha",
    formula="ΔW = (W1a W1b) ⊙ (W2a W2b)",
    source="Hyeon-Woo et al. 2022 (FedPara); LyCORIS",
    example={"position": "value", "size": 2},
    sites=("weight",),
    size="the rank r of each factor",
    defaults={"insertion": "parallel", "composition": "scaled", "init": "zero"},
    insertions=("parallel",),
    compositions=("add", "scaled", "gated"),
    composition_clash="an update of W is added to h",
    per_site=per_site,
    merges=at_weight,
    weight_update=at_weight,
    learning_rate=LearningRate(1e-4, 1e-2, 2e-3),
    peft=ungated_tuner("loha", "LoHa"),
)
