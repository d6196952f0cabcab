"""Several workers on one study, and a worker lost mid-trial, on PostgreSQL (and SQLite).

Workers are separate processes (multiprocessing, spawn) running the same code path as
``deltaspace worker STUDY --storage URL``, with the fake trainer so that the test is about the
search: trial numbers, counts, heartbeats and retries.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import optuna
import pytest
from search_support import join_with_fake_trainer, study_dict

from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_db import open_study, optuna_storage, recover_stale
from deltaspace.search.study_runner import load_plan, prepare_study, run_study
from deltaspace.space.study import study_from_mapping
from deltaspace.storage import Storage, sqlalchemy_url
from deltaspace.testing.postgres import create_database


def spawn(name: str, url: str, seconds: float) -> multiprocessing.Process:
    process = multiprocessing.get_context("spawn").Process(
        target=join_with_fake_trainer, args=(name, url, seconds)
    )
    process.start()
    return process


def optuna_trials(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=sqlalchemy_url(url)).get_trials()


@pytest.mark.postgres
def test_two_workers_share_one_study_on_postgres(postgres_url: str) -> None:
    url = create_database(postgres_url)
    study = study_dict("shared", "minilm", None, budget={"n_trials": 8}, search={"sampler": "tpe"})
    prepare_study(study_from_mapping(study), url)
    workers = [spawn("shared", url, 0.3) for _ in range(2)]
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    storage = Storage(url)
    trials = storage.list_trials("shared")
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == 8  # every trial number once, none lost
    assert {t.status for t in trials} == {"complete"} and len({t.worker_pid for t in trials}) == 2
    assert (
        sum(storage.trial_counts("shared").values()) == 8 and storage.get_study("shared").status == "complete"
    )
    finished = [t for t in optuna_trials(url, "shared") if t.state.name == "COMPLETE"]
    assert sorted(t.number for t in finished) == sorted(numbers)  # Optuna and ds_ tables agree


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ds.db'}"
    return create_database(request.getfixturevalue("postgres_url"))


def test_killed_worker_trial_is_failed_and_run_again(url: str) -> None:
    study = study_dict("lost", "minilm", None, budget={"n_trials": 3})
    prepare_study(study_from_mapping(study), url)
    storage = Storage(url)
    worker = spawn("lost", url, 600.0)  # every trial would take ten minutes
    deadline = time.monotonic() + 120
    while not storage.list_trials("lost", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    (running,) = storage.list_trials("lost", "running")
    time.sleep(0.5)  # mid-trial, heartbeats written
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    time.sleep(2.5)  # past the grace period (2 s) without a heartbeat

    plan = load_plan("lost", url)
    assert recover_stale(open_study(plan, optuna_storage(url, plan), "lost"), storage, plan) == [
        running.number
    ]
    lost = storage.get_trial("lost", running.number)
    assert lost.status == "failed" and lost.failure_reason.startswith("worker lost: no heartbeat")

    run_study(study_from_mapping(study), url, options=ExecutorOptions(trainer=FakeTrainer(), timeout=120))
    trials = storage.list_trials("lost")
    assert len(trials) == 3 and {t.status for t in trials} == {"complete"}
    rerun = storage.get_trial("lost", running.number)
    assert rerun.params == running.params and rerun.worker_pid == os.getpid()
    states = {t.number: t.state.name for t in optuna_trials(url, "lost")}
    assert states[running.number] == "FAIL" and list(states.values()).count("COMPLETE") == 3
