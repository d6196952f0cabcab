"""Speed machinery: phases that account for a trial's wall time, weights reused from memory with
bit-identical results, and CPU threads chosen from the cores other processes leave free."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from search_support import make_sst2, make_tiny_model

from deltaspace.trainers import TrainSettings
from deltaspace.trainers import threads as threads_module
from deltaspace.trainers.threads import ThreadGovernor, _Sample

SETTINGS = TrainSettings(max_steps=6, batch_size=8, eval_batch_size=16, max_length=32, eval_every=3,
                         progress=False, latency_batches=1, lr=1e-2)  # fmt: skip


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("speed")
    return make_tiny_model(root / "model"), make_sst2(root / "data")


def test_phases_account_for_the_trial_wall_time(saved) -> None:
    from deltaspace.trainers.trial import run_trial

    model, data = saved
    result = run_trial(str(model), "lora", "sst2", data, SETTINGS)
    assert result.status == "complete"
    phases = dict(result.phase_seconds)
    wall = phases.pop("wall")
    assert {"load", "build", "train", "evaluate", "report", "latency", "record"} <= phases.keys()
    assert phases["train"] == pytest.approx(result.train_seconds, abs=1e-5) and phases["evaluate"] > 0
    assert abs(sum(phases.values()) - wall) <= 0.02 * wall, (sum(phases.values()), wall)


def test_reused_weights_give_bit_identical_results(saved, tmp_path, monkeypatch) -> None:
    """The second trial builds its model from weights kept in memory, not from disk, and its
    scores, curve and trained weights equal a run that loaded from disk; so does a trial of
    another seed (the kept state holds the checkpoint only, never a head initialised under the
    seed of the trial that filled it)."""
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification

    from deltaspace.methods import weights_cache
    from deltaspace.trainers.trial import run_trial

    model, data = saved

    def trial(seed: int, name: str):
        out = tmp_path / f"{name}.safetensors"
        return run_trial(str(model), "lora", "sst2", data, SETTINGS, seed=seed, weights_path=out), load_file(out)

    weights_cache.forget()
    from_disk, disk_weights = trial(3, "disk3")
    paths: list[object] = []
    original = BertForSequenceClassification.from_pretrained.__func__

    def spy(cls, path, *args, **kwargs):
        paths.append(path)
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(BertForSequenceClassification, "from_pretrained", classmethod(spy))
    from_memory, memory_weights = trial(3, "memory3")
    memory4, memory4_weights = trial(4, "memory4")
    assert paths == [None, None]  # built from the kept state dict: no disk read
    monkeypatch.undo()
    weights_cache.forget()
    disk4, disk4_weights = trial(4, "disk4")

    assert from_memory.score == from_disk.score and from_memory.metrics == from_disk.metrics
    assert [p.score for p in from_memory.eval_curve] == [p.score for p in from_disk.eval_curve]
    assert [p.score for p in memory4.eval_curve] == [p.score for p in disk4.eval_curve]
    for ours, theirs in ((memory_weights, disk_weights), (memory4_weights, disk4_weights)):
        assert ours.keys() == theirs.keys() and all(ours[k].equal(theirs[k]) for k in ours)
    assert not memory4_weights["classifier.weight"].equal(memory_weights["classifier.weight"])


def test_full_fine_tuning_does_not_change_the_kept_weights(saved) -> None:
    import torch

    from deltaspace.methods import load_backbone, weights_cache
    from deltaspace.space import HeadSpec

    model, _ = saved
    weights_cache.forget()
    first, _ = load_backbone(str(model), HeadSpec(), reuse_weights=True)
    with torch.no_grad():
        for p in first.parameters():
            p.add_(1.0)  # what training every weight would do
    second, _ = load_backbone(str(model), HeadSpec(), reuse_weights=True)
    fresh, _ = load_backbone(str(model), HeadSpec())
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(dict(second.named_parameters())[name], dict(fresh.named_parameters())[name])


def samples(*points: tuple[int, int, float, float]):
    """A fake /proc/stat reader: (total jiffies, idle jiffies, own CPU s, wall s) in turn."""
    queue = [_Sample(*p) for p in points]
    return lambda: queue.pop(0)


@pytest.mark.parametrize(
    ("busy_jiffies", "own_seconds", "expected_others", "expected_threads"),
    [
        (0, 0.0, 0.0, 2),  # quiet machine: both cores
        (100, 0.0, 1.0, 1),  # another process keeps one core busy: one thread
        (200, 1.0, 1.0, 1),  # both busy, half of it ours
        (200, 2.0, 0.0, 2),  # both busy, all of it ours
        (170, 0.0, 1.7, 1),  # nearly everything taken: still one thread
        (60, 0.0, 0.6, 1),  # 1.4 cores free: one thread (a core counts as free from 60%)
        (30, 0.0, 0.3, 2),
    ],
)
def test_governor_counts_the_cores_others_use(monkeypatch, busy_jiffies, own_seconds, expected_others,
                                              expected_threads) -> None:  # fmt: skip
    # 2 cores, 1 s of wall: 200 jiffies at 100 Hz in all
    monkeypatch.setattr(threads_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "_sample",
                        samples((0, 0, 0.0, 0.0), (200, 200 - busy_jiffies, own_seconds, 1.0)))  # fmt: skip
    governor = ThreadGovernor(cap=2)
    others = governor.others_busy()
    assert others == pytest.approx(expected_others)
    assert governor.threads_for(others) == expected_threads


def test_governor_respects_cap_and_pinning(monkeypatch) -> None:
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 8)
    assert ThreadGovernor(cap=3).threads_for(0.0) == 3  # never above the worker's share
    assert ThreadGovernor(cap=3).threads_for(6.5) == 1
    assert ThreadGovernor(cap=3, adaptive=False).threads_for(6.5) == 3  # pinned
    assert ThreadGovernor(cap=None).threads_for(None) == 8  # cannot tell: the cap
    monkeypatch.setenv("DELTASPACE_ADAPTIVE_THREADS", "0")
    assert ThreadGovernor(cap=3).threads_for(6.5) == 3  # pinned for the whole worker


def test_governor_rechecks_only_after_its_interval(monkeypatch) -> None:
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "_sample", samples((0, 0, 0.0, 0.0), (200, 100, 0.0, 1.0)))
    governor = ThreadGovernor(cap=2, recheck_seconds=5.0)
    try:
        monkeypatch.setattr(threads_module.time, "monotonic", lambda: 1.0)
        assert governor.maybe_recheck() is None  # 1 s after the last sample: too soon
        monkeypatch.setattr(threads_module.time, "monotonic", lambda: 6.0)
        assert governor.maybe_recheck() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_openmp_spins_briefly_unless_the_user_chose(monkeypatch) -> None:
    from deltaspace.search.executors.local import WorkerSlot, worker_env

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    assert worker_env(WorkerSlot(0, 1, None), {})["GOMP_SPINCOUNT"] == "10000"
    chosen = worker_env(WorkerSlot(0, 1, None), {"OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen["OMP_WAIT_POLICY"] == "ACTIVE" and "GOMP_SPINCOUNT" not in chosen
    assert worker_env(WorkerSlot(0, 1, None), {"GOMP_SPINCOUNT": "5"})["GOMP_SPINCOUNT"] == "5"
    from deltaspace import cli

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert os.environ["GOMP_SPINCOUNT"] == "10000"


def test_timing_record_means_and_shares() -> None:
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from deltaspace.search.timing import timing_record
    from deltaspace.trainers.result import TrialResult

    start = datetime(2026, 1, 1)

    def trial(status: str, phases: dict[str, float], row: float) -> SimpleNamespace:
        result = TrialResult(status="complete", phase_seconds=phases)
        return SimpleNamespace(status=status, result=result, started_at=start,
                               finished_at=start + timedelta(seconds=row))  # fmt: skip

    trials = [
        trial("complete", {"load": 1.0, "train": 6.0, "evaluate": 2.0, "wall": 9.0}, 10.0),
        trial("complete", {"load": 3.0, "train": 10.0, "evaluate": 2.0, "wall": 15.0}, 16.0),
        trial("failed", {"load": 100.0, "wall": 100.0}, 100.0),  # not counted
    ]
    record = timing_record(trials)
    assert record["trials"] == 2 and record["wall_seconds"] == 12.0 and record["row_seconds"] == 13.0
    assert record["phases"]["load"] == {"seconds": 2.0, "share": 2.0 / 13.0}
    assert record["outside_share"] == pytest.approx((13.0 - 8.0 - 2.0) / 13.0)
    assert timing_record([])["trials"] == 0


def test_status_timing_shows_the_phases_of_a_real_study(saved, tmp_path, capsys) -> None:
    import json

    from search_support import study_dict, write_study

    from deltaspace import cli

    model, data = saved
    body = study_dict("timed", model, data, budget={"n_trials": 2, "max_steps": 4}, training={"lr": 1e-3})
    study_file = write_study(tmp_path / "study.yaml", body)
    url = f"sqlite:///{tmp_path / 'ds.db'}"

    def deltaspace(*argv: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            cli.main(list(argv))
            raise SystemExit(0)
        out = capsys.readouterr()
        assert exit_info.value.code == 0, out.err
        return out.out

    deltaspace("run", str(study_file), "--storage", url)
    record = json.loads(deltaspace("status", "timed", "--storage", url, "--timing", "--json"))
    assert record["trials"] == 2 and {"load", "build", "train", "evaluate"} <= record["phases"].keys()
    assert record["row_seconds"] >= record["wall_seconds"] > 0 and 0 < record["outside_share"] < 1
    assert "outside train + evaluate" in deltaspace("status", "timed", "--storage", url, "--timing")


def test_latency_is_timed_once_per_design(saved, monkeypatch) -> None:
    """Latency depends on a design's structure, not its learned values: a second seed of the same
    design reuses the first one's timing; another design is timed afresh."""
    from deltaspace.trainers import trial as trial_module
    from deltaspace.trainers.evaluation import Evaluator
    from deltaspace.trainers.trial import run_trial

    model, data = saved
    monkeypatch.setattr(trial_module, "_LATENCY", {})
    calls: list[int] = []
    original = Evaluator.latency_ms

    def counting(self, batch_size: int, n_batches: int):
        calls.append(batch_size)
        return original(self, batch_size, n_batches)

    monkeypatch.setattr(Evaluator, "latency_ms", counting)
    settings = SETTINGS.model_copy(update={"adaptive_threads": False, "threads": 1})
    first = run_trial(str(model), "lora", "sst2", data, settings, seed=0)
    second = run_trial(str(model), "lora", "sst2", data, settings, seed=1)
    assert calls == [1, 32] and second.latency_ms_batch1 == first.latency_ms_batch1 is not None
    run_trial(str(model), "ia3", "sst2", data, settings, seed=0)
    assert calls == [1, 32, 1, 32]


def test_timing_of_a_promoted_study_is_over_its_rung_runs() -> None:
    """A promoted trial's row spans the wait between its rungs: the rungs' own results are timed."""
    from types import SimpleNamespace

    from deltaspace.search.timing import rung_results, timing_record
    from deltaspace.trainers.result import TrialResult

    rungs = [
        SimpleNamespace(status="complete", result=TrialResult(status="complete", phase_seconds={"train": 3.0, "wall": 4.0})),
        SimpleNamespace(status="complete", result=TrialResult(status="complete", phase_seconds={"train": 9.0, "wall": 10.0})),
        SimpleNamespace(status="running", result=None),
    ]  # fmt: skip
    record = timing_record([], rung_results(rungs))
    assert record["unit"] == "rung run" and record["trials"] == 2 and record["row_seconds"] is None
    assert record["wall_seconds"] == 7.0 and record["outside_share"] == pytest.approx((7.0 - 6.0) / 7.0)
