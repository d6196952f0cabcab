"""What sparse and weight-level methods need from the training loop beyond ``loss.backward()``.

* ``regularization_loss(model)``: add it to the task loss at every training step (diff pruning's
  L0 penalty; 0 for every other method).
* ``select_lottery_mask(applied, step_fn, steps)``: LT-SFT's first phase, run once before training
  a method with a ``lottery_mask`` delta.
* ``fix_diff_masks(model)``: diff pruning's second phase, run once during training (after, say, two
  thirds of the steps): the projected mask is fixed and only its entries train from then on.
"""

from .diff import fix_diff_masks
from .lottery import lottery_masks, select_lottery_mask
from .regularization import regularization_loss

__all__ = ["fix_diff_masks", "lottery_masks", "regularization_loss", "select_lottery_mask"]
