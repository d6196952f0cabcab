"""Resuming a stopped run: a trial trained to step 4, saved, and continued to step 8 ends exactly
where an uninterrupted 8-step run of the same seed and schedule ends (multi-fidelity promotion)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deltaspace.trainers import TrainSettings
from deltaspace.trainers.trial import run_trial

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RUNG, LAST = 4, 8
# dropout on (BERT's default 0.1): the resumed run must also continue the random generator
SETTINGS = TrainSettings(
    max_steps=LAST, schedule_steps=LAST, eval_every=RUNG, batch_size=8, eval_batch_size=16,
    max_length=32, progress=False, latency_batches=0, threads=1, adaptive_threads=False, lr=3e-3,
)  # fmt: skip
# as a promoted study trains: one evaluation at the end of each rung, whose weights go on
AS_RUNGS = SETTINGS.model_copy(update={"eval_every": None, "keep_best": False})


@pytest.fixture(scope="module")
def config(tokenizer):
    from transformers import BertConfig

    return BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      vocab_size=tokenizer.vocab_size)  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    words = ["a fine film", "dull and slow", "the best of the year", "not good", "bad acting all round",
             "a joy", "tedious", "wonderful cast"]  # fmt: skip
    rows = [{"sentence": f"{words[i % 8]} {words[(i * 3) % 8]}", "label": int(i % 8 in (0, 2, 5, 7))} for i in range(40)]
    for split, part in (("train", rows), ("validation", rows[:16])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return tmp_path


def weights(path: Path) -> dict:
    import torch

    return torch.load(path, weights_only=False)["weights"]


@pytest.mark.parametrize(("method", "settings"), [("lora", SETTINGS), ("houlsby", SETTINGS), ("lora", AS_RUNGS)])
def test_resumed_run_equals_uninterrupted_run(config, tokenizer, data, tmp_path, method, settings):
    import torch

    whole = run_trial(config, method, "sst2", data, settings, tokenizer=tokenizer,
                      save_state_to=tmp_path / "whole.pt")  # fmt: skip
    first = run_trial(config, method, "sst2", data, settings.model_copy(update={"max_steps": RUNG}),
                      tokenizer=tokenizer, save_state_to=tmp_path / "rung0.pt")  # fmt: skip
    rest = run_trial(config, method, "sst2", data, settings, tokenizer=tokenizer,
                     resume_from=tmp_path / "rung0.pt", save_state_to=tmp_path / "rung1.pt")  # fmt: skip
    assert whole.status == first.status == rest.status == "complete"
    assert first.steps == RUNG and rest.steps == whole.steps == LAST
    assert [p.step for p in rest.eval_curve] == [RUNG, LAST]  # the rung's evaluation, then its own
    assert rest.eval_curve[-1].score == whole.eval_curve[-1].score
    assert rest.eval_curve[0].score == first.eval_curve[0].score
    assert rest.score == whole.score and rest.metrics == whole.metrics
    if not settings.keep_best:  # a rung reports its last evaluation
        assert rest.score == rest.eval_curve[-1].score and first.score == first.eval_curve[-1].score
    a, b = weights(tmp_path / "whole.pt"), weights(tmp_path / "rung1.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the first rung really stopped early, and the rest really trained on
    c = weights(tmp_path / "rung0.pt")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_schedule_of_the_last_rung(config, tokenizer, data, tmp_path):
    """A rung trains on the last rung's schedule: its learning rate at the stop is not yet zero,
    unlike a run whose budget ends there (linear decay to 0 at max_steps)."""
    run_trial(config, "lora", "sst2", data, SETTINGS.model_copy(update={"max_steps": RUNG}),
              tokenizer=tokenizer, save_state_to=tmp_path / "rung.pt")  # fmt: skip
    run_trial(config, "lora", "sst2", data, SETTINGS.model_copy(update={"max_steps": RUNG, "schedule_steps": None}),
              tokenizer=tokenizer, save_state_to=tmp_path / "short.pt")  # fmt: skip
    import torch

    rung = torch.load(tmp_path / "rung.pt", weights_only=False)["scheduler"]
    short = torch.load(tmp_path / "short.pt", weights_only=False)["scheduler"]
    assert rung["_last_lr"][0] > 0 and short["_last_lr"][0] == 0
    # linear warm-up (6% of 8 steps: none) then decay over 8 steps: after 4, lr·(8-4)/8
    assert rung["_last_lr"][0] == pytest.approx(SETTINGS.lr * (LAST - RUNG) / LAST)


def test_resume_refuses_a_different_method(config, tokenizer, data, tmp_path):
    run_trial(config, "lora", "sst2", data, SETTINGS.model_copy(update={"max_steps": RUNG}),
              tokenizer=tokenizer, save_state_to=tmp_path / "rung.pt")  # fmt: skip
    result = run_trial(config, "houlsby", "sst2", data, SETTINGS, tokenizer=tokenizer, resume_from=tmp_path / "rung.pt")
    assert result.status == "failed" and "saved state does not match" in result.failure_reason


def test_schedule_shorter_than_budget_is_refused():
    with pytest.raises(ValueError, match="schedule_steps"):
        TrainSettings(max_steps=10, schedule_steps=5)
