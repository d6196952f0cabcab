"""The common frame of weight-level forms: W' = W + ΔW (and b' = b + Δb) at one projection.

Every weight-level form (diff pruning, PaFi/LT-SFT sparse deltas, HiWi, intrinsic-dimension
tuning) is a `WeightDelta`: it computes ΔW in (out, in) layout, whatever the projection's own
layout (GPT-2's Conv1D stores (in, out)), and is attached to the projection as a parallel,
add-composed output: h' = W x + b + ΔW x + Δb = W' x + b'. The frozen W is never touched, so
entries where ΔW is zero stay bit-identical whatever the optimiser does; merging adds ΔW into W.

A form that must read W (HiWi reads it at every step, PaFi and LT-SFT once) gets a `FrozenWeight`,
a handle that finds W through the projection module: nothing is copied or registered twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..quantized import dense_weight


@dataclass(eq=False)
class FrozenWeight:
    """The frozen W (and b) of one site, as (out, in) rows ``rows`` of a projection module."""

    module: nn.Module
    conv1d: bool = False
    rows: tuple[int, int] | None = None

    def weight(self) -> torch.Tensor:
        w = dense_weight(self.module)
        w = w.t() if self.conv1d else w
        return w if self.rows is None else w[self.rows[0] : self.rows[1]]

    def bias(self) -> torch.Tensor | None:
        b = getattr(self.module, "bias", None)
        if b is None or self.rows is None:
            return b
        return b[self.rows[0] : self.rows[1]]


class SharedRef:
    """A reference to a module owned elsewhere (registered once, at the model's root), so that
    sites sharing it neither register nor store it twice."""

    def __init__(self, module: nn.Module):
        self.module = module


class WeightDelta(nn.Module):
    """Base of the weight-level forms: Δh = x ΔWᵀ + Δb, i.e. h' = (W + ΔW) x + b + Δb."""

    def delta(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(ΔW in (out, in) layout, Δb or None) as the current mode (train/eval) uses them."""
        raise NotImplementedError

    def merged_delta(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(ΔW, Δb) as inference uses them: what merging folds into W and b."""
        return self.delta()

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Δh = x ΔWᵀ + Δb as merging folds it."""
        return self.merged_delta()

    def stored_state(self) -> dict[str, torch.Tensor]:
        """What export writes for this site (``stored_params`` counts the floating-point entries)."""
        return {n: p.detach() for n, p in self.named_parameters(recurse=False)}

    def penalty(self) -> torch.Tensor | None:
        """A term the trainer adds to the loss (diff pruning's L0 penalty), or None."""
        return None

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        delta_w, delta_b = self.delta()
        return F.linear(source, delta_w, delta_b)
