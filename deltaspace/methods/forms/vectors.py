"""Scaling vectors (IA3: h ⊙ l, Liu et al. 2022) and bias vectors (h + b, as BitFit adds).

Both read nothing: their Δh is the learned vector itself. ``init="zero"`` starts at the identity
(l = 1, b = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site


class ScalingVector(nn.Module):
    def __init__(self, dim: int, init: str):
        super().__init__()
        self.vector = nn.Parameter(torch.ones(dim))
        if init != "zero":
            nn.init.normal_(self.vector, mean=1.0, std=0.02)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.vector

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Δh is the vector itself, whatever the input."""
        return None, self.vector


class BiasVector(nn.Module):
    def __init__(self, dim: int, init: str):
        super().__init__()
        self.vector = nn.Parameter(torch.zeros(dim))
        if init != "zero":
            nn.init.normal_(self.vector, std=0.02)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.vector

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Δh is the vector itself, whatever the input."""
        return None, self.vector


def build_scaling(delta: DeltaSpec, site: Site) -> ScalingVector:
    return ScalingVector(site.out_dim, delta.init)


def build_bias(delta: DeltaSpec, site: Site) -> BiasVector:
    return BiasVector(site.out_dim, delta.init)
