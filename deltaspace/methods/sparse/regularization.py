"""The loss terms deltas add to the task loss: L = L_task + Σ penalty (diff pruning's λ·E‖z‖₀)."""

from __future__ import annotations

import torch
from torch import nn

from ..forms import WeightDelta


def regularization_loss(model: nn.Module) -> torch.Tensor:
    """The sum of every delta module's ``penalty()`` (a scalar tensor; 0 when no delta has one)."""
    terms = [p for m in model.modules() if isinstance(m, WeightDelta) and (p := m.penalty()) is not None]
    if terms:
        return torch.stack(terms).sum()
    return torch.zeros((), device=next(model.parameters()).device)
