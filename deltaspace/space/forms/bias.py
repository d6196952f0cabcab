"""Bias vector: h + b (as BitFit adds, Ben Zaken et al. 2022). ``o`` per site; merges into b."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, SiteShape, always, no_peft

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    return s.o


BIAS = FormInfo(
    name="bias",
    formula="h' = h + b",
    source="Ben Zaken et al. 2022 (BitFit)",
    example={"position": "attn_out"},
    sites=("weight", "sublayer", "hidden"),
    size=None,
    defaults={"insertion": None, "composition": "add", "init": "zero"},
    insertions=(),
    no_insertion="a bias vector does not read x or h, so it has no insertion form (leave insertion out)",
    compositions=("add",),
    composition_clash="a bias vector is added",
    per_site=per_site,
    merges=always,
    learning_rate=LearningRate(1e-4, 1e-2, 1e-3),
    peft=no_peft("peft has no tuner for a bias delta here"),
)
