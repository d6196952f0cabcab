"""HiWi (Liao et al. 2023, §3.2): an adapter applied to the pretrained weights, not to h.

In the paper's layout h = x W + b with W of shape (in, out), every row of W and the bias b pass
through one bottleneck over the output width:

    W' = W + f(W W_down) W_up,    b' = b + f(b W_down) W_up,    W_down: (out, r), W_up: (r, out)

so ΔW depends only on W, never on x: after training W' is computed once and merged, and inference
runs exactly as fast as the pretrained model. W_up starts at 0 (W' = W before training). What
export stores is the small adapter (W' is recomputed from the pretrained W) or the merged weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .bottleneck import ACTIVATIONS
from .site import Site
from .weight_delta import FrozenWeight, WeightDelta


class WeightAdapter(WeightDelta):
    def __init__(self, frozen: FrozenWeight, out_dim: int, size: int, activation: str):
        super().__init__()
        self.frozen = frozen
        bound = 1 / math.sqrt(out_dim)
        weight = frozen.weight()
        self.down = nn.Parameter(torch.empty(out_dim, size, device=weight.device).uniform_(-bound, bound))
        self.up = nn.Parameter(torch.zeros(size, out_dim, device=weight.device))
        self.act = ACTIVATIONS[activation]()

    def adapt(self, rows: torch.Tensor) -> torch.Tensor:
        """f(rows W_down) W_up for rows of width ``out``."""
        rows = rows.to(self.down.dtype)
        return self.act(rows @ self.down) @ self.up

    def delta(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight = self.frozen.weight().detach()  # (out, in): the paper's W is its transpose
        bias = self.frozen.bias()
        delta_b = None if bias is None else self.adapt(bias.detach())
        return self.adapt(weight.t()).t(), delta_b


def build_weight_adapter(delta: DeltaSpec, site: Site) -> WeightAdapter:
    return WeightAdapter(site.weight(), site.out_dim, delta.size or 0, delta.activation)
