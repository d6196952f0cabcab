"""DoRA's composition (Liu et al. 2024, eq. 5): magnitude and direction of the adapted weight.

With W the site's frozen projection (out, in), ΔW the form's explicit update (LoRA's B A) and s
its scale, W' = m ⊙ (W + s·ΔW) / ‖W + s·ΔW‖_row: every output row keeps the direction of the
adapted weight and a learned length m (``magnitude``, one per output feature, initialised to
‖W‖_row so that W' = W while ΔW = 0). The norm is treated as a constant in the backward pass
(the paper's §4.3, as peft does). On the projection's output h = W x + b it reads

    h' = (m / n) ⊙ (h - b + s·Δh) + b,     n = ‖W + s·ΔW‖_row (detached), Δh = x ΔWᵀ,

so the frozen product W x is never computed twice.
"""

from __future__ import annotations

import torch
from torch import nn

from ..space.delta import DeltaSpec
from .forms import FrozenWeight, Site
from .forms.weight_delta import SharedRef


class Decomposed(nn.Module):
    def __init__(self, form: nn.Module, frozen: FrozenWeight, scale: float, learned: bool):
        super().__init__()
        self.form = SharedRef(form)  # owned by the attachment beside this composition
        self.frozen = frozen
        if learned:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.register_buffer("scale", torch.tensor(float(scale)), persistent=False)
        with torch.no_grad():
            self.magnitude = nn.Parameter(self.norm().float())  # float32 master, as every delta

    def factor(self) -> float:
        """The s of s·ΔW."""
        return float(self.scale)

    def norm(self) -> torch.Tensor:
        """‖W + s·ΔW‖ of every output row."""
        weight = self.frozen.weight()
        delta_w = self.form.module.affine()[0].to(weight.dtype)
        return torch.linalg.norm(weight + self.scale * delta_w, dim=1)

    def forward(self, h: torch.Tensor, delta: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        ratio = self.magnitude / self.norm().detach()
        bias = self.frozen.bias()
        plain = h if bias is None else h - bias
        out = ratio * (plain + self.scale * delta)
        return out if bias is None else out + bias

    def fold(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        affine: tuple[torch.Tensor | None, torch.Tensor | None],
        form: nn.Module,
    ) -> None:
        """W ← (m / n) ⊙ (W + s·ΔW); b unchanged (exact when DoRA is its projection's only delta)."""
        ratio = (self.magnitude / self.norm()).to(weight.dtype)
        delta_w, _ = affine
        assert delta_w is not None, "DoRA needs a form with an explicit ΔW"
        weight.add_(self.factor() * delta_w.to(weight.dtype)).mul_(ratio[:, None])


def build_decomposed(delta: DeltaSpec, site: Site, form: nn.Module) -> Decomposed:
    return Decomposed(form, site.weight(), delta.scale, delta.learn_scale)
