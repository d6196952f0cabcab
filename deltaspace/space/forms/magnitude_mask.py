"""PaFi (Liao et al. 2023): ΔW nonzero only on the ``fraction`` of W's entries smallest in magnitude."""

from __future__ import annotations

from .sparse_mask import sparse_mask_form

MAGNITUDE_MASK = sparse_mask_form(
    "magnitude_mask", "ΔW = scatter(values at the smallest-|W| entries)", "Liao et al. 2023 (PaFi)"
)
