"""GPT-2: a decoder with a fused q/k/v Conv1D (``attn.c_attn``), so q, k, v are thirds of it."""

from __future__ import annotations

from typing import Any

from .base import FamilyTable, StackTable


def _sizes(config: Any) -> dict[str, int]:
    heads = config.n_head
    return {
        "hidden": config.n_embd,
        "heads": heads,
        "kv_heads": heads,
        "head_dim": config.n_embd // heads,
        "ffn": config.n_inner or 4 * config.n_embd,
    }


GPT2 = FamilyTable(
    name="gpt2",
    model_types=("gpt2",),
    stacks=(StackTable("decoder", "h", "n_layer"),),
    weights={
        "query": ("attn.c_attn", 0),
        "key": ("attn.c_attn", 1),
        "value": ("attn.c_attn", 2),
        "attn_out": "attn.c_proj",
        "ffn_in": "mlp.c_fc",
        "ffn_out": "mlp.c_proj",
    },
    attention={"self_attn": "attn"},
    embeddings="wte",
    sizes=_sizes,
    activation_profile=(8.3, 4.0),
    attention_dropout_attr="attn_pdrop",
    conv1d=True,
)
