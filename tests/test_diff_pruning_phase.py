"""Diff pruning's second phase runs inside the trainer: two thirds into the run's schedule the
projected mask is fixed, and the best weights of the first phase are forgotten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deltaspace.methods import sparse
from deltaspace.methods.forms import L0Diff
from deltaspace.trainers import TrainSettings
from deltaspace.trainers import trial as trial_module
from deltaspace.trainers.evaluation import Evaluator
from deltaspace.trainers.trial import run_trial

QUICK = TrainSettings(
    max_steps=6, batch_size=8, eval_batch_size=16, max_length=32, progress=False, latency_batches=1, threads=1
)


@pytest.fixture
def sst2_dir(tmp_path: Path) -> Path:
    words = ["a fine film", "dull and slow going", "the best of the year", "not good", "bad acting"]
    rows = [{"sentence": words[i % 5], "label": int(i % 5 in (0, 2))} for i in range(64)]
    for split, part in (("train", rows), ("validation", rows[:24])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return tmp_path


@pytest.fixture
def phase_calls(monkeypatch):
    """Every call of the loop's phase hook: (step, schedule, fixed now), and the model it saw."""
    calls: list[tuple[int, int, bool]] = []
    models: list = []
    real = sparse.fix_diff_masks_at

    def spy(model, step, schedule_steps):
        changed = real(model, step, schedule_steps)
        calls.append((step, schedule_steps, changed))
        models.append(model)
        return changed

    monkeypatch.setattr(sparse, "fix_diff_masks_at", spy)
    return calls, models


def test_fix_step_is_two_thirds_of_the_schedule() -> None:
    assert sparse.fix_step(345) == 230  # 345 · 2/3
    assert sparse.fix_step(6) == 4
    assert sparse.fix_step(9) == 6
    assert sparse.fix_step(1) == 1


def test_the_trainer_fixes_the_mask_two_thirds_in(tiny_bert, tokenizer, sst2_dir, phase_calls) -> None:
    calls, models = phase_calls
    result = run_trial(tiny_bert, "diff_pruning", "sst2", sst2_dir, QUICK.model_copy(update={"lr": 1e-2}),
                       tokenizer=tokenizer)  # fmt: skip
    assert result.status == "complete", result.failure_reason
    assert [(step, changed) for step, _, changed in calls] == [(1, False), (2, False), (3, False), (4, True),
                                                               (5, False), (6, False)]  # fmt: skip
    sites = [m for m in models[-1].modules() if isinstance(m, L0Diff)]
    assert sites and all(bool(site.fixed) for site in sites)
    for site in sites:  # the trained delta lives on the fixed entries only
        dense = site.merged_delta()[0].flatten()
        assert set(dense.nonzero().flatten().tolist()) <= set(site.fixed_indices.tolist())
        assert site.penalty() is None


def test_other_methods_never_change_phase(tiny_bert, tokenizer, sst2_dir, phase_calls) -> None:
    calls, _ = phase_calls
    result = run_trial(tiny_bert, "lora", "sst2", sst2_dir, QUICK, tokenizer=tokenizer)
    assert result.status == "complete" and len(calls) == 6 and not any(changed for *_, changed in calls)


def test_a_promoted_rung_fixes_at_two_thirds_of_the_whole_budget(tiny_bert, tokenizer, sst2_dir, tmp_path,
                                                                 phase_calls) -> None:  # fmt: skip
    """A first rung shorter than the fix point trains phase one only; the promoted run, resumed from
    it, fixes the mask at two thirds of the whole schedule (9 steps: after step 6)."""
    calls, models = phase_calls
    state = tmp_path / "state.pt"
    rung = QUICK.model_copy(update={"max_steps": 3, "schedule_steps": 9, "keep_best": False})
    first = run_trial(tiny_bert, "diff_pruning", "sst2", sst2_dir, rung, tokenizer=tokenizer, save_state_to=state)
    assert first.status == "complete" and not any(changed for *_, changed in calls)
    assert not any(bool(m.fixed) for m in models[-1].modules() if isinstance(m, L0Diff))
    calls.clear()
    whole = rung.model_copy(update={"max_steps": 9})
    second = run_trial(tiny_bert, "diff_pruning", "sst2", sst2_dir, whole, tokenizer=tokenizer, resume_from=state)
    assert second.status == "complete", second.failure_reason
    # one call on resuming (step 3), then one after each of steps 4..9; the fix after step 6
    assert [(step, changed) for step, _, changed in calls] == [(3, False), (4, False), (5, False), (6, True),
                                                               (7, False), (8, False), (9, False)]  # fmt: skip
    assert {schedule for _, schedule, _ in calls} == {9}


def test_a_resumed_run_past_the_fix_point_fixes_again(tiny_bert, tokenizer, sst2_dir, tmp_path,
                                                      phase_calls) -> None:  # fmt: skip
    """The mask is a buffer, not a saved weight: resuming after the fix point fixes the new model's
    mask at once, before its first step."""
    calls, models = phase_calls
    state = tmp_path / "state.pt"
    rung = QUICK.model_copy(update={"max_steps": 5, "schedule_steps": 6, "keep_best": False})
    run_trial(tiny_bert, "diff_pruning", "sst2", sst2_dir, rung, tokenizer=tokenizer, save_state_to=state)
    calls.clear()
    whole = rung.model_copy(update={"max_steps": 6})
    result = run_trial(tiny_bert, "diff_pruning", "sst2", sst2_dir, whole, tokenizer=tokenizer, resume_from=state)
    assert result.status == "complete", result.failure_reason
    assert [(step, changed) for step, _, changed in calls] == [(5, True), (6, False)]
    assert all(bool(m.fixed) for m in models[-1].modules() if isinstance(m, L0Diff))


def test_the_best_weights_of_phase_one_are_forgotten(tiny_bert, tokenizer, sst2_dir, monkeypatch) -> None:
    """Phase one's evaluations score a model the fixed mask can no longer express: the reported best
    and the restored weights are phase two's. Scores are scripted (best at step 2, before the fix
    after step 4)."""
    scripted = iter([0.9, 0.5, 0.4])  # evaluations at steps 2, 4, 6

    class ScriptedEvaluator(Evaluator):
        def __call__(self) -> tuple[float, dict[str, float]]:
            _, metrics = super().__call__()
            return next(scripted), metrics

    monkeypatch.setattr(trial_module, "Evaluator", ScriptedEvaluator)
    settings = QUICK.model_copy(update={"eval_every": 2, "keep_best": True})
    result = run_trial(tiny_bert, "diff_pruning", "sst2", sst2_dir, settings, tokenizer=tokenizer)
    assert result.status == "complete", result.failure_reason
    assert [(p.step, p.score) for p in result.eval_curve] == [(2, 0.9), (4, 0.5), (6, 0.4)]
    # the evaluation at step 4 ran after the fix (the hook runs before the evaluation)
    assert result.score == 0.5
