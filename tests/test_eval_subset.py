"""Intermediate evaluations on a fixed stratified subset; the reported score on the whole split."""

from __future__ import annotations

import numpy as np
import pytest

from deltaspace.trainers.subsets import strata, stratified_indices, subset


def test_stratified_indices_keep_proportions_and_are_fixed() -> None:
    groups = np.array([0] * 60 + [1] * 30 + [2] * 10)
    chosen = stratified_indices(groups, 20)
    assert len(chosen) == 20 and len(set(chosen.tolist())) == 20 and np.all(np.diff(chosen) > 0)
    assert np.bincount(groups[chosen]).tolist() == [12, 6, 2]  # 60%, 30%, 10% of 20
    assert np.array_equal(chosen, stratified_indices(groups, 20))  # the same subset every time
    odd = stratified_indices(np.array([0] * 5 + [1] * 5 + [2] * 5), 4)  # quotas 4/3 each: remainders
    assert len(odd) == 4 and sorted(np.bincount(np.array([0] * 5 + [1] * 5 + [2] * 5)[odd]).tolist()) == [
        1,
        1,
        2,
    ]
    assert np.array_equal(stratified_indices(groups, 500), np.arange(100))


def test_strata_by_kind() -> None:
    assert strata(["neg", "pos", "neg"], "classification").tolist() == [0, 1, 0]
    bins = strata(list(np.linspace(0.0, 5.0, 10)), "regression")
    assert bins.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # five quantile bins, two values each
    assert strata(["a", "b"], "seq2seq").tolist() == [0, 0]


def test_subset_takes_every_per_example_field() -> None:
    from deltaspace.trainers.data import Encoded

    data = Encoded(
        input_ids=[[1], [2, 3], [4, 5, 6]], token_type_ids=None, targets=[0, 1, 0], references=[0, 1, 0]
    )
    part = subset(data, np.array([0, 2]))
    assert part.input_ids == [[1], [4, 5, 6]] and part.targets == [0, 0] and part.token_type_ids is None
    assert part.lengths.tolist() == [1, 3]


def test_subset_steers_training_and_the_whole_split_scores_the_best_weights(tmp_path) -> None:
    import torch
    from search_support import make_sst2, make_tiny_model

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.space import HeadSpec, preset
    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.data import encode, load_split
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.tasks import get_task
    from deltaspace.trainers.trial import train_and_evaluate

    model_dir, data = make_tiny_model(tmp_path / "model"), make_sst2(tmp_path / "data")
    settings = TrainSettings(max_steps=8, batch_size=8, eval_batch_size=16, max_length=32, eval_every=2,
                             eval_subset=10, progress=False, latency_batches=0, lr=1e-2, threads=1,
                             adaptive_threads=False)  # fmt: skip
    torch.manual_seed(0)
    backbone, tok = load_backbone(str(model_dir), HeadSpec())
    applied = apply_method(backbone, preset("lora"))
    result = train_and_evaluate(applied.model, tok, "sst2", data, settings, counts=applied.counts)
    assert result.status == "complete" and len(result.eval_curve) == 4

    task = get_task("sst2")
    valid = encode(task, load_split(task, "validation", data), tok, 32)
    chosen = stratified_indices(strata(valid.references, "classification"), 10)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = Evaluator(applied.model, task, valid, tok, settings, torch.device("cpu"))()
        part = Evaluator(applied.model, task, subset(valid, chosen), tok, settings, torch.device("cpu"))()
    finally:
        torch.set_num_threads(before)
    assert part[0] != whole[0]  # the two scores differ here, so the next lines tell them apart
    assert result.score == whole[0] and result.metrics == pytest.approx(whole[1])  # reported: whole split
    assert max(p.score for p in result.eval_curve) == part[0]  # the curve: the subset, best weights kept
    assert result.phase_seconds["evaluate_full"] > 0


def test_a_lower_rung_scores_the_subset_only(tmp_path) -> None:
    """``full_eval=False`` (a promoted study's lower rungs): the one evaluation, at the end, scores
    the subset and no whole-split evaluation runs; the last rung (``full_eval``) scores the whole
    split once, with no subset evaluation before it."""
    from search_support import make_sst2, make_tiny_model

    from deltaspace.trainers import TrainSettings
    from deltaspace.trainers.trial import run_trial

    model_dir, data = make_tiny_model(tmp_path / "model"), make_sst2(tmp_path / "data")
    base = dict(max_steps=4, schedule_steps=8, keep_best=False, batch_size=8, eval_batch_size=16, max_length=32,
                eval_subset=10, progress=False, latency_batches=0, lr=1e-2, threads=1, adaptive_threads=False)  # fmt: skip
    low = run_trial(str(model_dir), "lora", "sst2", data, TrainSettings(**base, full_eval=False))
    full = run_trial(str(model_dir), "lora", "sst2", data, TrainSettings(**base))
    assert low.status == full.status == "complete"
    assert [p.step for p in low.eval_curve] == [p.step for p in full.eval_curve] == [4]
    assert low.score == low.eval_curve[0].score and full.score == full.eval_curve[0].score
    assert "evaluate_full" not in low.phase_seconds and "evaluate_full" not in full.phase_seconds
    assert full.score != low.score  # 24 sentences against 10, the same weights
