"""Functional forms of Δh: one small module per form, looked up through ``build_form``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ...space.delta import DeltaSpec
from .bottleneck import Bottleneck, MultiHeadBottleneck
from .low_rank import LowRank
from .prefix import Prefix, PromptEmbedding
from .vectors import BiasVector, ScalingVector

FormBuilder = Callable[[DeltaSpec, int, int], nn.Module]

FORMS: dict[str, FormBuilder] = {
    "bottleneck": lambda d, i, o: Bottleneck(i, o, d.size or 0, d.activation, d.dropout, d.init),
    "low_rank": lambda d, i, o: LowRank(i, o, d.size or 0, d.dropout, d.init),
    "scaling": lambda d, i, o: ScalingVector(o, d.init),
    "bias": lambda d, i, o: BiasVector(o, d.init),
}


def build_form(delta: DeltaSpec, in_dim: int, out_dim: int) -> nn.Module:
    """The module computing Δh for a site that reads ``in_dim`` and writes ``out_dim`` features."""
    return FORMS[delta.form](delta, in_dim, out_dim)


__all__ = [
    "FORMS",
    "BiasVector",
    "Bottleneck",
    "LowRank",
    "MultiHeadBottleneck",
    "Prefix",
    "PromptEmbedding",
    "ScalingVector",
    "build_form",
]
