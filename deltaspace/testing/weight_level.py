"""Helpers for tests of weight-level deltas on tiny models: find their sites, train a few steps."""

from __future__ import annotations

from typing import Any

import torch

from ..methods.forms import WeightDelta
from ..methods.sites import DeltaLinear
from ..methods.sparse import regularization_loss
from .tiny_models import tiny_batch, tiny_config


def tiny_model(family: str) -> Any:
    """A tiny random sequence classifier of ``family`` (seeded), in eval mode."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config(family)).eval()


def weight_sites(model: torch.nn.Module) -> list[tuple[torch.Tensor, WeightDelta]]:
    """(frozen W slice in (out, in) layout, its weight-level delta) for every weight-level site."""
    out = []
    for linear in [m for m in model.modules() if isinstance(m, DeltaLinear)]:
        for attachment in linear.outputs:
            if isinstance(attachment.delta, WeightDelta):
                a, b = attachment.out_slice or (0, linear.weight_out_in().shape[0])
                out.append((linear.weight_out_in()[a:b], attachment.delta))
    return out


def train_steps(applied: Any, family: str, steps: int = 3, penalty: bool = False) -> None:
    """A few AdamW steps (lr 1e-2, weight decay 0.01) on the trainable parameters only; the loss
    includes the deltas' penalties when ``penalty``. Leaves the model in eval mode."""
    model = applied.model.train()
    optimizer = torch.optim.AdamW(applied.trainable_parameters(), lr=1e-2, weight_decay=0.01)
    batch, labels = tiny_batch(family), torch.tensor([0, 1])
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        if penalty:
            loss = loss + regularization_loss(model)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
