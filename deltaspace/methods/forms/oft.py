"""OFT (Qiu et al. 2023): the projection reads x R, R block-diagonal orthogonal.

Each block is the exact Cayley transform R = (I - Q)(I + Q)⁻¹ of the skew-symmetric Q whose upper
triangle is one row of ``weight`` (zeros: R = I). The module returns Δx = x R - x, which the
projection adds to its input (an input attachment composed by add).
"""

from __future__ import annotations

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site


class OFT(nn.Module):
    def __init__(self, in_dim: int, block: int):
        super().__init__()
        self.block = block
        rows, cols = torch.triu_indices(block, block, 1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.weight = nn.Parameter(torch.zeros(in_dim // block, block * (block - 1) // 2))

    def rotations(self) -> torch.Tensor:
        """(blocks, b, b): R_k = (I - Q_k)(I + Q_k)⁻¹."""
        q = self.weight.new_zeros(self.weight.shape[0], self.block, self.block)
        q[:, self.rows, self.cols] = self.weight
        q = q - q.transpose(-1, -2)
        eye = torch.eye(self.block, dtype=q.dtype, device=q.device).expand_as(q)
        return torch.linalg.solve(eye + q, eye - q, left=False)

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        blocks = x.reshape(*x.shape[:-1], self.weight.shape[0], self.block)
        return torch.einsum("...rk,rkc->...rc", blocks, self.rotations().to(x.dtype)).reshape(x.shape)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        return self.rotate(source) - source

    def affine(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Δx = x Aᵀ with Aᵀ = blockdiag(R) - I."""
        rotation = torch.block_diag(*self.rotations())
        return (rotation - torch.eye(rotation.shape[0], dtype=rotation.dtype, device=rotation.device)).T, None


def build_oft(delta: DeltaSpec, site: Site) -> OFT:
    return OFT(site.in_dim, delta.size or 0)
