"""Prefix attention: Δh = softmax(x W_q P_kᵀ) P_v, gated by λ(x) (Li & Liang 2021; He et al. 2022, eq. 5).

At the heads: ``2·l·kv_heads·head_dim`` per layer (P_k and P_v); at the input embeddings (prompt
tuning, Lester et al. 2021): ``l·hidden`` once. It reads x and cannot start as an identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, PeftDecision, SiteShape, never

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    length = delta.size or 0
    return length * s.hidden if s.kind == "embeddings" else 2 * length * s.kv_heads * s.head_dim


def peft(delta: DeltaSpec, kind: str) -> PeftDecision:
    where = f"{delta.form} at {delta.position}"
    if kind == "embeddings":
        return "prompt", ""
    if delta.position != "attn_heads":
        return None, f"{where}: peft has no tuner for a {delta.form} delta here"
    if delta.layers != "all":
        return None, f"{where}: peft's prefix tuning puts a prefix at every layer, this one at {delta.layers}"
    return "prefix", ""


PREFIX = FormInfo(
    name="prefix",
    formula="Δh = softmax(x W_q P_kᵀ) P_v",
    source="Li & Liang 2021; Lester et al. 2021; He et al. 2022, eq. 5",
    example={"position": "attn_heads", "size": 3},
    sites=("heads", "embeddings"),
    size="the prefix length l",
    defaults={"insertion": "parallel", "composition": "gated", "gate": "prefix_softmax", "init": "normal"},
    insertions=("parallel",),
    compositions=("gated",),
    composition_clash="prefix attention is gated by λ(x)",
    inits=("normal",),
    init_clash="prefix attention cannot start as an identity (λ(x) > 0 for any P_k); use init='normal'",
    per_site=per_site,
    merges=never,
    learning_rate=LearningRate(3e-3, 1e-1, 5e-2),
    peft=peft,
)
