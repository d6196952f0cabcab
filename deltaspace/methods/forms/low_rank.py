"""Low-rank linear: Δh = x A B, the LoRA update (Hu et al. 2021); composed as h + s·Δh.

A starts Kaiming-uniform and B at zero (``init="zero"``), so Δh = 0 before training.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LowRank(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, size: int, dropout: float, init: str):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.down = nn.Linear(in_dim, size, bias=False)
        self.up = nn.Linear(size, out_dim, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        if init == "zero":
            nn.init.zeros_(self.up.weight)
        else:
            nn.init.normal_(self.up.weight, std=0.02)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(self.dropout(source)))

    def delta_weight(self) -> torch.Tensor:
        """ΔW in (out, in) layout: x ΔWᵀ = x A B."""
        return self.up.weight @ self.down.weight
