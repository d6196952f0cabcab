"""Compacter (Karimi Mahabadi et al. 2021, NeurIPS): a bottleneck adapter whose projections are
low-rank PHM layers, Δh = f(x W_downᵀ + b_down) W_upᵀ + b_up with

    W = Σ_{i=1..n} A_i ⊗ B_i,    A_i (n × n) shared by every Compacter layer,  B_i = s_i t_iᵀ (rank 1).

A (out × in) projection trains n·(out/n + in/n) = out + in for its B_i, so a site costs
``i + r`` (down) ``+ r`` (b_down) ``+ r + o`` (up) ``+ o`` (b_up); the 2·n³ entries of the A_i (one
set for the down, one for the up projections) are counted once for all Compacter deltas with the
same n (``phm_dim``). The Kronecker structure needs r and the hidden width divisible by n. Placed
after attention and FFN (Houlsby) it is Compacter; after the FFN only, Compacter++.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecError
from .base import FormInfo, LearningRate, SiteShape, never, no_peft

if TYPE_CHECKING:
    from ..delta import DeltaSpec


def _n(delta: DeltaSpec) -> int:
    return delta.phm_dim or 1


def per_site(delta: DeltaSpec, s: SiteShape) -> int:
    r, n = delta.size or 0, _n(delta)
    if s.i % n or s.o % n:
        raise SpecError(
            f"form='compacter' with phm_dim={n} and a site of width {s.i} → {s.o} clash: "
            f"W = Σ A_i ⊗ B_i needs the widths divisible by n={n} (choose a phm_dim that divides {s.o})"
        )
    return (s.i + r) + r + (r + s.o) + s.o


def problems(delta: DeltaSpec, kind: str) -> list[str]:
    if delta.size and delta.phm_dim and delta.size % delta.phm_dim:
        return [
            f"size={delta.size} and phm_dim={delta.phm_dim} clash: the bottleneck r must be divisible by "
            "n, the size of each A_i (W = Σ A_i ⊗ B_i)"
        ]
    return []


def group_key(delta: DeltaSpec) -> tuple[object, ...]:
    """Every Compacter delta with one n shares the A_i of its down and of its up projections."""
    return (_n(delta),)


def shared(delta: DeltaSpec, sites: int) -> int:
    return 2 * _n(delta) ** 3


COMPACTER = FormInfo(
    name="compacter",
    formula="Δh = f(x W_down + b_down) W_up + b_up, W = Σ_i A_i ⊗ (s_i t_iᵀ), A_i shared",
    source="Karimi Mahabadi et al. 2021 (Compacter, NeurIPS)",
    example={"position": "ffn_output", "size": 8},
    sites=("sublayer",),
    size="the bottleneck r (divisible by phm_dim)",
    defaults={"insertion": "sequential", "composition": "add", "init": "zero", "phm_dim": 4},
    insertions=("sequential", "parallel"),
    compositions=("add", "scaled", "gated"),
    composition_clash="'multiply' is the composition of scaling vectors, and scaling vectors only multiply",
    reads=frozenset({"activation", "phm_dim"}),
    requires={"phm_dim": "n: the number of Kronecker products and the size of each A_i"},
    problems=problems,
    per_site=per_site,
    group_key=group_key,
    shared=shared,
    merges=never,
    learning_rate=LearningRate(1e-4, 1e-2, 3e-3),
    peft=no_peft("peft has no Compacter (PHM adapter) tuner"),
)
