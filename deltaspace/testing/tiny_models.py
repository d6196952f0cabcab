"""Tiny random configs of every supported family, for tests (a few hidden units, 2 layers)."""

from __future__ import annotations

from typing import Any


def tiny_config(family: str, vocab_size: int = 128) -> Any:
    import transformers as tf

    common = {"vocab_size": vocab_size}
    if family == "bert":
        return tf.BertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=128,
            **common,
        )
    if family == "roberta":
        return tf.RobertaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=130,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            **common,
        )
    if family == "gpt2":
        return tf.GPT2Config(
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=128,
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=0,
            **common,
        )
    if family == "bart":
        return tf.BartConfig(
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=4,
            decoder_attention_heads=4,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            decoder_start_token_id=2,
            forced_eos_token_id=2,
            **common,
        )
    llama_like = {"llama": tf.LlamaConfig, "qwen2": tf.Qwen2Config, "mistral": tf.MistralConfig}
    if family in llama_like:  # grouped key-value heads
        return llama_like[family](
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
            **common,
        )
    raise ValueError(f"no tiny config for {family!r}")


FAMILIES = ("bert", "roberta", "gpt2", "bart", "llama", "qwen2", "mistral")


def tiny_batch(
    family: str, batch: int = 2, length: int = 9, vocab_size: int = 128, seed: int = 0
) -> dict[str, Any]:
    """input_ids and attention_mask with some right padding; each row ends in the eos id 2."""
    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab_size, (batch, length), generator=g)
    mask = torch.ones(batch, length, dtype=torch.long)
    ids[:, -1] = 2
    if batch > 1:  # second row shorter, padded on the right
        mask[1, length - 3 :] = 0
        ids[1, length - 4] = 2
        ids[1, length - 3 :] = 1 if family in ("bart", "roberta") else 0
    return {"input_ids": ids, "attention_mask": mask}
