"""Seq2seq tasks (XSum-style summarization, WMT16-style translation) on a tiny random BART."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deltaspace.trainers import TrainSettings
from deltaspace.trainers.trial import run_trial

os.environ.setdefault("HF_HUB_OFFLINE", "1")
QUICK = TrainSettings(max_steps=3, batch_size=4, eval_batch_size=8, max_length=32, max_target_length=8,
                      progress=False, latency_batches=1, threads=1)  # fmt: skip
TEXTS = [
    "the cat sat on the mat",
    "a storm hit the coast today",
    "prices rose again in march",
    "the team won",
]


@pytest.fixture(scope="module")
def tiny_bart(tokenizer):
    from transformers import BartConfig

    ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.cls_token_id,
           "eos_token_id": tokenizer.sep_token_id, "decoder_start_token_id": tokenizer.sep_token_id,
           "forced_eos_token_id": tokenizer.sep_token_id}  # fmt: skip
    return BartConfig(vocab_size=tokenizer.vocab_size, d_model=32, encoder_layers=1, decoder_layers=1,
                      encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                      decoder_ffn_dim=64, max_position_embeddings=64, **ids)  # fmt: skip


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("method", ["lora", "prefix"])
def test_xsum_summarization(method: str, tmp_path: Path, tiny_bart, tokenizer) -> None:
    rows = [{"document": f"{t}. {TEXTS[(i + 1) % 4]}.", "summary": t} for i, t in enumerate(TEXTS * 5)]
    write(tmp_path / "train.jsonl", rows)
    write(tmp_path / "validation.jsonl", rows[:6])
    result = run_trial(tiny_bart, method, "xsum", tmp_path, QUICK, tokenizer=tokenizer)
    assert result.status == "complete", result.failure_reason
    assert set(result.metrics) == {"rouge1", "rouge2", "rougeL"} and result.score == result.metrics["rouge2"]
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values()) and result.delta_params > 0


def test_wmt16_translation_nested_fields(tmp_path: Path, tiny_bart, tokenizer) -> None:
    rows = [{"translation": {"en": t, "ro": " ".join(reversed(t.split()))}} for t in TEXTS * 5]
    write(tmp_path / "train.jsonl", rows)
    write(tmp_path / "validation.jsonl", rows[:6])
    result = run_trial(tiny_bart, "lora", "wmt16_en_ro", tmp_path, QUICK, tokenizer=tokenizer)
    assert result.status == "complete", result.failure_reason
    assert set(result.metrics) == {"bleu"} and 0.0 <= result.score <= 100.0
    assert result.latency_ms_batch1 is not None


def test_seq2seq_task_needs_an_encoder_decoder(tmp_path: Path, tokenizer) -> None:
    from transformers import BertConfig

    write(tmp_path / "train.jsonl", [{"document": "a", "summary": "b"}])
    write(tmp_path / "validation.jsonl", [{"document": "a", "summary": "b"}])
    bert = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                      vocab_size=tokenizer.vocab_size)  # fmt: skip
    result = run_trial(bert, "lora", "xsum", tmp_path, QUICK, tokenizer=tokenizer)
    assert result.status == "failed" and "encoder-decoder" in result.failure_reason
