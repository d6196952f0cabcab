"""LoKr (LyCORIS): Δh = x ΔWᵀ with ΔW = W1 ⊗ W2, W2 = W2a W2b at low rank (shapes and rule in
``deltaspace.space.forms.lokr``).

W1 starts at zero (``init="zero"``) and W2's factors Kaiming-uniform, so ΔW = 0 before training
and W1 still gets a gradient, as peft initialises LoKr; ``init="normal"`` starts W1 at N(0, 0.02²).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ...space.delta import DeltaSpec
from ...space.forms.lokr import factor_shapes
from .site import Site


class LoKr(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, rank: int, dropout: float, init: str):
        super().__init__()
        self.rank = rank
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        (a, c), (b, d), low_rank = factor_shapes(rank, out_dim, in_dim)
        self.w1 = nn.Parameter(torch.zeros(a, c))
        if init == "normal":
            nn.init.normal_(self.w1, std=0.02)
        factors = [(b, rank), (rank, d)] if low_rank else [(b, d)]
        self.w2 = nn.ParameterList(nn.Parameter(torch.empty(shape)) for shape in factors)
        for p in self.w2:
            nn.init.kaiming_uniform_(p, a=math.sqrt(5))

    def w2_matrix(self) -> torch.Tensor:
        return self.w2[0] @ self.w2[1] if len(self.w2) == 2 else self.w2[0]

    def delta_weight(self) -> torch.Tensor:
        return torch.kron(self.w1, self.w2_matrix())

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        return self.delta_weight(), None

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return F.linear(self.dropout(source), self.delta_weight())


def build_lokr(delta: DeltaSpec, site: Site) -> LoKr:
    return LoKr(site.in_dim, site.out_dim, delta.size or 0, delta.dropout, delta.init)
