"""`Site`: what a form's builder gets for one place in the model.

``in_dim`` is the width the delta reads (x for parallel insertion, h for sequential), ``out_dim``
the width it writes. At a projection, ``frozen`` is a handle on its frozen W (weight-level forms
and LoRA's data-driven initialisations read it). ``number`` is the site's place among its delta's
sites (random projections seed from it), ``shared`` holds modules shared by every site of a group
of deltas (the intrinsic θ_d, VeRA's random matrices), ``group_sites`` counts that group's sites
(SAID's m) and ``group_shape`` is the widest (out, in) among them. Per-head
sites carry the attention sizes, and ``key_value_std`` measures the spread of the frozen keys and
values (prefix initialisation); the input embeddings are ``embeddings`` (prompt initialisation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .weight_delta import FrozenWeight


@dataclass(eq=False)
class Site:
    kind: str
    in_dim: int
    out_dim: int
    frozen: FrozenWeight | None = None
    number: int = 0
    shared: dict[str, nn.Module] = field(default_factory=dict)
    group_sites: int = 1
    group_shape: tuple[int, int] | None = None
    heads: int = 1
    kv_heads: int = 1
    head_dim: int = 0
    key_value_std: Callable[[], tuple[float, float]] | None = None
    embeddings: torch.Tensor | None = None

    def weight(self) -> FrozenWeight:
        """The frozen projection of a weight site (an error elsewhere: the validator prevents it)."""
        if self.frozen is None:
            raise ValueError(f"a {self.kind} site has no projection weight")
        return self.frozen


WeightSite = Site
