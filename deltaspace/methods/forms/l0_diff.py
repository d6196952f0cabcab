"""Diff pruning (Guo et al. 2021): W' = W + z ⊙ w with hard-concrete gates z and an L0 penalty.

Hard-concrete gates (Louizos et al. 2018), one per entry, with log α learned, temperature β = 2/3
and stretch (γ, ζ) = (-0.1, 1.1):

    training:  u ~ U(0, 1),  s = σ((log u - log(1 - u) + log α) / β),  z = min(1, max(0, s (ζ - γ) + γ))
    inference: z = min(1, max(0, σ(log α) (ζ - γ) + γ))
    penalty:   λ · E‖z‖₀ = λ · Σ σ(log α - β log(-γ / ζ))

``penalty()`` returns that term; the trainer adds ``deltaspace.methods.sparse.regularization_loss``
to the task loss. λ is the DeltaSpec's ``penalty`` (Guo et al. use 1.25e-7). w starts at 0 and
log α at 5 (gates open, Guo et al.'s α init), so W' = W before training.

The stored delta is sparse: at inference only the k = ``fraction``·|W| entries of z ⊙ w with the
largest magnitude are kept (Guo et al.'s projection onto the L0 ball, "magnitude pruning" to the
target sparsity), so evaluation, merging and export all see exactly the vector that is stored.
Guo et al. then fine-tune those k entries with the mask fixed: ``fix_mask()`` (or
``deltaspace.methods.sparse.fix_diff_masks(model)`` for every site) projects once, folds the gates
into w, and from then on trains and evaluates ΔW = scatter(w at the k indices) alone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...space.accounting import kept_entries
from ...space.delta import DeltaSpec
from .site import Site
from .weight_delta import WeightDelta

TEMPERATURE = 2.0 / 3.0
STRETCH = (-0.1, 1.1)
LOG_ALPHA_INIT = 5.0
_EPS = 1e-6


def hard_concrete(log_alpha: torch.Tensor, sample: bool) -> torch.Tensor:
    """Gates z ∈ [0, 1]: a stretched, clipped binary-concrete sample, or its deterministic value."""
    low, high = STRETCH
    if sample:
        u = torch.rand_like(log_alpha).clamp(_EPS, 1 - _EPS)
        s = torch.sigmoid((u.log() - (1 - u).log() + log_alpha) / TEMPERATURE)
    else:
        s = torch.sigmoid(log_alpha)
    return (s * (high - low) + low).clamp(0.0, 1.0)


def expected_l0(log_alpha: torch.Tensor) -> torch.Tensor:
    """E‖z‖₀ = Σ P(z ≠ 0) = Σ σ(log α - β log(-γ/ζ))."""
    low, high = STRETCH
    return torch.sigmoid(log_alpha - TEMPERATURE * math.log(-low / high)).sum()


def keep_largest(dense: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat indices, values) of the ``k`` entries of ``dense`` largest in magnitude, indices sorted."""
    flat = dense.flatten()
    indices = torch.topk(flat.detach().abs(), k).indices.sort().values
    return indices, flat[indices]


class L0Diff(WeightDelta):
    """ΔW = z ⊙ w (training: sampled gates, dense) or its top-k entries at deterministic gates;
    once the mask is fixed, w at the k fixed indices."""

    def __init__(self, out_dim: int, in_dim: int, keep: int, strength: float):
        super().__init__()
        self.keep = keep
        self.strength = strength
        self.diff = nn.Parameter(torch.zeros(out_dim, in_dim))
        self.log_alpha = nn.Parameter(torch.full((out_dim, in_dim), LOG_ALPHA_INIT))
        self.register_buffer("fixed_indices", torch.arange(keep))
        self.register_buffer("fixed", torch.tensor(False))

    def sparse(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored delta: (flat (out, in) indices, values), the top-k |z ⊙ w| at inference gates
        (or the fixed mask's entries of w)."""
        if bool(self.fixed):
            return self.fixed_indices, self.diff.flatten()[self.fixed_indices]
        return keep_largest(hard_concrete(self.log_alpha, sample=False) * self.diff, self.keep)

    @torch.no_grad()
    def fix_mask(self) -> None:
        """Project onto the L0 ball once and train only those k entries from now on (Guo et al.'s
        second phase): w ← (z ⊙ w) on the mask, 0 elsewhere; the gates no longer act."""
        indices, values = self.sparse()
        self.diff.zero_()
        self.diff.view(-1)[indices] = values
        self.fixed_indices.copy_(indices)
        self.fixed.fill_(True)
        # log α stays a trainable parameter (so a run's trainable set, and a saved loop state,
        # stay the same across the phases); it no longer enters the forward pass or the penalty,
        # so it receives no gradient and the optimiser leaves it alone.

    def delta(self) -> tuple[torch.Tensor, None]:
        if self.training and not bool(self.fixed):
            return hard_concrete(self.log_alpha, sample=True) * self.diff, None
        return self.merged_delta()

    def merged_delta(self) -> tuple[torch.Tensor, None]:
        indices, values = self.sparse()
        flat = self.diff.new_zeros(self.diff.numel()).index_put((indices,), values)
        return flat.view_as(self.diff), None

    def penalty(self) -> torch.Tensor | None:
        return None if bool(self.fixed) else self.strength * expected_l0(self.log_alpha)

    def stored_state(self) -> dict[str, torch.Tensor]:
        indices, values = self.sparse()
        return {"indices": indices, "values": values.detach()}


def build_l0_diff(delta: DeltaSpec, site: Site) -> L0Diff:
    keep = kept_entries(delta.fraction or 1.0, site.out_dim * site.in_dim)
    return L0Diff(site.out_dim, site.in_dim, keep, delta.penalty or 0.0)
