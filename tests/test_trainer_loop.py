"""The training loop and `run_trial`: budgets, pruning, early stop, determinism, failures as results."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from deltaspace.trainers import TrainSettings, TrialResult
from deltaspace.trainers.trial import run_trial, train_and_evaluate

os.environ.setdefault("HF_HUB_OFFLINE", "1")
QUICK = TrainSettings(
    max_steps=4, batch_size=8, eval_batch_size=16, max_length=32, progress=False, latency_batches=1, threads=1
)
WORDS = [
    "a fine film",
    "dull and slow going",
    "the best of the year",
    "not good",
    "rather bad acting all round",
]


def write_split(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def sst2_dir(tmp_path: Path) -> Path:
    rows = [{"sentence": WORDS[i % 5], "label": int(i % 5 in (0, 2))} for i in range(64)]
    write_split(tmp_path / "train.jsonl", rows)
    write_split(tmp_path / "validation.jsonl", rows[:24])
    return tmp_path


@pytest.fixture
def stsb_dir(tmp_path: Path) -> Path:
    rows = [
        {"sentence1": WORDS[i % 5], "sentence2": WORDS[(i * 2) % 5], "label": (i % 11) / 2} for i in range(64)
    ]
    write_split(tmp_path / "train.jsonl", rows)
    write_split(tmp_path / "validation.jsonl", rows[:24])
    return tmp_path


def trial(tiny_bert, tokenizer, data_dir, task: str = "sst2", **settings) -> TrialResult:
    return run_trial(
        tiny_bert, "lora", task, data_dir, QUICK.model_copy(update=settings), tokenizer=tokenizer
    )


def test_complete_result_has_everything(tiny_bert, tokenizer, sst2_dir) -> None:
    result = trial(tiny_bert, tokenizer, sst2_dir, eval_every=2)
    assert result.status == "complete" and result.failure_reason is None
    assert [p.step for p in result.eval_curve] == [2, 4] and result.steps == 4
    assert result.score == max(p.score for p in result.eval_curve) and "accuracy" in result.metrics
    assert result.method_name == "lora" and result.delta_params > 0 and result.head_params > 0
    assert result.learning_rate == 2e-3
    assert 0 < result.percent < 100 and result.trainable_params == result.delta_params + result.head_params
    assert result.train_seconds > 0 and result.train_examples_per_second > 0 and result.peak_memory_mb >= 0
    assert result.latency_ms_batch1 and result.latency_ms_batch32 is None  # 24 examples: no batch of 32
    assert result.provenance.torch_version and result.provenance.model.startswith("random bert")
    assert TrialResult.from_json(result.to_json()) == result


def test_identical_seeds_identical_results(tiny_bert, tokenizer, stsb_dir) -> None:
    runs = [trial(tiny_bert, tokenizer, stsb_dir, "stsb", eval_every=2, seed=s) for s in (3, 3, 4)]
    assert all(r.status == "complete" for r in runs)
    curve = [[(p.step, p.metrics) for p in r.eval_curve] for r in runs]
    assert curve[0] == curve[1] and runs[0].metrics == runs[1].metrics
    assert curve[0] != curve[2]


def test_on_eval_prunes(tiny_bert, tokenizer, sst2_dir) -> None:
    seen: list[tuple[int, float]] = []

    def prune_at_second_eval(step: int, score: float) -> bool:
        seen.append((step, score))
        return len(seen) == 2

    result = run_trial(tiny_bert, "lora", "sst2", sst2_dir, QUICK.model_copy(update={"max_steps": 10, "eval_every": 2}),
                       on_eval=prune_at_second_eval, tokenizer=tokenizer)  # fmt: skip
    assert result.status == "pruned" and result.steps == 4
    assert seen == [(p.step, p.score) for p in result.eval_curve]


def test_early_stop_and_wall_budget(tiny_bert, tokenizer, sst2_dir) -> None:
    stuck = trial(tiny_bert, tokenizer, sst2_dir, lr=1e-12, max_steps=20, eval_every=2, patience=2)
    assert stuck.status == "complete" and stuck.steps == 6  # evals at 2, 4, 6: no gain after the first
    assert stuck.stop_reason == "early stopping (patience 2) after 6 of 20 steps"
    budget = trial(tiny_bert, tokenizer, sst2_dir, max_steps=50, max_train_seconds=1e-9)
    assert budget.status == "complete" and budget.steps == 1 and len(budget.eval_curve) == 1
    assert budget.stop_reason == "max_train_seconds=1e-09 reached after 1 of 50 steps"
    full = trial(tiny_bert, tokenizer, sst2_dir, max_steps=4)
    assert full.steps == 4 and full.stop_reason is None


def test_model_keeps_best_weights(tiny_bert, tokenizer, stsb_dir, monkeypatch) -> None:
    """The trained model holds the weights of its best evaluation, bit for bit.

    Which evaluation is best must not depend on the machine: the real Spearman scores of this tiny
    model are near-ties around 0.03 whose order changes with the CPU's kernels (steps 8, 10, 12:
    0.0328, 0.0313, 0.0304 with AVX-512, 0.0302, 0.0313, 0.0190 with ``ATEN_CPU_CAPABILITY=avx2``),
    so a test that needs "the last evaluation was not the best" from real scores passes or fails
    by the CPU, the same way on every run. The loop is therefore steered by scripted scores (best
    at step 4, the last one lower), while each
    evaluation's real score is recorded: re-evaluating the restored model must reproduce the real
    score of step 4 exactly. That re-evaluation runs under the trial's own thread count: at
    another count the float reductions differ in the last bits and near-tied Spearman ranks flip;
    the default is set to 3 first, so evaluating at the machine's default would fail."""
    import torch

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers import trial as trial_module
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.tasks import get_task

    scripted = [0.2, 0.9, 0.5, 0.4, 0.3, 0.1]  # evaluations at steps 2, 4, …, 12: the best at step 4
    real_scores: list[float] = []

    class ScriptedEvaluator(Evaluator):
        def __call__(self) -> tuple[float, dict[str, float]]:
            real, metrics = super().__call__()
            real_scores.append(real)
            return scripted[len(real_scores) - 1], metrics

    monkeypatch.setattr(trial_module, "Evaluator", ScriptedEvaluator)
    settings = QUICK.model_copy(update={"max_steps": 12, "eval_every": 2, "lr": 0.01})
    torch.manual_seed(0)
    model, tok = load_backbone(tiny_bert, head=HeadSpec(kind="regression"), tokenizer=tokenizer)
    applied = apply_method(model, preset("lora"))
    trainable = {n: p for n, p in applied.model.named_parameters() if p.requires_grad}
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def snapshot(step: int, score: float) -> bool:
        snapshots[step] = {n: p.detach().clone() for n, p in trainable.items()}
        return False

    default_threads = torch.get_num_threads()
    torch.set_num_threads(3)  # unlike the trial's settings.threads = 1
    try:
        result = train_and_evaluate(
            applied.model, tok, "stsb", stsb_dir, settings, counts=applied.counts, on_eval=snapshot
        )
        assert torch.get_num_threads() == 3  # the trial gave the caller's thread count back
    finally:
        torch.set_num_threads(default_threads)
    assert [(p.step, p.score) for p in result.eval_curve] == list(zip(range(2, 13, 2), scripted, strict=True))
    assert result.score == 0.9 and result.steps == 12 and snapshots.keys() == {2, 4, 6, 8, 10, 12}
    assert not torch.equal(snapshots[4]["classifier.bias"], snapshots[12]["classifier.bias"])  # it trained on
    for name, param in trainable.items():  # restored: step 4's weights exactly
        assert torch.equal(param.detach(), snapshots[4][name]), name

    task = get_task("stsb")
    valid = encode(task, load_split(task, "validation", stsb_dir), tok, 32)
    torch.set_num_threads(settings.threads)
    try:
        score, _ = Evaluator(applied.model, task, valid, tok, settings, torch.device("cpu"))()
    finally:
        torch.set_num_threads(default_threads)
    assert score == real_scores[1]  # the real score step 4's evaluation saw, to the last bit
    assert score != real_scores[-1]  # not the last weights' score


def test_default_learning_rate_follows_the_forms() -> None:
    from deltaspace.space import preset
    from deltaspace.trainers.settings import FORM_LEARNING_RATES, default_lr

    assert default_lr(preset("lora")) == FORM_LEARNING_RATES["low_rank"]
    assert default_lr(preset("mam")) == min(FORM_LEARNING_RATES["prefix"], FORM_LEARNING_RATES["bottleneck"])
    assert default_lr(preset("full")) == 2e-5 and default_lr(preset("bitfit")) == default_lr(None) == 1e-3


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="patience"):
        TrainSettings(patience=2)
    with pytest.raises(ValueError, match="extra"):
        TrainSettings(learning_rate=1e-3)


@pytest.mark.parametrize(
    ("train", "validation", "reason"),
    [
        ([{"text": "a", "label": 0}], None, r"missing column\(s\) \['sentence'\].*found \['text', 'label'\]"),
        (
            [{"sentence": "a", "label": 0}, {"sentence": "b", "label": 7}],
            None,
            r"label\(s\) \['7'\].*outside.*\[0, 1\]",
        ),
        (
            [{"sentence": None, "label": 0}, {"sentence": "b", "label": 1}],
            None,
            r"'sentence' is null in 1 row",
        ),
        (None, [], r"validation split is empty"),
    ],
)
def test_bad_data_fails_with_reason(train, validation, reason, tiny_bert, tokenizer, sst2_dir) -> None:
    if train is not None:
        write_split(sst2_dir / "train.jsonl", train)
    if validation is not None:
        write_split(sst2_dir / "validation.jsonl", validation)
    result = trial(tiny_bert, tokenizer, sst2_dir)
    assert result.status == "failed" and result.score is None
    assert result.failure_reason and re.search(reason, result.failure_reason), result.failure_reason


def test_missing_file_unknown_task_and_no_hub(tiny_bert, tokenizer, tmp_path) -> None:
    missing = trial(tiny_bert, tokenizer, tmp_path)
    assert (
        missing.status == "failed"
        and "train file" in missing.failure_reason
        and "not found" in missing.failure_reason
    )
    unknown = trial(tiny_bert, tokenizer, tmp_path, task="sst3")
    assert unknown.status == "failed" and "unknown task 'sst3'" in unknown.failure_reason


def test_nan_loss_fails(tiny_bert, tokenizer, sst2_dir) -> None:
    import torch

    from deltaspace.methods import load_backbone

    model, tok = load_backbone(tiny_bert, tokenizer=tokenizer)
    with torch.no_grad():
        model.classifier.weight.fill_(math.nan)
    result = train_and_evaluate(model, tok, "sst2", sst2_dir, QUICK)
    assert result.status == "failed" and result.failure_reason == "loss became nan at step 1"


def test_out_of_memory_fails(tiny_bert, tokenizer, sst2_dir) -> None:
    from deltaspace.methods import load_backbone

    model, tok = load_backbone(tiny_bert, tokenizer=tokenizer)

    def oom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    model.forward = oom
    result = train_and_evaluate(model, tok, "sst2", sst2_dir, QUICK)
    assert result.status == "failed" and result.failure_reason.startswith("out of memory at step 1 (batch 8x")


def test_no_trainable_parameters_fails(tiny_bert, tokenizer, sst2_dir) -> None:
    from deltaspace.methods import load_backbone

    model, tok = load_backbone(tiny_bert, tokenizer=tokenizer)
    model.requires_grad_(False)
    result = train_and_evaluate(model, tok, "sst2", sst2_dir, QUICK)
    assert result.status == "failed" and "no trainable parameters" in result.failure_reason


def test_a_process_tokenizes_each_split_once(tiny_bert, tokenizer, sst2_dir, monkeypatch) -> None:
    from deltaspace.trainers import data

    calls: list[int] = []
    real_encode = data.encode
    monkeypatch.setattr(data, "_ENCODED", type(data._ENCODED)())
    monkeypatch.setattr(data, "encode", lambda task, rows, *a, **k: calls.append(len(rows)) or real_encode(task, rows, *a, **k))
    first = trial(tiny_bert, tokenizer, sst2_dir, eval_every=2)
    second = trial(tiny_bert, tokenizer, sst2_dir, eval_every=2)
    assert calls == [64, 24]  # train and validation, the first trial only
    assert [(p.step, p.metrics) for p in first.eval_curve] == [(p.step, p.metrics) for p in second.eval_curve]
    trial(tiny_bert, tokenizer, sst2_dir, max_length=16)  # other lengths: tokenized afresh
    rows = [{"sentence": WORDS[i % 5], "label": int(i % 5 in (1, 3))} for i in range(40)]
    write_split(sst2_dir / "train.jsonl", rows)  # changed data: tokenized afresh
    changed = trial(tiny_bert, tokenizer, sst2_dir, eval_every=2)
    assert calls == [64, 24, 64, 24, 40] and changed.status == "complete"
