"""LT-SFT's mask selection (Ansell et al. 2022), a lottery ticket for sparse fine-tuning.

1. Fine-tune every parameter for a few steps (``step_fn``, on the caller's data).
2. In each matrix that carries a ``lottery_mask`` delta, keep the k = ``fraction``·|W| entries that
   moved most, |W_after - W_0| (per matrix, so the count is known from the config before any data
   is seen; Ansell et al. rank all parameters together).
3. Reset every parameter to its value before step 1 (the pretrained backbone, the initial head and
   deltas) and its ``requires_grad`` flag; from then on only the selected entries (plus whatever
   else the method trains) change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...space.errors import SpecError
from ..forms import LotteryMask


def lottery_masks(model: nn.Module) -> dict[str, LotteryMask]:
    """The model's ``lottery_mask`` deltas by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LotteryMask)}


def select_lottery_mask(applied: Any, step_fn: Callable[[], object], steps: int) -> dict[str, torch.Tensor]:
    """Choose the mask of every ``lottery_mask`` delta of ``applied`` (an ``AppliedMethod``).

    ``step_fn()`` runs one optimisation step of full fine-tuning on the caller's data: while it
    runs, every parameter of ``applied.model`` requires grad (the lottery deltas' own values
    excepted), so an optimiser over ``applied.model.parameters()`` built by the caller updates
    them all. Afterwards every parameter is back at its value from before the call (throw that
    optimiser away: its state belongs to the selection phase). Returns the chosen flat (out, in)
    indices by module name. Raises SpecError when the method has no ``lottery_mask`` delta.
    """
    model = applied.model
    masks = lottery_masks(model)
    if not masks:
        raise SpecError(f"method {applied.spec.name!r} has no lottery_mask delta to select a mask for")
    if steps < 1:
        raise ValueError(f"steps={steps}: the selection needs at least one step of full fine-tuning")
    params = dict(model.named_parameters())
    saved = {n: (p.detach().clone(), p.requires_grad) for n, p in params.items()}
    start = {name: m.frozen.weight().detach().clone() for name, m in masks.items()}
    mask_values = {id(m.values) for m in masks.values()}
    for p in params.values():
        p.requires_grad_(id(p) not in mask_values)
    for m in masks.values():
        m.selecting = True
    try:
        for _ in range(steps):
            step_fn()
        with torch.no_grad():
            chosen = {
                name: torch.topk((m.frozen.weight() - start[name]).abs().flatten(), m.values.numel()).indices
                for name, m in masks.items()
            }
    finally:
        with torch.no_grad():
            for name, p in params.items():
                value, requires_grad = saved[name]
                p.copy_(value)
                p.requires_grad_(requires_grad)
                p.grad = None
        for m in masks.values():
            m.selecting = False
    for name, m in masks.items():
        m.choose(chosen[name])
    return chosen
