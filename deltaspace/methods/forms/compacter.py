"""Compacter (Karimi Mahabadi et al. 2021): Δh = f(x W_downᵀ + b_down) W_upᵀ + b_up, each
W = Σ_i A_i ⊗ (s_i t_iᵀ) with the A_i shared by every site of the group (``PhmRules``, owned once at
the model's root) and s_i, t_i the site's own rank-one factors.

Initialisation: A_i uniform with variance 1/n and s, t with variance (3·in)^(-1/2), so W starts with
nn.Linear's variance 1/(3·in); both biases start at zero and, with ``init="zero"``, so do the up
projection's s_i, so Δh = 0 before training (the near-identity of Houlsby adapters).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .bottleneck import ACTIVATIONS
from .site import Site
from .weight_delta import SharedRef


class PhmRules(nn.Module):
    """The A_i of the down (``down``) and up (``up``) projections, each (n, n, n)."""

    def __init__(self, n: int):
        super().__init__()
        bound = math.sqrt(3.0 / n)
        self.down = nn.Parameter(torch.empty(n, n, n).uniform_(-bound, bound))
        self.up = nn.Parameter(torch.empty(n, n, n).uniform_(-bound, bound))


def phm_weight(rules: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Σ_i A_i ⊗ (s_i t_iᵀ), (n·len(s_i), n·len(t_i)): entry (a·p + k, c·q + l) = Σ_i A_i[a, c] s_i[k] t_i[l]."""
    n, p, q = rules.shape[0], s.shape[1], t.shape[1]
    return torch.einsum("iac,ik,il->akcl", rules, s, t).reshape(n * p, n * q)


class Compacter(nn.Module):
    def __init__(
        self,
        rules: PhmRules,
        in_dim: int,
        out_dim: int,
        size: int,
        activation: str,
        dropout: float,
        init: str,
    ):
        super().__init__()
        n = rules.down.shape[0]
        self.rules = SharedRef(rules)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.act = ACTIVATIONS[activation]()
        std = (3.0 * in_dim) ** -0.25
        self.down_s = nn.Parameter(torch.randn(n, size // n) * std)
        self.down_t = nn.Parameter(torch.randn(n, in_dim // n) * std)
        self.down_bias = nn.Parameter(torch.zeros(size))
        self.up_s = nn.Parameter(torch.zeros(n, out_dim // n))
        self.up_t = nn.Parameter(torch.randn(n, size // n) * (3.0 * size) ** -0.25)
        self.up_bias = nn.Parameter(torch.zeros(out_dim))
        if init != "zero":
            nn.init.normal_(self.up_s, std=0.02)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_down (r, in), W_up (out, r))."""
        rules = self.rules.module
        return phm_weight(rules.down, self.down_s, self.down_t), phm_weight(rules.up, self.up_s, self.up_t)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        down, up = self.weights()
        hidden = self.act(self.dropout(source) @ down.T + self.down_bias)
        return hidden @ up.T + self.up_bias


def build_compacter(delta: DeltaSpec, site: Site) -> Compacter:
    """One site; the group's A_i are made on first use."""
    n = delta.phm_dim or 1
    if "phm_rules" not in site.shared:
        site.shared["phm_rules"] = PhmRules(n)
    rules = site.shared["phm_rules"]
    assert isinstance(rules, PhmRules)
    return Compacter(
        rules, site.in_dim, site.out_dim, delta.size or 0, delta.activation, delta.dropout, delta.init
    )
