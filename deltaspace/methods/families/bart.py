"""BART: an encoder-decoder; the decoder's cross-attention positions are ``cross_*``."""

from __future__ import annotations

from typing import Any

from ...space.errors import UnsupportedModelError
from .base import FamilyTable, StackTable


def _sizes(config: Any) -> dict[str, int]:
    if (config.encoder_attention_heads, config.encoder_ffn_dim) != (
        config.decoder_attention_heads,
        config.decoder_ffn_dim,
    ):
        raise UnsupportedModelError(
            "BART models whose encoder and decoder differ in heads or FFN width are not supported"
        )
    heads = config.encoder_attention_heads
    return {
        "hidden": config.d_model,
        "heads": heads,
        "kv_heads": heads,
        "head_dim": config.d_model // heads,
        "ffn": config.encoder_ffn_dim,
    }


_ATTN = {"query": "q_proj", "key": "k_proj", "value": "v_proj", "attn_out": "out_proj"}

BART = FamilyTable(
    name="bart",
    model_types=("bart", "mbart"),
    stacks=(
        StackTable("encoder", "encoder.layers", "encoder_layers"),
        StackTable("decoder", "decoder.layers", "decoder_layers", cross_attention=True),
    ),
    weights={
        **{pos: f"self_attn.{mod}" for pos, mod in _ATTN.items()},
        **{f"cross_{pos}": f"encoder_attn.{mod}" for pos, mod in _ATTN.items()},
        "ffn_in": "fc1",
        "ffn_out": "fc2",
    },
    attention={"self_attn": "self_attn", "cross_attn": "encoder_attn"},
    embeddings="shared",
    sizes=_sizes,
    activation_profile=(12.1, 1.0),
)
