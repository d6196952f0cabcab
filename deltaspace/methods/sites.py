"""`DeltaLinear`: a frozen projection with deltas attached to its input or output.

Weight positions attach at the projection itself (x = its input, h = its output). Sublayer
positions attach at the sublayer's output projection; for parallel insertion they read the
sublayer's input x, which a ``Tap`` on the sublayer's first projection (query or FFN-in) keeps
for the current forward pass. GPT-2's fused q/k/v projection is addressed by output slices.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .precision import compose
from .quantized import dense_weight


class Tap:
    """Holds the input a projection saw in the current forward pass."""

    value: torch.Tensor | None = None


class Attachment(nn.Module):
    """One delta at one site: reads ``source``, computes Δh, composes it into (a slice of) h."""

    def __init__(
        self,
        delta: nn.Module,
        composition: nn.Module,
        source: Literal["input", "output"] | Tap,
        out_slice: tuple[int, int] | None = None,
        spec_index: int = 0,
    ):
        super().__init__()
        self.delta = delta
        self.composition = composition
        self.source = source
        self.out_slice = out_slice
        self.spec_index = spec_index

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        target = h if self.out_slice is None else h[..., self.out_slice[0] : self.out_slice[1]]
        if isinstance(self.source, Tap):
            source = self.source.value
        else:
            source = x if self.source == "input" else target
        new = compose(self.delta, self.composition, target, source)
        if self.out_slice is None:
            return new
        a, b = self.out_slice
        return torch.cat([h[..., :a], new, h[..., b:]], dim=-1)


class InputAttachment(nn.Module):
    """A scaling or bias vector applied to a projection's input (IA3's FFN inner activation)."""

    def __init__(self, delta: nn.Module, composition: nn.Module, spec_index: int = 0):
        super().__init__()
        self.delta = delta
        self.composition = composition
        self.spec_index = spec_index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return compose(self.delta, self.composition, x, x)


class DeltaLinear(nn.Module):
    def __init__(self, base: nn.Module, conv1d: bool = False):
        super().__init__()
        self.base = base
        self.conv1d = conv1d
        self.inputs = nn.ModuleList()
        self.outputs = nn.ModuleList()
        self.taps: list[Tap] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for tap in self.taps:
            tap.value = x
        for attachment in self.inputs:
            x = attachment(x)
        h = self.base(x)
        for attachment in self.outputs:
            h = attachment(x, h)
        return h

    def weight_out_in(self) -> torch.Tensor:
        """The base weight as (out, in), whatever the module's own layout (dense if quantised)."""
        w = dense_weight(self.base)
        return w.t() if self.conv1d else w
