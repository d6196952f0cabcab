"""Prefix attention: Δh = softmax(x W_q P_kᵀ) P_v, gated by λ(x) (He et al. 2022, eq. 5).

The implementation concatenates P_k, P_v to each head's keys and values (Li & Liang 2021);
the attention hook in ``methods/attention.py`` does that, and a test checks the identity
``Attn(xW_q, [P_k; CW_k], [P_v; CW_v]) = (1-λ) Attn(xW_q, CW_k, CW_v) + λ softmax(xW_q P_kᵀ) P_v``.

``init="normal"`` draws P_k, P_v from N(0, σ²) with σ the spread of the frozen keys/values of real
token embeddings; ``PromptEmbedding`` (prompt tuning) copies random rows of the word embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from ...space.delta import DeltaSpec
from .site import Site


class Prefix(nn.Module):
    def __init__(
        self, kv_heads: int, head_dim: int, length: int, key_std: float = 1.0, value_std: float = 1.0
    ):
        super().__init__()
        self.keys = nn.Parameter(torch.randn(kv_heads, length, head_dim) * key_std)
        self.values = nn.Parameter(torch.randn(kv_heads, length, head_dim) * value_std)

    @property
    def length(self) -> int:
        return self.keys.shape[1]


class PromptEmbedding(nn.Module):
    def __init__(self, length: int, hidden: int, init_from: torch.Tensor | None = None):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(length, hidden))
        if init_from is not None:
            rows = torch.randint(0, init_from.shape[0], (length,))
            with torch.no_grad():
                self.embedding.copy_(init_from[rows].float())
        else:
            nn.init.normal_(self.embedding, std=0.02)


def build_prefix(delta: DeltaSpec, site: Site) -> nn.Module:
    """P_k, P_v at a per-head site (σ measured on the frozen keys and values), or the prompt."""
    length = delta.size or 0
    if site.kind == "embeddings":
        return PromptEmbedding(length, site.out_dim, site.embeddings)
    key_std, value_std = site.key_value_std() if site.key_value_std else (1.0, 1.0)
    return Prefix(site.kv_heads, site.head_dim, length, key_std, value_std)
