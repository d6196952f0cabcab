"""Sparse deltas on a fixed mask: ΔW = scatter(values at indices), zero elsewhere.

* PaFi (Liao et al. 2023, §3.1): the mask is task-agnostic and chosen without data, the
  ``fraction`` of W's entries with the smallest pretrained magnitude |W_ij| ("the parameters
  least important for pre-training").
* LT-SFT (Ansell et al. 2022): the mask holds the entries that moved most during a short full
  fine-tuning; ``deltaspace.methods.sparse.select_lottery_mask`` chooses it, then the model is
  reset to the pretrained values and only the masked entries train.

The trained values live in their own parameter (k entries) beside an index buffer, so the frozen
W is never updated: entries outside the mask stay bit-identical even under AdamW's weight decay.
"""

from __future__ import annotations

import torch
from torch import nn

from ...space.accounting import kept_entries
from ...space.delta import DeltaSpec
from ...space.errors import DeltaspaceError
from .site import Site
from .weight_delta import FrozenWeight, WeightDelta


def smallest_magnitude(weight: torch.Tensor, k: int) -> torch.Tensor:
    """Flat (row-major) indices of the ``k`` entries of ``weight`` with the smallest |w|, sorted."""
    return torch.topk(weight.detach().abs().flatten().float(), k, largest=False).indices.sort().values


class SparseDelta(WeightDelta):
    """ΔW with ``values`` at the flat (row-major, (out, in)) positions ``indices`` and 0 elsewhere."""

    def __init__(self, out_dim: int, in_dim: int, indices: torch.Tensor):
        super().__init__()
        self.shape = (out_dim, in_dim)
        self.register_buffer("indices", indices.long().clone())
        self.values = nn.Parameter(torch.zeros(indices.numel(), device=indices.device))

    def delta(self) -> tuple[torch.Tensor, None]:
        flat = self.values.new_zeros(self.shape[0] * self.shape[1])
        return flat.index_put((self.indices,), self.values).view(self.shape), None

    def stored_state(self) -> dict[str, torch.Tensor]:
        return {"indices": self.indices, "values": self.values.detach()}


class LotteryMask(SparseDelta):
    """An LT-SFT delta: k values whose positions ``select_lottery_mask`` fills in before training.

    Until then its forward refuses to run (outside the selection itself), so a trainer that forgot
    the selection fails with a message instead of silently training the first k entries.
    """

    def __init__(self, frozen: FrozenWeight, out_dim: int, in_dim: int, k: int):
        super().__init__(out_dim, in_dim, torch.arange(k, device=frozen.weight().device))
        self.frozen = frozen
        self.register_buffer("selected", torch.tensor(False))
        self.selecting = False

    def choose(self, indices: torch.Tensor) -> None:
        """Fix the mask to ``indices`` (flat (out, in) positions) and zero the values."""
        with torch.no_grad():
            self.indices.copy_(indices.sort().values)
            self.values.zero_()
            self.selected.fill_(True)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        if not self.selecting and not bool(self.selected):
            raise DeltaspaceError(
                "the lottery_mask delta has no mask yet: run "
                "deltaspace.methods.sparse.select_lottery_mask(applied, step_fn, steps) before training"
            )
        return super().forward(source)


def build_magnitude_mask(delta: DeltaSpec, site: Site) -> SparseDelta:
    """PaFi: the mask is the ``fraction`` of W's entries smallest in magnitude."""
    k = kept_entries(delta.fraction or 1.0, site.out_dim * site.in_dim)
    return SparseDelta(site.out_dim, site.in_dim, smallest_magnitude(site.weight().weight(), k))


def build_lottery_mask(delta: DeltaSpec, site: Site) -> LotteryMask:
    k = kept_entries(delta.fraction or 1.0, site.out_dim * site.in_dim)
    return LotteryMask(site.weight(), site.out_dim, site.in_dim, k)
