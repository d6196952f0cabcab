"""Diff pruning's second phase (Guo et al. 2021): fix the projected mask, keep fine-tuning it."""

from __future__ import annotations

from torch import nn

from ..forms import L0Diff

# Guo et al. 2021 train the gated diff, project it onto the L0 ball, then fine-tune the projected
# entries; the trainer fixes the mask once this fraction of the run's schedule has passed.
FIX_AT_FRACTION = 2.0 / 3.0


def fix_step(schedule_steps: int) -> int:
    """The step after which diff pruning's mask is fixed, for a run whose schedule spans
    ``schedule_steps`` (a promoted run's whole budget, so every rung agrees on it)."""
    return max(1, round(FIX_AT_FRACTION * schedule_steps))


def fix_diff_masks(model: nn.Module) -> int:
    """Fix the mask of every ``l0_diff`` site of ``model`` (``L0Diff.fix_mask``); returns how many.

    Call it once during training (for example after two thirds of the steps). The optimiser may
    stay: the gates stop receiving gradients, and w changes W' only at the k fixed entries.
    """
    sites = [m for m in model.modules() if isinstance(m, L0Diff)]
    for site in sites:
        site.fix_mask()
    return len(sites)


def fix_diff_masks_at(model: nn.Module, step: int, schedule_steps: int) -> bool:
    """Diff pruning's phase change, driven by the training loop after each step: fix the masks of
    ``model``'s not yet fixed ``l0_diff`` sites once ``step`` reaches ``fix_step(schedule_steps)``.
    True when it fixed any (the model's weights now mean something else)."""
    if step < fix_step(schedule_steps):
        return False
    open_sites = [m for m in model.modules() if isinstance(m, L0Diff) and not bool(m.fixed)]
    for site in open_sites:
        site.fix_mask()
    return bool(open_sites)
