"""Scaling vector: h ⊙ l (IA3, Liu et al. 2022). ``o`` per site; it reads neither x nor h and
merges into W (diag(l) W on an output, W diag(l) on an input)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, SiteShape, always

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    return s.o


SCALING = FormInfo(
    name="scaling",
    formula="h' = h ⊙ l",
    source="Liu et al. 2022 (IA3)",
    example={"position": "ffn_hidden"},
    sites=("weight", "sublayer", "hidden"),
    size=None,
    defaults={"insertion": None, "composition": "multiply", "init": "zero"},
    insertions=(),
    no_insertion="a scaling vector does not read x or h, so it has no insertion form (leave insertion out)",
    compositions=("multiply",),
    composition_clash="'multiply' is the composition of scaling vectors, and scaling vectors only multiply",
    per_site=per_site,
    merges=always,
    learning_rate=LearningRate(3e-4, 3e-2, 3e-3),
    peft=lambda delta, kind: ("ia3", ""),
)
