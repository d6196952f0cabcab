"""HiWi (Liao et al. 2023, §3.2): W' = W + f(W W_down) W_up, an adapter applied to the weights.

Trains ``2·o·r`` per site (W_down, W_up over the output width); ΔW depends only on W, so it merges.
"""

from __future__ import annotations

from .base import WEIGHT_LEVEL, FormInfo, LearningRate, no_peft, weight_level_problems

WEIGHT_ADAPTER = FormInfo(
    name="weight_adapter",
    formula="ΔW = f(W W_down) W_up",
    source="Liao et al. 2023 (HiWi)",
    example={"position": "ffn_out", "size": 2},
    sites=("weight",),
    size="the adapter's r",
    defaults={"insertion": None, "composition": "add", "init": "zero"},
    reads=frozenset({"activation"}),
    per_site=lambda delta, s: 2 * s.o * (delta.size or 0),
    problems=weight_level_problems,
    learning_rate=LearningRate(3e-5, 3e-3, 3e-4),
    peft=no_peft("peft has no tuner for a weight_adapter delta here"),
    **WEIGHT_LEVEL,  # type: ignore[arg-type]
)
