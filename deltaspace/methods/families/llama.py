"""Llama: a decoder with grouped-query attention, RMSNorm (no biases) and a gated FFN.

``ffn_in`` is the up projection; the gate projection stays untouched.
"""

from __future__ import annotations

from typing import Any

from .base import FamilyTable, StackTable


def _sizes(config: Any) -> dict[str, int]:
    heads = config.num_attention_heads
    return {
        "hidden": config.hidden_size,
        "heads": heads,
        "kv_heads": config.num_key_value_heads or heads,
        "head_dim": getattr(config, "head_dim", None) or config.hidden_size // heads,
        "ffn": config.intermediate_size,
    }


LLAMA = FamilyTable(
    name="llama",
    model_types=("llama",),
    stacks=(StackTable("decoder", "layers", "num_hidden_layers"),),
    weights={
        "query": "self_attn.q_proj",
        "key": "self_attn.k_proj",
        "value": "self_attn.v_proj",
        "attn_out": "self_attn.o_proj",
        "ffn_in": "mlp.up_proj",
        "ffn_out": "mlp.down_proj",
    },
    attention={"self_attn": "self_attn"},
    embeddings="embed_tokens",
    sizes=_sizes,
    activation_profile=(6.4, 3.0),
    layer_norm_has_bias=False,
)
