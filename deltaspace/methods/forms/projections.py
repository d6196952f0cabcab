"""Fixed random projections P: R^d → R^D for intrinsic-dimension tuning (Li et al. 2018).

Each is regenerated from a seed, so a model stores θ_d, never P; its tensors are non-persistent
buffers (they move with the model, and stay out of ``state_dict``).

* ``dense``: P with i.i.d. N(0, 1) entries, each column scaled to unit length; D·d memory, for
  small sites only.
* ``sparse``: about √D nonzero ±1 entries per column at random rows (the very sparse random
  projection of Li, Hastie & Church 2006, density 1/√D), columns scaled to unit length.
* ``fastfood``: P θ = (H G Π H B [θ; 0])[:D] / (√(L ‖G‖²) · √(D/L)) (Le et al. 2013, as Li et al.
  2018 and Aghajanyan et al. 2021 use it): θ zero-padded to L = 2^⌈log₂ max(D, d)⌉, B a ±1
  diagonal, H the L×L Walsh-Hadamard matrix, Π a permutation, G a N(0, 1) diagonal. Every column
  of H G Π H B has length √(L ‖G‖²); keeping D of its L rows shortens it by about √(D/L), so the
  divisor gives columns of about unit length, as the dense and sparse projections have.
  O(L log L) time and O(L) memory.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def _fwht(x: torch.Tensor) -> torch.Tensor:
    """H x for the Sylvester-ordered Hadamard matrix (scipy.linalg.hadamard), along the last axis.

    The recursion H_{2n} = [[H_n, H_n], [H_n, -H_n]] unrolled bottom-up: log₂ L butterfly passes.
    """
    length = x.shape[-1]
    lead = x.shape[:-1]
    half = 1
    while half < length:
        pairs = x.reshape(*lead, length // (2 * half), 2, half)
        a, b = pairs[..., 0, :], pairs[..., 1, :]
        x = torch.stack((a + b, a - b), dim=-2).reshape(*lead, length)
        half *= 2
    return x


class _WalshHadamard(torch.autograd.Function):
    """H x with backward H g (H is symmetric), so no pass of the recursion is kept for autograd."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return _fwht(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _fwht(grad)


def walsh_hadamard(x: torch.Tensor) -> torch.Tensor:
    """Unnormalised fast Walsh-Hadamard transform of ``x`` (last axis, a power of two long)."""
    if x.shape[-1] & (x.shape[-1] - 1):
        raise ValueError(f"the Walsh-Hadamard transform needs a power-of-two length, got {x.shape[-1]}")
    return _WalshHadamard.apply(x)


def _random_signs(n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=generator).float() * 2 - 1


class Fastfood(nn.Module):
    def __init__(self, d: int, out_dim: int, generator: torch.Generator):
        super().__init__()
        self.d, self.out_dim = d, out_dim
        self.length = length = 1 << (max(out_dim, d) - 1).bit_length()
        self.register_buffer("signs", _random_signs(length, generator), persistent=False)
        self.register_buffer("permutation", torch.randperm(length, generator=generator), persistent=False)
        self.register_buffer("gaussian", torch.randn(length, generator=generator), persistent=False)
        self.norm = math.sqrt(length * float(self.gaussian.square().sum())) * math.sqrt(out_dim / length)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.pad(theta, (0, self.length - self.d))
        x = walsh_hadamard(self.signs * x)
        x = walsh_hadamard(self.gaussian * x[self.permutation])
        return x[: self.out_dim] / self.norm


class DenseProjection(nn.Module):
    def __init__(self, d: int, out_dim: int, generator: torch.Generator):
        super().__init__()
        matrix = torch.randn(out_dim, d, generator=generator)
        self.register_buffer("matrix", matrix / matrix.norm(dim=0, keepdim=True), persistent=False)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return self.matrix @ theta


class SparseProjection(nn.Module):
    def __init__(self, d: int, out_dim: int, generator: torch.Generator):
        super().__init__()
        per_column = max(1, round(math.sqrt(out_dim)))
        rows = torch.randint(0, out_dim, (d * per_column,), generator=generator)
        cols = torch.arange(d).repeat_interleave(per_column)
        signs = _random_signs(d * per_column, generator)
        # entries drawn twice add up, as in a coalesced sparse matrix
        keys, slot = torch.unique(rows * d + cols, return_inverse=True)
        values = torch.zeros(keys.numel()).index_add(0, slot, signs)
        rows, cols = keys // d, keys % d
        lengths = torch.zeros(d).index_add(0, cols, values.square()).sqrt()
        self.out_dim = out_dim
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.register_buffer("values", values / lengths[cols].clamp_min(1e-12), persistent=False)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return theta.new_zeros(self.out_dim).index_add(0, self.rows, self.values * theta[self.cols])


PROJECTIONS: dict[str, type[nn.Module]] = {
    "dense": DenseProjection,
    "sparse": SparseProjection,
    "fastfood": Fastfood,
}
