"""Checked bf16 evaluation: the predictions of a float32 pass, from a bf16 pass re-run near the boundary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deltaspace.trainers.checked_eval import CheckedCounts, bf16_is_fast, predict_classes_checked


def _fake_passes(exact: torch.Tensor, error: torch.Tensor):
    """``logits_of`` over fixed float32 logits, the "bf16" ones off by ``error``; records calls."""
    calls: list[tuple[list[int], bool]] = []

    def logits_of(idx: np.ndarray, bf16: bool) -> torch.Tensor:
        calls.append((idx.tolist(), bf16))
        rows = torch.as_tensor(idx)
        return exact[rows] + (error[rows] if bf16 else 0)

    return logits_of, calls


def test_predictions_are_the_float32_arg_max_even_where_bf16_flips_them() -> None:
    gen = torch.Generator().manual_seed(0)
    exact = torch.randn(400, 3, generator=gen) * 3
    # a bf16-sized error: 1% of the row's largest |logit|, in a random direction per logit
    error = 0.01 * exact.abs().amax(-1, keepdim=True).clamp(min=1) * torch.randn(400, 3, generator=gen).sign()
    flipped = (exact + error).argmax(-1) != exact.argmax(-1)
    assert flipped.any()  # the bf16 pass alone would be wrong somewhere
    logits_of, calls = _fake_passes(exact, error)
    batches = [np.arange(i, min(i + 32, 400)) for i in range(0, 400, 32)]
    counts = CheckedCounts()
    out = predict_classes_checked(batches, logits_of, 400, counts)
    assert out == exact.argmax(-1).tolist()
    # the first 32 rows run in both precisions; their largest difference d sets the boundary:
    # every later row whose bf16 margin is under 2 × 4 × d runs again in float32
    d = float(error[:32].abs().max())
    seen = exact + error
    top2 = seen.topk(2, dim=-1).values
    unsure = ((top2[:, 0] - top2[:, 1]) < 8 * d) & (torch.arange(400) >= 32)
    assert counts.as_dict() == {"bf16": 368, "rechecked": int(unsure.sum()), "fp32": 32}
    assert counts.difference == pytest.approx(d, rel=1e-5)  # (exact + error) - exact in float32
    rerun = sorted(i for idx, bf16 in calls[2:] if not bf16 for i in idx)
    assert rerun == torch.nonzero(unsure).flatten().tolist()
    assert 0 < counts.rechecked < 200  # most rows were decided by the bf16 pass
    assert flipped[32:].any() and unsure[flipped].all()  # a bf16 flip after the calibration was re-run


def test_a_split_near_the_boundary_switches_to_float32() -> None:
    """An untrained model's logits are nearly equal: after a quarter of the split in bf16, the rest
    runs in float32 once, and nothing but that quarter runs twice."""
    gen = torch.Generator().manual_seed(1)
    exact = torch.randn(400, 2, generator=gen) * 0.01
    logits_of, calls = _fake_passes(exact, torch.randn(400, 2, generator=gen) * 0.01)
    batches = [np.arange(i, i + 50) for i in range(0, 400, 50)]
    counts = CheckedCounts()
    assert predict_classes_checked(batches, logits_of, 400, counts) == exact.argmax(-1).tolist()
    # calibration: 32 rows in float32; 18 + 50 + 50 rows in bf16 reach a quarter (all unsure);
    # the other five batches in float32; the 118 unsure rows again in float32
    assert counts.as_dict() == {"bf16": 118, "rechecked": 118, "fp32": 32 + 250}
    assert [bf16 for _, bf16 in calls] == [False, True, True, True, True] + [False] * (5 + 3)


def test_a_head_that_amplifies_the_bf16_difference_is_measured_not_assumed(tmp_path) -> None:
    """A head with large weights and a cancelling bias moves bf16 logits far (here by more than
    the margins); the calibration sees it and the predictions stay float32's."""
    exact = torch.tensor([[0.0, 0.3], [0.0, -0.2], [0.0, 0.1], [0.0, -5.0]]).repeat(20, 1)
    error = torch.tensor([0.0, 1.5]).repeat(80, 1)  # bf16 says class 1 for the first three
    logits_of, _ = _fake_passes(exact, error)
    counts = CheckedCounts()
    out = predict_classes_checked([np.arange(i, i + 40) for i in (0, 40)], logits_of, 80, counts)
    assert out == exact.argmax(-1).tolist() and counts.difference == pytest.approx(1.5)


def test_examples_outside_the_batches_stay_none() -> None:
    exact = torch.tensor([[0.0, 5.0], [5.0, 0.0], [0.0, 5.0]])
    logits_of, _ = _fake_passes(exact, torch.zeros_like(exact))
    assert predict_classes_checked([np.array([2, 0])], logits_of, 3) == [1, None, 1]


def _spread_logits(model: torch.nn.Module, valid) -> None:
    """Scale and shift the head so that the logit differences spread over about ±1 around the
    boundary: some examples far from it, some near it (a random tiny model's are all alike)."""
    from deltaspace.trainers.batching import collate

    model.eval()
    with torch.inference_mode():
        logits = model(**collate(valid, np.arange(len(valid)), 0, with_targets=False)).logits
    diff = logits[:, 1] - logits[:, 0]
    head = model.classifier
    k = 1.0 / float(diff.std())
    with torch.no_grad():  # logit 0 is 0, logit 1 the centred difference
        head.weight[1] = k * (head.weight[1] - head.weight[0])
        head.bias[1] = k * (head.bias[1] - head.bias[0] - float(diff.median())) - 0.1  # no exact tie
        head.weight[0] = 0.0
        head.bias[0] = 0.0


def _tiny_evaluator(tmp_path, checked: bool):
    from search_support import make_sst2, make_tiny_model

    from deltaspace.methods import load_backbone
    from deltaspace.space import HeadSpec
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.tasks import get_task

    torch.manual_seed(0)
    model_dir, data = make_tiny_model(tmp_path / "model"), make_sst2(tmp_path / "data")
    model, tok = load_backbone(str(model_dir), HeadSpec())
    task = get_task("sst2")
    valid = encode(task, load_split(task, "validation", data), tok, 32)
    _spread_logits(model, valid)
    settings = TrainSettings(eval_batch_size=8, max_length=32, progress=False, checked_bf16_eval=checked)
    return Evaluator(model, task, valid, tok, settings, torch.device("cpu")), model, valid


@pytest.mark.skipif(not bf16_is_fast(torch.device("cpu")), reason="this CPU has no native bf16 kernels")
def test_the_evaluator_scores_what_float32_forward_passes_predict(tmp_path) -> None:
    from deltaspace.trainers.batching import collate

    evaluator, model, valid = _tiny_evaluator(tmp_path, checked=True)
    assert evaluator.checked
    score, _ = evaluator()
    model.eval()
    with torch.inference_mode():  # one example at a time, float32, no batching
        expected = [int(model(**collate(valid, np.array([i]), 0, with_targets=False)).logits.argmax()) for i in range(len(valid))]  # fmt: skip
    accuracy = float(np.mean(np.array(expected) == np.array(valid.references)))
    assert score == pytest.approx(accuracy, abs=1e-12)
    c = evaluator.counts
    assert c.bf16 > 0 and c.rechecked > 0 and c.bf16 + c.fp32 == len(valid)


def test_turned_off_or_without_a_margin_it_is_not_used(tmp_path, monkeypatch) -> None:
    evaluator, _, valid = _tiny_evaluator(tmp_path, checked=False)
    assert not evaluator.checked
    evaluator()
    assert evaluator.counts.as_dict() == {"bf16": 0, "rechecked": 0, "fp32": 0}
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not bf16_is_fast(torch.device("cpu"))


def test_it_is_no_part_of_a_trials_identity() -> None:
    """Turning it off changes how fast a trial evaluates, not its result: the stored trial is reused."""
    from optuna.trial import FixedTrial

    from deltaspace.search.objective import training_identity
    from deltaspace.search.space_sampling import sample_point
    from deltaspace.search.validate import check_study
    from deltaspace.space.study import study_from_mapping

    def identity(training: dict) -> dict:
        spec = study_from_mapping({"name": "s", "model": "minilm", "task": "sst2", "methods": ["lora"],
                                   "budget": {"max_steps": 10, "n_trials": 1}, "training": training})  # fmt: skip
        plan = check_study(spec)
        return training_identity(plan, sample_point(FixedTrial({}), spec))

    assert identity({"lr": 1e-3}) == identity({"lr": 1e-3, "checked_bf16_eval": False})
    assert identity({"lr": 1e-3}) != identity({"lr": 2e-3})
