"""What sparse and weight-level methods need from the training loop beyond ``loss.backward()``.

* ``regularization_loss(model)``: add it to the task loss at every training step (diff pruning's
  L0 penalty; 0 for every other method).
* ``select_lottery_mask(applied, step_fn, steps)``: LT-SFT's first phase, run once before training
  a method with a ``lottery_mask`` delta.
"""

from .lottery import lottery_masks, select_lottery_mask
from .regularization import regularization_loss

__all__ = ["lottery_masks", "regularization_loss", "select_lottery_mask"]
