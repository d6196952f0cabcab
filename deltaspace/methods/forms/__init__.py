"""Functional forms: one small torch module per form, built through one registry, ``BUILDERS``.

Each form declared in ``deltaspace.space.forms`` has a builder here under the same name (a test
checks both registries agree); a builder takes the `DeltaSpec` and the `Site` it goes to (the
widths it reads and writes, the frozen W at a projection, the attention sizes at the heads).
Weight-level forms (W' = W + ΔW) are `WeightDelta`s.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ...space.delta import DeltaSpec
from .bottleneck import Bottleneck, MultiHeadBottleneck, build_bottleneck
from .compacter import Compacter, PhmRules, build_compacter
from .intrinsic import IntrinsicDelta, Subspace, build_intrinsic
from .l0_diff import L0Diff, build_l0_diff
from .loha import LoHa, build_loha
from .lokr import LoKr, build_lokr
from .low_rank import LowRank, build_low_rank
from .oft import OFT, build_oft
from .prefix import Prefix, PromptEmbedding, build_prefix
from .site import Site, WeightSite
from .sparse_mask import LotteryMask, SparseDelta, build_lottery_mask, build_magnitude_mask
from .vectors import BiasVector, ScalingVector, build_bias, build_scaling
from .vera import Vera, build_vera
from .weight_adapter import WeightAdapter, build_weight_adapter
from .weight_delta import FrozenWeight, WeightDelta

Builder = Callable[[DeltaSpec, Site], nn.Module]

BUILDERS: dict[str, Builder] = {
    "bottleneck": build_bottleneck,
    "low_rank": build_low_rank,
    "prefix": build_prefix,
    "scaling": build_scaling,
    "bias": build_bias,
    "l0_diff": build_l0_diff,
    "magnitude_mask": build_magnitude_mask,
    "lottery_mask": build_lottery_mask,
    "weight_adapter": build_weight_adapter,
    "intrinsic": build_intrinsic,
    "loha": build_loha,
    "lokr": build_lokr,
    "vera": build_vera,
    "oft": build_oft,
    "compacter": build_compacter,
}


def build_form(delta: DeltaSpec, site: Site) -> nn.Module:
    """The module computing Δh (or ΔW) of ``delta`` at ``site``."""
    return BUILDERS[delta.form](delta, site)


__all__ = [
    "BUILDERS",
    "BiasVector",
    "Bottleneck",
    "Compacter",
    "FrozenWeight",
    "IntrinsicDelta",
    "L0Diff",
    "LoHa",
    "LoKr",
    "LotteryMask",
    "LowRank",
    "MultiHeadBottleneck",
    "OFT",
    "PhmRules",
    "Prefix",
    "PromptEmbedding",
    "ScalingVector",
    "Site",
    "SparseDelta",
    "Subspace",
    "Vera",
    "WeightAdapter",
    "WeightDelta",
    "WeightSite",
    "build_form",
]
