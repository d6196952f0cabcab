"""Bottleneck MLP: Δh = f(x W_down + b_down) W_up + b_up (Houlsby et al. 2019; He et al. 2022, eq. 6).

``init="zero"`` zeroes W_up and b_up, so Δh = 0 before training (the published near-identity).
The multi-head variant keeps one bottleneck per attention head, reading that head's query
(the ``x W_q^(i)`` of prefix tuning): the multi-head parallel adapter of He et al. 2022, §4.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "identity": nn.Identity}


class Bottleneck(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, size: int, activation: str, dropout: float, init: str):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.down = nn.Linear(in_dim, size)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(size, out_dim)
        if init == "zero":
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)
        else:
            nn.init.normal_(self.up.weight, std=0.02)
            nn.init.zeros_(self.up.bias)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.up(self.act(self.down(self.dropout(source))))


class MultiHeadBottleneck(nn.Module):
    """One bottleneck per head on tensors shaped (batch, heads, tokens, head_dim)."""

    def __init__(self, heads: int, head_dim: int, size: int, activation: str, dropout: float, init: str):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        bound = 1 / math.sqrt(head_dim)
        self.down = nn.Parameter(torch.empty(heads, head_dim, size).uniform_(-bound, bound))
        self.down_bias = nn.Parameter(torch.zeros(heads, 1, size))
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Parameter(torch.zeros(heads, size, head_dim))
        self.up_bias = nn.Parameter(torch.zeros(heads, 1, head_dim))
        if init != "zero":
            nn.init.normal_(self.up, std=0.02)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        hidden = self.act(torch.matmul(self.dropout(source), self.down) + self.down_bias)
        return torch.matmul(hidden, self.up) + self.up_bias


def build_bottleneck(delta: DeltaSpec, site: Site) -> nn.Module:
    """One bottleneck over the site's width, or one per head at a per-head site."""
    size = delta.size or 0
    if site.kind == "heads":
        return MultiHeadBottleneck(
            site.heads, site.head_dim, size, delta.activation, delta.dropout, delta.init
        )
    return Bottleneck(site.in_dim, site.out_dim, size, delta.activation, delta.dropout, delta.init)
