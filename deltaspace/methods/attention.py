"""Per-head deltas through transformers' attention interface.

Every supported family computes attention by calling
``ALL_ATTENTION_FUNCTIONS[config._attn_implementation](module, q, k, v, mask, ...)`` with
q, k, v shaped (batch, heads, tokens, head_dim). deltaspace registers ``deltaspace_sdpa`` and
``deltaspace_eager``, which wrap the model's own implementation: when the attention module
carries head deltas (``module.ds_heads``) they

* concatenate every prefix's P_k, P_v in front of the keys and values (prefix tuning), extending
  the mask so that every query sees the prefix; the λ(x) gate is then the softmax itself;
* add each multi-head bottleneck's f(q_i W_down) W_up (parallel; sequential reads the head
  output instead) to the head outputs, composed by add or scaled.

Modules without head deltas fall through to the wrapped implementation unchanged.
"""

from __future__ import annotations

import sys
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import eager_mask, sdpa_mask
from transformers.models.bert.modeling_bert import eager_attention_forward

from .forms import Prefix
from .precision import compose


class HeadDelta(nn.Module):
    """A per-head Δh module with its composition; ``reads`` is the query (``input``, x W_q of each
    head, parallel insertion) or the head's attention output (``output``, sequential)."""

    def __init__(self, bottleneck: nn.Module, composition: nn.Module, reads: str, spec_index: int):
        super().__init__()
        self.bottleneck = bottleneck
        self.composition = composition
        self.reads = reads
        self.spec_index = spec_index


class HeadDeltas(nn.Module):
    """The deltas of one attention module: prefixes (concatenated to keys and values, their λ(x)
    gate is the softmax itself) and per-head Δh modules composed into the head outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.prefixes = nn.ModuleList()
        self.bottlenecks = nn.ModuleList()

    def add(self, form: nn.Module, composition: nn.Module, reads: str, spec_index: int) -> None:
        if isinstance(form, Prefix):
            self.prefixes.append(form)
        else:
            self.bottlenecks.append(HeadDelta(form, composition, reads, spec_index))


def _extend_mask(
    mask: torch.Tensor | None, n_prefix: int, query: torch.Tensor, key: torch.Tensor, module: Any, eager: bool
) -> torch.Tensor | None:
    """The mask with ``n_prefix`` always-visible key columns in front."""
    if mask is not None:
        if mask.dtype == torch.bool:
            return F.pad(mask, (n_prefix, 0), value=True)
        return F.pad(mask, (n_prefix, 0), value=0.0)
    q_len, kv_len = query.shape[2], key.shape[2]
    if not (getattr(module, "is_causal", False) and q_len > 1):
        return None
    # causal attention over the real keys, with the prefix visible to every query
    real = kv_len - n_prefix
    rows = torch.arange(q_len, device=query.device)[:, None] + (real - q_len)
    cols = torch.arange(real, device=query.device)[None, :]
    allowed = torch.cat(
        [torch.ones(q_len, n_prefix, dtype=torch.bool, device=query.device), cols <= rows], dim=1
    )[None, None]
    if eager:
        return torch.zeros(allowed.shape, dtype=query.dtype, device=query.device).masked_fill(
            ~allowed, torch.finfo(query.dtype).min
        )
    return allowed


def _with_head_deltas(base: Any, eager: bool) -> Any:
    def attention(
        module: nn.Module,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attention_mask: torch.Tensor | None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, Any]:
        deltas: HeadDeltas | None = getattr(module, "ds_heads", None)
        if deltas is None:
            return base(module, query, key, value, attention_mask, **kwargs)
        if len(deltas.prefixes):
            batch = query.shape[0]
            prefixes: list[Prefix] = list(deltas.prefixes)  # type: ignore[arg-type]
            pk = torch.cat([p.keys for p in prefixes], dim=1).to(key.dtype)
            pv = torch.cat([p.values for p in prefixes], dim=1).to(value.dtype)
            key = torch.cat([pk.unsqueeze(0).expand(batch, -1, -1, -1), key], dim=2)
            value = torch.cat([pv.unsqueeze(0).expand(batch, -1, -1, -1), value], dim=2)
            attention_mask = _extend_mask(attention_mask, pk.shape[1], query, key, module, eager)
        out, weights = base(module, query, key, value, attention_mask, **kwargs)
        for head_delta in deltas.bottlenecks:  # out: (batch, tokens, heads, head_dim)
            h = out.transpose(1, 2)
            source = {"input": query, "output": h}[head_delta.reads]
            h = compose(head_delta.bottleneck, head_delta.composition, h, source)
            out = h.transpose(1, 2)
        return out, weights

    return attention


def _eager(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, Any]:
    """The eager attention of the module's own modeling file (each family defines one)."""
    modeling = sys.modules[type(module).__module__]
    own = getattr(modeling, "eager_attention_forward", eager_attention_forward)
    return own(module, query, key, value, attention_mask, **kwargs)


AttentionInterface.register("deltaspace_sdpa", _with_head_deltas(sdpa_attention_forward, eager=False))
AttentionInterface.register("deltaspace_eager", _with_head_deltas(_eager, eager=True))
AttentionMaskInterface.register("deltaspace_sdpa", sdpa_mask)
AttentionMaskInterface.register("deltaspace_eager", eager_mask)


def enable_head_deltas(model: Any) -> None:
    """Route the model's attention through the deltaspace wrapper of its own implementation."""
    current = model.config._attn_implementation or "sdpa"
    if current.startswith("deltaspace_"):
        return
    model.set_attn_implementation("deltaspace_eager" if current == "eager" else "deltaspace_sdpa")


def restore_attention(model: Any) -> None:
    current = model.config._attn_implementation or ""
    if current.startswith("deltaspace_"):
        model.set_attn_implementation(current.removeprefix("deltaspace_"))
