"""LT-SFT's first phase (Ansell et al. 2022): a short full fine-tuning that picks which weight
entries a ``lottery_mask`` method trains. ``deltaspace.methods.sparse.select_lottery_mask`` does
the bookkeeping; this module feeds it training steps on the trial's own batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .batching import collate
from .data import Encoded
from .loop import epoch_batches
from .precision import resolve_precision
from .settings import FULL_FINE_TUNING_LR, TrainSettings

if TYPE_CHECKING:
    import torch


def select_masks(
    applied: Any, train: Encoded, settings: TrainSettings, device: torch.device, pad_id: int
) -> bool:
    """Run the selection when ``applied`` has lottery masks (True), else do nothing (False).

    ``settings.selection_steps`` AdamW steps at full fine-tuning's learning rate, on the same
    length-grouped batches the trial then trains on; the selection restores every weight after.
    """
    import torch

    from ..methods.sparse import lottery_masks, select_lottery_mask

    if not lottery_masks(applied.model):
        return False
    optimizer = torch.optim.AdamW(applied.model.parameters(), lr=FULL_FINE_TUNING_LR)
    batches = epoch_batches(train.lengths, settings)
    applied.model.train()
    precision = resolve_precision(settings.precision, device)

    def step() -> None:
        batch = {k: v.to(device) for k, v in collate(train, next(batches), pad_id).items()}
        with precision.autocast():
            loss = applied.model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    select_lottery_mask(applied, step, settings.selection_steps)
    return True
