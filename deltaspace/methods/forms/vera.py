"""VeRA (Kopiczko et al. 2024): Δh = λ_b ⊙ (B (λ_d ⊙ (A x))), A and B frozen and shared.

A (r × in_max) and B (out_max × r) are drawn once per group of VeRA deltas (same rank and seed)
from ``seed``, Kaiming-uniform as peft draws them (A first, then B, from one generator), sized by
the widest projection of the group; each site reads the top-left block it needs. Only λ_d (r,
starting at 0.1) and λ_b (out, starting at 0) train; the projections are regenerated, not saved.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site
from .weight_delta import SharedRef

D_INITIAL = 0.1


def _kaiming(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    bound = math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(shape[1])
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


class VeraProjections(nn.Module):
    def __init__(self, rank: int, out_dim: int, in_dim: int, seed: int):
        super().__init__()
        self.seed = seed
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("a", _kaiming((rank, in_dim), generator), persistent=False)
        self.register_buffer("b", _kaiming((out_dim, rank), generator), persistent=False)


class Vera(nn.Module):
    def __init__(self, projections: VeraProjections, in_dim: int, out_dim: int, rank: int, dropout: float):
        super().__init__()
        self.projections = SharedRef(projections)
        self.shape = (out_dim, in_dim)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.lambda_d = nn.Parameter(torch.full((rank,), D_INITIAL))
        self.lambda_b = nn.Parameter(torch.zeros(out_dim))

    @property
    def seed(self) -> int:
        return self.projections.module.seed

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        out_dim, in_dim = self.shape
        return self.projections.module.a[:, :in_dim], self.projections.module.b[:out_dim]

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        a, b = self.factors()
        return (self.lambda_b[:, None] * b) @ (self.lambda_d[:, None] * a), None

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        a, b = self.factors()
        return ((self.dropout(source) @ a.T) * self.lambda_d) @ b.T * self.lambda_b


def build_vera(delta: DeltaSpec, site: Site) -> Vera:
    rank = delta.size or 0
    if "projections" not in site.shared:
        out_dim, in_dim = site.group_shape or (site.out_dim, site.in_dim)
        site.shared["projections"] = VeraProjections(rank, out_dim, in_dim, delta.seed)
    projections = site.shared["projections"]
    assert isinstance(projections, VeraProjections)
    return Vera(projections, site.in_dim, site.out_dim, rank, delta.dropout)
