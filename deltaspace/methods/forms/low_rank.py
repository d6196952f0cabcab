"""Low-rank linear: Δh = x A B, the LoRA update (Hu et al. 2021); composed as h + s·Δh.

A starts Kaiming-uniform and B at zero (``init="zero"``), so Δh = 0 before training. Two
initialisations read the frozen W of a projection (in (out, in) layout) and move the part they
take out of it, so that W_res + s·B A = W before training:

* ``pissa`` (Meng et al. 2024): W = U S Vᵀ, A = diag(√(S_r/s)) V_rᵀ, B = U_r diag(√(S_r/s));
* ``olora`` (Büyükakyüz 2024): W = Q R, A = R_r (first r rows), B = Q_r (first r columns).

The initial A₀, B₀ are kept (not trained, not saved) so that export can express the trained update
against the original W: s·(B A − B₀ A₀).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site


class LowRank(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, size: int, dropout: float, init: str):
        super().__init__()
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.down = nn.Linear(in_dim, size, bias=False)
        self.up = nn.Linear(size, out_dim, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        if init == "normal":
            nn.init.normal_(self.up.weight, std=0.02)
        else:
            nn.init.zeros_(self.up.weight)
        self.initial: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(self.dropout(source)))

    def delta_weight(self) -> torch.Tensor:
        """ΔW in (out, in) layout: x ΔWᵀ = x A B."""
        return self.up.weight @ self.down.weight

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Δh = x ΔWᵀ: (ΔW, no bias), what merging folds."""
        return self.delta_weight(), None


def _pissa(weight: torch.Tensor, rank: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(weight.float(), full_matrices=False)
    root = torch.sqrt(s[:rank] / scale)
    return root[:, None] * vh[:rank], u[:, :rank] * root[None, :]


def _olora(weight: torch.Tensor, rank: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    q, r = torch.linalg.qr(weight.float())
    return r[:rank], q[:, :rank]


WEIGHT_INITS: dict[str, Callable[[torch.Tensor, int, float], tuple[torch.Tensor, torch.Tensor]]] = {
    "pissa": _pissa,
    "olora": _olora,
}


def build_low_rank(delta: DeltaSpec, site: Site) -> LowRank:
    low = LowRank(site.in_dim, site.out_dim, delta.size or 0, delta.dropout, delta.init)
    if delta.init in WEIGHT_INITS:
        with torch.no_grad():
            weight = site.weight().weight()
            a, b = WEIGHT_INITS[delta.init](weight, delta.size or 0, delta.scale)
            low.down.weight.copy_(a)
            low.up.weight.copy_(b)
            weight.sub_((delta.scale * b @ a).to(weight.dtype))  # the frozen W keeps the residual
            low.initial = (a.clone(), b.clone())
    return low
