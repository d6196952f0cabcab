"""BERT-like encoders: BERT, RoBERTa (and MiniLM, which is a BERT)."""

from __future__ import annotations

from typing import Any

from .base import FamilyTable, StackTable


def _sizes(config: Any) -> dict[str, int]:
    heads = config.num_attention_heads
    return {
        "hidden": config.hidden_size,
        "heads": heads,
        "kv_heads": heads,
        "head_dim": config.hidden_size // heads,
        "ffn": config.intermediate_size,
    }


BERT = FamilyTable(
    name="bert",
    model_types=("bert", "roberta"),
    stacks=(StackTable("encoder", "encoder.layer", "num_hidden_layers"),),
    weights={
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attn_out": "attention.output.dense",
        "ffn_in": "intermediate.dense",
        "ffn_out": "output.dense",
    },
    attention={"self_attn": "attention.self"},
    embeddings="embeddings.word_embeddings",
    sizes=_sizes,
    activation_profile=(7.8, 1.0),
    attention_dropout_attr="attention_probs_dropout_prob",
)
