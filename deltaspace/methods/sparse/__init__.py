"""What sparse and weight-level methods need from the training loop beyond ``loss.backward()``.

* ``regularization_loss(model)``: add it to the task loss at every training step (diff pruning's
  L0 penalty; 0 for every other method).
* ``select_lottery_mask(applied, step_fn, steps)``: LT-SFT's first phase, run once before training
  a method with a ``lottery_mask`` delta.
* ``fix_diff_masks(model)``: diff pruning's second phase, run once during training: the projected
  mask is fixed and only its entries train from then on. ``fix_diff_masks_at(model, step,
  schedule_steps)`` is the loop's hook: it fixes them once two thirds of the schedule have passed.
"""

from .diff import FIX_AT_FRACTION, fix_diff_masks, fix_diff_masks_at, fix_step
from .lottery import lottery_masks, select_lottery_mask
from .regularization import regularization_loss

__all__ = ["FIX_AT_FRACTION", "fix_diff_masks", "fix_diff_masks_at", "fix_step", "lottery_masks", "regularization_loss", "select_lottery_mask"]
