"""Composition functions: how Δh joins h (He et al. 2022, Table 1), one module per declared value.

* add: h + Δh;  scaled: h + s·Δh (s fixed, or a learned scalar);
* gated (learned): h + σ(x w_g + b_g)·Δh, UniPELT's gate (Mao et al. 2022); it keeps h whole, so a
  zero-initialised Δh is still an identity (prefix tuning's λ(x) gate is the attention softmax
  itself, realised by the prefix form in ``attention.py``);
* multiply: h ⊙ Δh, for scaling vectors;
* decomposed: DoRA's magnitude and direction of the adapted weight (``decomposed.py``).

``COMPOSITIONS`` maps each composition declared in ``deltaspace.space.compositions`` to its
builder (a test checks they agree). Linear compositions also say how they fold into a projection
(``fold``: output side, ``fold_input``: input side) given the form's affine Δh = x Aᵀ + c.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..space.delta import DeltaSpec
from .decomposed import build_decomposed
from .forms import Site

Affine = tuple[torch.Tensor | None, torch.Tensor | None]


class Add(nn.Module):
    def factor(self) -> float:
        return 1.0

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h + delta

    def fold(self, weight: torch.Tensor, bias: torch.Tensor | None, affine: Affine, form: nn.Module) -> None:
        a, c = affine
        if a is not None:
            weight += a.to(weight.dtype)
        if c is not None and bias is not None:
            bias += c.to(weight.dtype)

    def fold_input(
        self, matrix: torch.Tensor, shift: torch.Tensor, affine: Affine
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x' = x Mᵀ + t, then x'' = x' + (x' Aᵀ + c): M ← (I + A) M, t ← t + A t + c."""
        a, c = affine
        if a is not None:
            matrix, shift = matrix + a @ matrix, shift + a @ shift
        return matrix, (shift if c is None else shift + c)


class Multiply(nn.Module):
    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h * delta

    def fold(self, weight: torch.Tensor, bias: torch.Tensor | None, affine: Affine, form: nn.Module) -> None:
        _, vector = affine  # a scaling vector: Δh = l, whatever x
        assert vector is not None
        weight *= vector.to(weight.dtype)[:, None]
        if bias is not None:
            bias *= vector.to(weight.dtype)

    def fold_input(
        self, matrix: torch.Tensor, shift: torch.Tensor, affine: Affine
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x'' = x' ⊙ l: M ← diag(l) M, t ← l ⊙ t."""
        _, vector = affine
        assert vector is not None
        return vector[:, None] * matrix, vector * shift


class Scaled(nn.Module):
    def __init__(self, scale: float, learned: bool):
        super().__init__()
        if learned:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.register_buffer("scale", torch.tensor(float(scale)), persistent=False)
        self.fixed = None if learned else float(scale)

    def factor(self) -> float:
        return self.fixed if self.fixed is not None else float(self.scale)

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h + (self.fixed if self.fixed is not None else self.scale) * delta

    def fold(self, weight: torch.Tensor, bias: torch.Tensor | None, affine: Affine, form: nn.Module) -> None:
        a, c = affine
        s = self.factor()
        Add().fold(weight, bias, (None if a is None else s * a, None if c is None else s * c), form)

    def fold_input(
        self, matrix: torch.Tensor, shift: torch.Tensor, affine: Affine
    ) -> tuple[torch.Tensor, torch.Tensor]:
        a, c = affine
        s = self.factor()
        return Add().fold_input(matrix, shift, (None if a is None else s * a, None if c is None else s * c))


class LearnedGate(nn.Module):
    def __init__(self, in_dim: int):
        super().__init__()
        self.gate = nn.Linear(in_dim, 1)

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h + torch.sigmoid(self.gate(source)) * delta


class PrefixSoftmax(nn.Module):
    """λ(x) of prefix attention: the attention softmax over [P_k; C W_k] computes it, once the
    prefix form's P_k, P_v sit in front of the keys and values (``attention.py``); no parameter."""

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        raise TypeError("the prefix softmax gate is applied inside attention, not to a computed Δh")


CompositionBuilder = Callable[[DeltaSpec, Site, nn.Module], nn.Module]
GATES: dict[str, Callable[[int], nn.Module]] = {
    "learned": LearnedGate,
    "prefix_softmax": lambda in_dim: PrefixSoftmax(),
}
COMPOSITIONS: dict[str, CompositionBuilder] = {
    "add": lambda delta, site, form: Add(),
    "scaled": lambda delta, site, form: Scaled(delta.scale, delta.learn_scale),
    "gated": lambda delta, site, form: GATES[delta.gate or "learned"](site.in_dim),
    "multiply": lambda delta, site, form: Multiply(),
    "decomposed": build_decomposed,
}


def build_composition(delta: DeltaSpec, site: Site, form: nn.Module) -> nn.Module:
    """The module joining ``form``'s Δh to h at ``site`` (``site.in_dim``: what a gate reads)."""
    return COMPOSITIONS[delta.composition](delta, site, form)


def effective_scale(composition: nn.Module) -> float | None:
    """The factor s of h + s·Δh for compositions that are linear in Δh, else None."""
    factor = getattr(composition, "factor", None)
    return factor() if factor is not None else None
