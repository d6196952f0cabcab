"""LoHa (Hyeon-Woo et al. 2022; LyCORIS): Δh = x ΔWᵀ with ΔW = (W1a W1b) ⊙ (W2a W2b).

W1a, W1b, W2a start Kaiming-uniform and W2b at zero (``init="zero"``), so ΔW = 0 before training,
as peft initialises it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site


class LoHa(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, rank: int, dropout: float, init: str):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.w1a = nn.Parameter(torch.empty(out_dim, rank))
        self.w1b = nn.Parameter(torch.empty(rank, in_dim))
        self.w2a = nn.Parameter(torch.empty(out_dim, rank))
        self.w2b = nn.Parameter(torch.zeros(rank, in_dim))
        for p in (self.w1a, self.w1b, self.w2a):
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))
        if init == "normal":
            nn.init.normal_(self.w2b, std=0.02)

    def delta_weight(self) -> torch.Tensor:
        return (self.w1a @ self.w1b) * (self.w2a @ self.w2b)

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self.delta_weight(), None

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return F.linear(self.dropout(source), self.delta_weight())


def build_loha(delta: DeltaSpec, site: Site) -> LoHa:
    return LoHa(site.in_dim, site.out_dim, delta.size or 0, delta.dropout, delta.init)
