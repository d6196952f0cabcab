"""Where a delta meets the backbone: one dtype boundary for every form.

Deltas are built in float32 whatever the backbone's dtype: their parameters are the master
weights an optimiser updates (as peft keeps adapters in float32 on a bf16 or fp16 model). A
bf16 backbone therefore hands a float32 delta bf16 activations, and the delta's Δh must go back
in bf16. `compose` is that boundary: without autocast it computes Δh and the composition in the
delta's own dtype (float32: the small delta computed exactly, then rounded once into h's dtype);
under autocast the matrix products already run in the autocast dtype, so the inputs are left as
they are. Either way the result has h's dtype, so the frozen layer after it sees the dtype it
was built for.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def delta_dtype(*modules: nn.Module) -> torch.dtype | None:
    """The dtype of the first floating-point parameter (else buffer) of ``modules``; None if none."""
    for tensor in itertools.chain(*(m.parameters() for m in modules), *(m.buffers() for m in modules)):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def compose(delta: nn.Module, composition: nn.Module, h: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """``composition(h, delta(source), source)`` across the dtype boundary, in h's dtype."""
    dtype = delta_dtype(delta, composition)
    if dtype is not None and dtype != h.dtype and not torch.is_autocast_enabled(h.device.type):
        out = composition(h.to(dtype), delta(source.to(dtype)), source.to(dtype))
    else:
        out = composition(h, delta(source), source)
    return out.to(h.dtype)
