"""Low-rank linear: Δh = x A B, LoRA's update (Hu et al. 2021), composed as h + s·Δh.

Per site ``i·r + r·o`` (A and B, no biases). At a projection, read from its input and composed
linearly, it is ΔW = s·B A and merges into W. ``init`` also names LoRA's data-free
initialisations from the frozen W: ``pissa`` (Meng et al. 2024: A, B from W's top-r singular
triplets, W keeps the residual) and ``olora`` (Büyükakyüz 2024: from W's QR factors); both need a
parallel update of one projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import FormInfo, LearningRate, PeftDecision, SiteShape

if TYPE_CHECKING:
    from ..delta import DeltaSpec

WEIGHT_INITS = ("pissa", "olora")


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    r = delta.size or 0
    return s.i * r + r * s.o


def merges(delta: DeltaSpec, kind: str) -> bool:
    return kind == "weight" and delta.insertion == "parallel"


def problems(delta: DeltaSpec, kind: str) -> list[str]:
    if delta.init in WEIGHT_INITS and not merges(delta, kind):
        return [
            f"init={delta.init!r} clashes with position={delta.position!r}/insertion={delta.insertion!r}: "
            "it factorises a projection's W, so it needs a parallel update at a weight position"
        ]
    return []


def peft(delta: DeltaSpec, kind: str) -> PeftDecision:
    where = f"{delta.form} at {delta.position}"
    if kind != "weight":
        return None, f"{where}: peft's LoRA updates one projection; this delta spans a sublayer"
    if delta.insertion != "parallel":
        return None, f"{where}: peft's LoRA reads the projection input (parallel), this one its output"
    if delta.composition == "gated":
        return None, f"{where}: peft's LoRA has no {delta.composition} composition"
    return "lora", ""


LOW_RANK = FormInfo(
    name="low_rank",
    formula="Δh = x A B",
    source="Hu et al. 2021 (LoRA)",
    example={"position": "value", "size": 2},
    sites=("weight", "sublayer"),
    size="the rank r",
    defaults={"insertion": "parallel", "composition": "scaled", "init": "zero"},
    insertions=("sequential", "parallel"),
    compositions=("add", "scaled", "gated"),
    weight_update=merges,
    composition_clash="'multiply' is the composition of scaling vectors, and scaling vectors only multiply",
    inits=("zero", "normal", *WEIGHT_INITS),
    per_site=per_site,
    merges=merges,
    problems=problems,
    learning_rate=LearningRate(1e-4, 1e-2, 2e-3),
    peft=peft,
)
