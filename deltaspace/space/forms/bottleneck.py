"""Bottleneck MLP: Δh = f(x W_down + b_down) W_up + b_up (Houlsby et al. 2019; He et al. 2022, eq. 6).

Per site ``i·r + r + r·o + o``, times the heads at a per-head position (the multi-head parallel
adapter). f makes it non-linear in x: it never merges into W.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, SiteShape, never, no_peft

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    r = delta.size or 0
    n = s.i * r + r + r * s.o + s.o
    return n * s.heads if s.kind == "heads" else n


BOTTLENECK = FormInfo(
    name="bottleneck",
    formula="Δh = f(x W_down + b_down) W_up + b_up",
    source="Houlsby et al. 2019; He et al. 2022, eq. 6",
    example={"position": "ffn_output", "size": 4},
    sites=("sublayer", "heads", "weight"),
    size="the bottleneck r",
    defaults={"insertion": "sequential", "composition": "add", "init": "zero"},
    insertions=("sequential", "parallel"),
    compositions=("add", "scaled", "gated"),
    composition_clash="'multiply' is the composition of scaling vectors, and scaling vectors only multiply",
    reads=frozenset({"activation"}),
    per_site=per_site,
    merges=never,
    learning_rate=LearningRate(3e-5, 3e-3, 3e-4),
    peft=no_peft("peft has no bottleneck-adapter tuner that loads into a plain model"),
)
