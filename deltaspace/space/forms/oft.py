"""OFT (Qiu et al. 2023): W' = W Rᵀ with R block-diagonal orthogonal, i.e. the projection reads x R.

Each of the i/b diagonal blocks is the Cayley transform R = (I - Q)(I + Q)⁻¹ of a skew-symmetric
Q with b(b-1)/2 free entries (Q = 0: R = I, an identity); ``size`` is the block size b, which must
divide the projection's input width. Multiplicative and linear in x, so it merges: W ← W Rᵀ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from .base import FormInfo, LearningRate, SiteShape, always

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    block = delta.size or 0
    if s.i % block:
        raise SpecError(
            f"size={block} does not divide the {s.i} input features of {delta.position}: OFT's blocks "
            f"tile the input (choose a divisor of {s.i})"
        )
    return (s.i // block) * block * (block - 1) // 2


OFT = FormInfo(
    name="oft",
    formula="W' = W Rᵀ, R = blockdiag(Cayley(Q_k)), Q_k skew-symmetric",
    source="Qiu et al. 2023 (OFT, NeurIPS)",
    example={"position": "attn_out", "size": 8},
    sites=("weight",),
    size="the block size b of the orthogonal blocks",
    defaults={"insertion": None, "composition": "add", "init": "zero"},
    insertions=(),
    no_insertion="OFT rotates the projection's input (h = W (x R)), so it has no insertion form (leave insertion out)",
    compositions=("add",),
    composition_clash="the rotated input replaces x: x R = x + x (R - I)",
    inits=("zero",),
    init_clash="OFT starts at R = I (Q = 0)",
    reads_input=True,
    per_site=per_site,
    merges=always,
    learning_rate=LearningRate(1e-4, 1e-2, 1e-3),
    peft=lambda delta, kind: ("oft", ""),
)
