"""Functional forms of Δh: one small module per form, looked up through ``build_form``.

Weight-level forms (W' = W + ΔW) read the frozen weight of their site, so they have their own
registry, ``WEIGHT_FORMS``, whose builders take a `WeightSite` instead of two widths.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ...space.delta import DeltaSpec
from .bottleneck import Bottleneck, MultiHeadBottleneck
from .intrinsic import IntrinsicDelta, Subspace, build_intrinsic
from .l0_diff import L0Diff, build_l0_diff
from .low_rank import LowRank
from .prefix import Prefix, PromptEmbedding
from .sparse_mask import LotteryMask, SparseDelta, build_lottery_mask, build_magnitude_mask
from .vectors import BiasVector, ScalingVector
from .weight_adapter import WeightAdapter, build_weight_adapter
from .weight_delta import FrozenWeight, WeightDelta, WeightSite

FormBuilder = Callable[[DeltaSpec, int, int], nn.Module]
WeightFormBuilder = Callable[[DeltaSpec, WeightSite], WeightDelta]

FORMS: dict[str, FormBuilder] = {
    "bottleneck": lambda d, i, o: Bottleneck(i, o, d.size or 0, d.activation, d.dropout, d.init),
    "low_rank": lambda d, i, o: LowRank(i, o, d.size or 0, d.dropout, d.init),
    "scaling": lambda d, i, o: ScalingVector(o, d.init),
    "bias": lambda d, i, o: BiasVector(o, d.init),
}

WEIGHT_FORMS: dict[str, WeightFormBuilder] = {
    "l0_diff": build_l0_diff,
    "magnitude_mask": build_magnitude_mask,
    "lottery_mask": build_lottery_mask,
    "weight_adapter": build_weight_adapter,
    "intrinsic": build_intrinsic,
}


def build_weight_form(delta: DeltaSpec, site: WeightSite) -> WeightDelta:
    """The module computing ΔW (and Δb) of a weight-level delta at one site."""
    return WEIGHT_FORMS[delta.form](delta, site)


def build_form(delta: DeltaSpec, in_dim: int, out_dim: int) -> nn.Module:
    """The module computing Δh for a site that reads ``in_dim`` and writes ``out_dim`` features."""
    return FORMS[delta.form](delta, in_dim, out_dim)


__all__ = [
    "FORMS",
    "WEIGHT_FORMS",
    "BiasVector",
    "Bottleneck",
    "FrozenWeight",
    "IntrinsicDelta",
    "L0Diff",
    "LotteryMask",
    "LowRank",
    "MultiHeadBottleneck",
    "Prefix",
    "PromptEmbedding",
    "ScalingVector",
    "SparseDelta",
    "Subspace",
    "WeightAdapter",
    "WeightDelta",
    "WeightSite",
    "build_form",
    "build_weight_form",
]
