"""LT-SFT (Ansell et al. 2022): ΔW nonzero only on the entries that moved most in a short full fine-tuning."""

from __future__ import annotations

from .sparse_mask import sparse_mask_form

LOTTERY_MASK = sparse_mask_form(
    "lottery_mask", "ΔW = scatter(values at the entries that moved most)", "Ansell et al. 2022 (LT-SFT)"
)
