"""Frozen projections stored quantised by bitsandbytes (QLoRA's 4-bit NF4, LLM.int8()).

A 4-bit layer keeps its weight packed (a ``Params4bit`` of shape (n/2, 1) plus a quant state); an
8-bit layer keeps int8 rows and one float scale per row (``SCB``). The deltas never change those
weights; what reads them (the shape a delta is built for, DoRA's row norms, PaFi's magnitudes,
HiWi's adapter over W) reads the dense weight that `dense_weight` dequantises on demand.
"""

from __future__ import annotations

import torch
from torch import nn


def is_quantized(weight: torch.Tensor) -> bool:
    return getattr(weight, "quant_state", None) is not None or getattr(weight, "SCB", None) is not None


def dense_weight(module: nn.Module) -> torch.Tensor:
    """``module.weight`` as a dense floating-point tensor in the module's own layout."""
    weight = module.weight
    if getattr(weight, "quant_state", None) is not None:  # 4-bit: bitsandbytes unpacks it
        import bitsandbytes.functional as bnb_functional

        return bnb_functional.dequantize_4bit(weight.data, weight.quant_state)
    scales = getattr(weight, "SCB", None)
    if scales is not None:  # 8-bit rows: w_ij = q_ij · SCB_i / 127
        return weight.data.float() * (scales.float()[:, None] / 127.0)
    return weight


def input_dtype(module: nn.Module) -> torch.dtype:
    """The dtype the module's forward pass takes: its weight's, or a quantised layer's compute dtype."""
    weight = module.weight
    if weight.is_floating_point() and not is_quantized(weight):
        return weight.dtype
    return getattr(module, "compute_dtype", None) or torch.bfloat16
