"""The search on SQLite: a real tiny study end to end, resume, budgets before compute, reuse, pruning,
and the local executor's thread and device assignment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import optuna
import pytest
from search_support import make_sst2, make_tiny_model, study_dict, write_study

from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.executors.local import plan_workers, visible_devices, worker_command, worker_env
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.objective import TrialJob
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import study_from_mapping
from deltaspace.storage import Storage
from deltaspace.trainers.result import TrialResult

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def sst2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sst2(tmp_path_factory.mktemp("sst2"))


def run_fake(study: dict, url: str, trainer=None) -> Storage:
    run_study(study_from_mapping(study), url, options=ExecutorOptions(trainer=trainer or FakeTrainer()))
    return Storage(url)


def optuna_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    from deltaspace.storage import sqlalchemy_url

    return optuna.load_study(study_name=name, storage=sqlalchemy_url(url)).get_trials()


@pytest.mark.slow  # two runs of the real command, each importing torch and training a tiny BERT
def test_real_study_runs_to_completion_and_resumes_without_duplicates(tiny_model, sst2, tmp_path) -> None:
    path = write_study(tmp_path / "study.yaml", study_dict("tiny", tiny_model, sst2, budget={"n_trials": 3}))
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    command = [sys.executable, "-m", "deltaspace.cli", "run", str(path), "--storage", url]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert "starting study tiny" in first.stdout and "trials done 3/3" in first.stdout
    trials = Storage(url).list_trials("tiny")
    assert [t.number for t in trials] == [0, 1, 2] and {t.status for t in trials} == {"complete"}
    assert all(t.steps == 4 and t.score is not None and t.delta_params > 0 for t in trials)
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming study tiny" in again.stdout
    assert Storage(url).list_trials("tiny") == trials  # nothing ran twice
    status = subprocess.run([sys.executable, "-m", "deltaspace.cli", "status", "tiny", "--storage", url, "--json"],
                            capture_output=True, text=True)  # fmt: skip
    body = json.loads(status.stdout)
    assert body["counts"]["complete"] == 3 and body["status"] == "complete" and body["front"]


class Interrupting(FakeTrainer):
    """Raises KeyboardInterrupt in its third trial, as a Ctrl-C would."""

    calls: list[int] = []

    def __call__(self, job: TrialJob) -> TrialResult:
        self.calls.append(1)
        if len(self.calls) == 3:
            raise KeyboardInterrupt
        return super().__call__(job)


def test_interrupted_run_resumes_each_trial_number_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    study = study_dict("resume", "minilm", None, budget={"n_trials": 5})
    with pytest.raises(KeyboardInterrupt):
        run_fake(study, url, Interrupting())
    storage = Storage(url)
    assert [(t.number, t.status) for t in storage.list_trials("resume")] == [
        (0, "complete"),
        (1, "complete"),
        (2, "failed"),
    ]
    assert storage.get_trial("resume", 2).failure_reason == "interrupted"
    run_fake(study, url)
    trials = storage.list_trials("resume")
    # trial 2 ran again under its own number (its re-run's Optuna number, 3, is not used)
    assert [t.number for t in trials] == [0, 1, 2, 4, 5] and {t.status for t in trials} == {"complete"}
    assert storage.get_study("resume").status == "complete"
    runs = optuna_trials(url, "resume")
    assert [t.state.name for t in runs].count("COMPLETE") == 5 and runs[2].state.name == "FAIL"
    assert runs[3].params == runs[2].params and runs[3].user_attrs["ds_number"] == 2


def test_over_budget_point_is_infeasible_and_never_trained(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    # minilm's LoRA: 2 * 6 layers * r * (384 + 384) parameters; r=2 fits 20k, r=64 does not
    study = study_dict("budget", "minilm", None, budget={"n_trials": 2, "max_delta_params": 20_000},
                       search={"sampler": "grid"}, methods={"lora": {"size": [2, 64]}}, training={"lr": 1e-3})  # fmt: skip
    trainer = mock.Mock(wraps=FakeTrainer())
    storage = run_fake(study, url, trainer)
    assert trainer.call_count == 1 and trainer.call_args.args[0].method.deltas[0].size == 2
    by_size = {t.params["lora.size"]: t for t in storage.list_trials("budget")}
    big = by_size[64]
    assert big.status == "infeasible" and big.steps is None and big.train_seconds is None
    assert big.delta_params == 2 * 6 * 64 * 768 and "exceed max_delta_params=20,000" in big.failure_reason
    assert by_size[2].status == "complete"
    constraints = sorted(t.constraints["budget"] for t in optuna_trials(url, "budget"))
    assert constraints[0] < 0 < constraints[1]


def test_an_evaluated_point_reuses_its_result(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    grid = {"search": {"sampler": "grid"}, "methods": {"lora": {"size": [2, 4]}}, "training": {"lr": 1e-3}}
    first = run_fake(study_dict("first", "minilm", None, **grid), url)
    trainer = mock.Mock(wraps=FakeTrainer())
    second = run_fake(study_dict("second", "minilm", None, **grid), url, trainer)
    assert trainer.call_count == 0
    scores = lambda name, s: sorted((t.method_hash, t.score) for t in s.list_trials(name))  # noqa: E731
    assert scores("second", second) == scores("first", first)
    assert all("reused_from" in t.user_attrs for t in optuna_trials(url, "second"))


@pytest.mark.parametrize("objectives", [["score"], ["score", "delta_params"]])
def test_median_pruning_single_and_multi_objective(tmp_path, objectives) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    pruner = {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 0}
    study = study_dict(
        "prune", "minilm", None, objectives=objectives, budget={"n_trials": 8}, search={"pruner": pruner}
    )
    storage = run_fake(study, url, FakeTrainer(evals=4))
    counts = storage.trial_counts("prune")
    assert counts["pruned"] >= 1 and counts["complete"] >= 2 and sum(counts.values()) == 8
    pruned = storage.list_trials("prune", "pruned")[0]
    assert pruned.steps < 4 and storage.intermediate_scores("prune", pruned.number)
    if len(objectives) > 1:  # pruned through the single-objective companion study
        from deltaspace.storage import sqlalchemy_url

        companion = optuna.load_study(study_name="prune::pruning", storage=sqlalchemy_url(url))
        assert len(companion.trials) == 8


def test_local_executor_splits_threads_and_devices() -> None:
    slots = plan_workers(3, ["0", "1"], cores=8)
    assert [(s.threads, s.device) for s in slots] == [(2, "0"), (2, "1"), (2, "0")]
    env = worker_env(slots[1], {"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    cpu_only = plan_workers(4, [], cores=2)
    assert [(s.threads, s.device) for s in cpu_only] == [(1, None)] * 4
    assert "CUDA_VISIBLE_DEVICES" not in worker_env(cpu_only[0], {})
    command = worker_command("s", "sqlite:///x.db", slots[0], timeout=60)
    assert command[1:] == ["-m", "deltaspace.cli", "worker", "s", "--storage", "sqlite:///x.db", "--threads", "2",
                           "--timeout", "60"]  # fmt: skip
    with mock.patch.dict(os.environ, {"CUDA_VISIBLE_DEVICES": "2,3"}):
        assert visible_devices() == ["2", "3"]
    with mock.patch.dict(os.environ, {"CUDA_VISIBLE_DEVICES": "-1"}):
        assert visible_devices() == []


def test_worker_without_a_study_claims_queued_ones(tmp_path) -> None:
    from deltaspace.search.study_runner import serve_queue

    url = f"sqlite:///{tmp_path / 'ds.db'}"
    storage = Storage(url)
    for name in ("queued-a", "queued-b"):
        spec = study_from_mapping(study_dict(name, "minilm", None, budget={"n_trials": 2}))
        storage.create_study(name, spec.to_yaml(), status="queued", n_trials_target=2)
    broken = study_dict("queued-c", "minilm", None)
    broken["task"] = "nope"
    storage.create_study("queued-c", study_from_mapping(broken).to_yaml(), status="queued")
    done = serve_queue(url, exit_when_idle=True, trainer=FakeTrainer())
    assert done == ["queued-a", "queued-b"]
    assert [storage.get_study(n).status for n in ("queued-a", "queued-b")] == ["complete", "complete"]
    assert storage.trial_counts("queued-a")["complete"] == 2
    failed = storage.get_study("queued-c")
    assert failed.status == "failed" and "unknown task 'nope'" in failed.error
