"""Every preset trains through `run_trial` on a tiny BERT; what sparse methods need from the loop
(LT-SFT's mask selection, penalties joining the loss); trained weights written for export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deltaspace.space import preset_names
from deltaspace.trainers import TrainSettings
from deltaspace.trainers.trial import run_trial

os.environ.setdefault("HF_HUB_OFFLINE", "1")
QUICK = TrainSettings(max_steps=2, batch_size=8, eval_batch_size=16, max_length=32, progress=False,
                      latency_batches=0, threads=1, selection_steps=2)  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sst2")
    words = ["a fine film", "dull and slow going", "the best of the year", "not good"]
    rows = "".join(json.dumps({"sentence": words[i % 4], "label": i % 2}) + "\n" for i in range(32))
    (path / "train.jsonl").write_text(rows)
    (path / "validation.jsonl").write_text(rows)
    return path


@pytest.mark.parametrize("method", preset_names())
def test_every_preset_trains(method: str, tiny_bert, tokenizer, data_dir) -> None:
    result = run_trial(tiny_bert, method, "sst2", data_dir, QUICK, tokenizer=tokenizer)
    assert result.status == "complete", result.failure_reason
    assert result.steps == 2 and result.score is not None and result.trainable_params > 0


def test_lottery_selection_runs_only_for_lottery_masks(tiny_bert, tokenizer, data_dir) -> None:
    import torch

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.selection import select_masks
    from deltaspace.trainers.tasks import get_task

    task = get_task("sst2")
    for method, expected in (("lt_sft", True), ("lora", False)):
        model, tok = load_backbone(tiny_bert, head=HeadSpec(num_labels=2), tokenizer=tokenizer)
        applied = apply_method(model, preset(method))
        before = {n: p.detach().clone() for n, p in applied.model.named_parameters()}
        train = encode(task, load_split(task, "train", data_dir), tok, 32)
        assert select_masks(applied, train, QUICK, torch.device("cpu"), tok.pad_token_id) is expected
        after = dict(applied.model.named_parameters())
        assert all(torch.equal(before[n], after[n]) for n in before)  # selection restores every weight


def test_regularization_joins_the_loss(tiny_bert, tokenizer, data_dir) -> None:
    import math

    import torch

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.loop import train_loop
    from deltaspace.trainers.tasks import get_task

    task = get_task("sst2")
    model, tok = load_backbone(tiny_bert, head=HeadSpec(num_labels=2), tokenizer=tokenizer)
    applied = apply_method(model, preset("lora"))
    train = encode(task, load_split(task, "train", data_dir), tok, 32)
    out = train_loop(applied.model, train, lambda: (0.0, {}), QUICK, torch.device("cpu"), 0,
                     regularization=lambda: torch.tensor(math.inf))  # fmt: skip
    assert out.status == "failed" and out.failure_reason == "loss became inf at step 1"


def test_weights_path_holds_every_trainable_parameter(tiny_bert, tokenizer, data_dir, tmp_path) -> None:
    from safetensors import safe_open

    from deltaspace.space import preset

    path = tmp_path / "out" / "delta.safetensors"
    result = run_trial(tiny_bert, "lora", "sst2", data_dir, QUICK, tokenizer=tokenizer, weights_path=path)
    assert result.status == "complete"
    with safe_open(str(path), "pt") as f:
        names, metadata = set(f.keys()), f.metadata()
        total = sum(f.get_tensor(n).numel() for n in names)
    assert total == result.trainable_params and any("classifier" in n for n in names)
    assert metadata["method"] == preset("lora").canonical_json() and metadata["seed"] == "0"
