"""Composition functions (He et al. 2022, Table 1) and gates: how Δh joins h. One declaration each.

* ``add``: h + Δh;  ``scaled``: h + s·Δh (s fixed, or one learned scalar);
* ``gated``: by λ(x), either the prefix softmax (prefix attention only) or a learned sigmoid gate
  σ(x w_g + b_g) over the delta's input (UniPELT, Mao et al. 2022);
* ``multiply``: h ⊙ Δh (scaling vectors, IA3);
* ``decomposed``: DoRA's weight decomposition (Liu et al. 2024, eq. 5): the adapted weight keeps
  its direction and a learned per-row magnitude m, h' = m ⊙ (W + s·ΔW) x / ‖W + s·ΔW‖_row + b;
  any form with an explicit ΔW at a projection accepts it (``FormInfo.weight_update``); m starts
  at ‖W‖_row, so it is an identity where ΔW starts at 0, and it adds ``o`` parameters per site.

Each declares the parameters it adds per site (``extra_params(delta, i, o)``), whether it keeps a
site affine in x (``linear``: then a linear form merges into W), whether it reads ``scale``, and
how it changes a form's peft tuner (``peft_variant``; None keeps it).
The torch modules are registered under the same names in ``deltaspace.methods.composition``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .delta import DeltaSpec


@dataclass(frozen=True)
class CompositionInfo:
    name: str
    formula: str
    linear: bool
    scaled: bool
    extra_params: Callable[[DeltaSpec, int, int], int]
    weight_update: bool = False  # accepted by any form with an explicit ΔW (FormInfo.weight_update)
    peft_variant: Mapping[str, str] | None = None  # the form's peft tuner -> the tuner with this composition


@dataclass(frozen=True)
class GateInfo:
    name: str
    formula: str
    extra_params: Callable[[int], int]
    forms: tuple[str, ...] | None = None  # the only forms that have this gate (None: any)
    kinds: tuple[str, ...] = ("weight", "sublayer", "hidden")


COMPOSITIONS: dict[str, CompositionInfo] = {}
GATES: dict[str, GateInfo] = {}


def register_composition(info: CompositionInfo) -> CompositionInfo:
    if info.name in COMPOSITIONS:
        raise ValueError(f"composition {info.name!r} is already registered")
    COMPOSITIONS[info.name] = info
    return info


def register_gate(info: GateInfo) -> GateInfo:
    if info.name in GATES:
        raise ValueError(f"gate {info.name!r} is already registered")
    GATES[info.name] = info
    return info


def _gate_params(delta: DeltaSpec, i: int, o: int) -> int:
    return GATES[delta.gate].extra_params(i) if delta.gate else 0


register_composition(CompositionInfo("add", "h + Δh", True, False, lambda d, i, o: 0))
register_composition(
    CompositionInfo("scaled", "h + s·Δh", True, True, lambda d, i, o: 1 if d.learn_scale else 0)
)
register_composition(CompositionInfo("gated", "(1-λ)h + λΔh", False, False, _gate_params))
register_composition(CompositionInfo("multiply", "h ⊙ Δh", True, False, lambda d, i, o: 0))
register_gate(
    GateInfo(
        "prefix_softmax",
        "λ(x) from the prefix attention softmax",
        lambda i: 0,
        ("prefix",),
        ("heads", "embeddings"),
    )
)
register_gate(GateInfo("learned", "σ(x w_g + b_g)", lambda i: i + 1))
register_composition(
    CompositionInfo(
        "decomposed",
        "m ⊙ (W + s·ΔW) x / ‖W + s·ΔW‖_row + b",
        True,
        True,
        lambda d, i, o: o + (1 if d.learn_scale else 0),
        weight_update=True,
        peft_variant={"lora": "dora"},
    )
)
