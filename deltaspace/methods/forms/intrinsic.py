"""Intrinsic-dimension tuning (Li et al. 2018; Aghajanyan et al. 2021): θ = θ0 + P(θ_d).

One trainable vector θ_d is shared by every site of a subspace group (the intrinsic deltas of a
method that agree on size, projection, structured and seed, see
``deltaspace.space.accounting.subspace_key``); site i owns a fixed random projection P_i (its own
seed, as Aghajanyan et al. give each weight tensor its own Fastfood transform) and gets

    W'_i = W_i + P_i(θ_d)                          (plain)
    W'_i = W_i + λ_i P_i(θ^{d-m})                  (structure-aware, SAID: one λ per site, m sites)

θ starts at 0 and λ at 1, so W' = W before training and θ still gets a gradient. Only θ_d (and
the λs) are stored; the projections are regenerated from the DeltaSpec's seed.
"""

from __future__ import annotations

import zlib

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .projections import PROJECTIONS
from .site import Site
from .weight_delta import SharedRef, WeightDelta


class Subspace(nn.Module):
    """θ_d, registered once at the model's root (``model.ds_shared``) and read by every site."""

    def __init__(self, dim: int):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(dim))


def site_generator(seed: int, position: str, number: int) -> torch.Generator:
    """The generator of one site's projection: a function of (seed, position, site number) only."""
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}:{position}:{number}".encode()))


class IntrinsicDelta(WeightDelta):
    def __init__(
        self, subspace: nn.Module, projection: nn.Module, out_dim: int, in_dim: int, structured: bool
    ):
        super().__init__()
        self.subspace = SharedRef(subspace)
        self.projection = projection
        self.shape = (out_dim, in_dim)
        self.scale = nn.Parameter(torch.ones(())) if structured else None

    def delta(self) -> tuple[torch.Tensor, None]:
        flat = self.projection(self.subspace.module.theta)
        if self.scale is not None:
            flat = self.scale * flat
        return flat.view(self.shape), None


def build_intrinsic(delta: DeltaSpec, site: Site) -> IntrinsicDelta:
    """A site of an intrinsic delta; the group's θ (d, or d - m when structured) is made on first use."""
    size, structured = delta.size or 0, delta.structured
    dim = size - site.group_sites if structured else size
    if "subspace" not in site.shared:
        site.shared["subspace"] = Subspace(dim)
    subspace = site.shared["subspace"]
    generator = site_generator(delta.seed, delta.position, site.number)
    project = PROJECTIONS[delta.projection or "fastfood"](dim, site.out_dim * site.in_dim, generator)
    return IntrinsicDelta(subspace, project, site.out_dim, site.in_dim, structured)
