"""Composition functions: how Δh joins h (He et al. 2022, Table 1).

* add: h + Δh;  scaled: h + s·Δh (s fixed, or a learned scalar);
* gated (learned): h + σ(x w_g + b_g)·Δh, UniPELT's gate (Mao et al. 2022); it keeps h whole, so a
  zero-initialised Δh is still an identity (prefix tuning's λ(x) gate lives in the attention hook);
* multiply: h ⊙ Δh, for scaling vectors.
"""

from __future__ import annotations

import torch
from torch import nn

from ..space.delta import DeltaSpec


class Add(nn.Module):
    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h + delta


class Multiply(nn.Module):
    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h * delta


class Scaled(nn.Module):
    def __init__(self, scale: float, learned: bool):
        super().__init__()
        if learned:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.register_buffer("scale", torch.tensor(float(scale)), persistent=False)
        self.fixed = None if learned else float(scale)

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h + (self.fixed if self.fixed is not None else self.scale) * delta


class LearnedGate(nn.Module):
    def __init__(self, in_dim: int):
        super().__init__()
        self.gate = nn.Linear(in_dim, 1)

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        return h + torch.sigmoid(self.gate(source)) * delta


def build_composition(delta: DeltaSpec, source_dim: int) -> nn.Module:
    if delta.composition == "scaled":
        return Scaled(delta.scale, delta.learn_scale)
    if delta.composition == "multiply":
        return Multiply()
    if delta.composition == "gated":  # learned: prefix_softmax is handled inside attention
        return LearnedGate(source_dim)
    return Add()


def effective_scale(composition: nn.Module) -> float | None:
    """The factor s of h + s·Δh for compositions that are linear in Δh, else None."""
    if isinstance(composition, Add):
        return 1.0
    if isinstance(composition, Scaled):
        return float(composition.scale)
    return None
