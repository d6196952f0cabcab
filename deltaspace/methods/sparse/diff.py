"""Diff pruning's second phase (Guo et al. 2021): fix the projected mask, keep fine-tuning it."""

from __future__ import annotations

from torch import nn

from ..forms import L0Diff


def fix_diff_masks(model: nn.Module) -> int:
    """Fix the mask of every ``l0_diff`` site of ``model`` (``L0Diff.fix_mask``); returns how many.

    Call it once during training (for example after two thirds of the steps). The optimiser may
    stay: the gates stop receiving gradients, and w changes W' only at the k fixed entries.
    """
    sites = [m for m in model.modules() if isinstance(m, L0Diff)]
    for site in sites:
        site.fix_mask()
    return len(sites)
