"""Storage contract tests for trials on SQLite and PostgreSQL: lifecycle, reuse, lost workers, concurrency."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deltaspace.storage import Storage, StorageError, StudyNotFoundError, TrialNotFoundError, rows
from deltaspace.trainers.result import EvalPoint, TrialResult

SPEC = "name: demo\nmodel: tiny-bert\n"


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    opened = Storage(storage_url)
    yield opened
    opened.close()


def _method(hash_: str = "h" * 64) -> dict[str, Any]:
    return {
        "method_name": "lora",
        "method_json": '{"deltas":[{"form":"low_rank","rank":4}]}',
        "method_hash": hash_,
        "params": {"rank": 4, "lr": 1e-3},
        "training": {"epochs": 1, "batch_size": 8},
        "seed": 7,
    }


def _start(storage: Storage, study: str, number: int, hash_: str = "h" * 64) -> None:
    storage.start_trial(study, number, **_method(hash_), worker_host="node-1", worker_pid=4242)


def _result(score: float = 0.875, status: str = "complete") -> TrialResult:
    return TrialResult(
        status=status,
        task="sst2",
        method_name="lora",
        seed=7,
        score=score,
        primary_metric="accuracy",
        metrics={"accuracy": score, "f1": 0.8},
        eval_curve=[EvalPoint(step=10, score=0.5, seconds=1.0), EvalPoint(step=20, score=score, seconds=2.0)],
        delta_params=1_000,
        head_params=10,
        trainable_params=1_010,
        stored_params=1_010,
        backbone_params=100_000,
        percent=1.01,
        steps=20,
        train_seconds=3.0,
        eval_seconds=0.5,
        train_examples_per_second=100.0,
        peak_memory_mb=512.0,
        latency_ms_batch1=1.5,
        latency_ms_batch32=10.0,
    )


# ---- tests --------------------------------------------------------------------------------------


def test_trial_lifecycle(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    _start(storage, "s", 3)
    running = storage.get_trial("s", 3)
    assert (running.status, running.params, running.training, running.seed) == (
        "running",
        {"rank": 4, "lr": 1e-3},
        {"epochs": 1, "batch_size": 8},
        7,
    )
    assert running.method == {"deltas": [{"form": "low_rank", "rank": 4}]} and running.result is None
    assert running.started_at == running.heartbeat_at and running.worker_host == "node-1"
    storage.heartbeat("s", 3)
    storage.report_intermediate("s", 3, 10, 0.4, 0.9)
    storage.report_intermediate("s", 3, 10, 0.45, 1.1)  # a repeated step overwrites
    assert [(p.step, p.score, p.seconds) for p in storage.intermediate_scores("s", 3)] == [(10, 0.45, 1.1)]

    result = _result()
    done = storage.finish_trial("s", 3, result, weights_path="/runs/s/3")
    assert done == storage.get_trial("s", 3)
    assert (done.status, done.score, done.metrics) == ("complete", 0.875, {"accuracy": 0.875, "f1": 0.8})
    assert (done.delta_params, done.head_params, done.trainable_params, done.stored_params) == (
        1000,
        10,
        1010,
        1010,
    )
    assert (done.percent, done.steps, done.train_seconds, done.eval_seconds) == (1.01, 20, 3.0, 0.5)
    assert (done.examples_per_second, done.peak_memory_mb) == (100.0, 512.0)
    assert (done.latency_ms_batch1, done.latency_ms_batch32) == (1.5, 10.0)
    assert done.weights_path == "/runs/s/3" and done.finished_at is not None
    assert done.result == result
    # the result's eval curve is stored too, replacing the reported point at the same step
    assert [(p.step, p.score) for p in storage.intermediate_scores("s", 3)] == [(10, 0.5), (20, 0.875)]
    assert storage.trial_counts("s") == {
        "running": 0,
        "complete": 1,
        "failed": 0,
        "pruned": 0,
        "infeasible": 0,
    }
    assert storage.list_studies()[0].best_score == 0.875


def test_failed_result_keeps_reason(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    _start(storage, "s", 0)
    failed = TrialResult(status="failed", failure_reason="loss became NaN at step 12")
    record = storage.finish_trial("s", 0, failed)
    assert (record.status, record.score, record.failure_reason) == (
        "failed",
        None,
        "loss became NaN at step 12",
    )
    assert storage.list_trials("s", status="failed") == [record]
    assert storage.list_trials("s", status="complete") == []


def test_unfinished_trial_restarts_but_complete_one_does_not(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    _start(storage, "s", 0)
    storage.report_intermediate("s", 0, 5, 0.3, 0.5)
    storage.finish_trial("s", 0, TrialResult(status="failed", failure_reason="worker crashed"))
    _start(storage, "s", 0)  # re-run after a crash
    again = storage.get_trial("s", 0)
    assert (again.status, again.failure_reason, again.finished_at) == ("running", None, None)
    assert storage.intermediate_scores("s", 0) == []
    storage.finish_trial("s", 0, _result())
    with pytest.raises(StorageError, match="complete already"):
        _start(storage, "s", 0)
    assert len(storage.list_trials("s")) == 1


def test_record_infeasible(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    record = storage.record_infeasible(
        "s", 1, **_method(), delta_params=5_000_000, percent=4.5, reason="4.5% trainable > budget 1%"
    )
    assert (record.status, record.delta_params, record.percent) == ("infeasible", 5_000_000, 4.5)
    assert record.failure_reason == "4.5% trainable > budget 1%" and record.score is None
    assert storage.trial_counts("s")["infeasible"] == 1


def test_fail_stale_trials(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    storage.create_study("s", SPEC)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    with monkeypatch.context() as patch:
        patch.setattr(rows, "utcnow", lambda: an_hour_ago)
        _start(storage, "s", 0)  # its worker died an hour ago
        _start(storage, "s", 2)
    _start(storage, "s", 1)  # alive
    storage.heartbeat("s", 2)  # alive again
    assert storage.fail_stale_trials("s", stale_after_seconds=600) == [0]
    lost = storage.get_trial("s", 0)
    assert lost.status == "failed"
    assert lost.failure_reason is not None
    assert lost.failure_reason.startswith("worker lost: no heartbeat for 36")  # ~3600 s
    assert lost.failure_reason.endswith("s (host node-1 pid 4242)")
    assert [t.status for t in storage.list_trials("s")] == ["failed", "running", "running"]
    assert storage.fail_stale_trials("s", stale_after_seconds=600) == []


def test_find_completed_by_hash(storage: Storage) -> None:
    storage.create_study("old", SPEC)
    storage.create_study("new", SPEC)
    assert storage.find_completed_by_hash("a" * 64) is None
    _start(storage, "old", 0, "a" * 64)
    assert storage.find_completed_by_hash("a" * 64) is None  # running results are not reusable
    storage.finish_trial("old", 0, _result(0.7))
    _start(storage, "new", 4, "a" * 64)
    storage.finish_trial("new", 4, _result(0.8))
    _start(storage, "new", 5, "a" * 64)
    storage.finish_trial("new", 5, TrialResult(status="failed", failure_reason="oom"))
    found = storage.find_completed_by_hash("a" * 64)
    assert found is not None and (found.study_name, found.number, found.score) == ("new", 4, 0.8)


def test_unknown_trial(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    with pytest.raises(TrialNotFoundError, match="study 's' has no trial number 9"):
        storage.get_trial("s", 9)
    with pytest.raises(TrialNotFoundError):
        storage.finish_trial("s", 9, _result())
    with pytest.raises(StudyNotFoundError):
        _start(storage, "missing", 0)


def _write_trials(url: str, first: int) -> None:
    """One worker process: start and finish ten trials numbered from ``first``."""
    storage = Storage(url)
    for number in range(first, first + 10):
        _start(storage, "shared", number, hash_=f"{number:064d}")
        storage.report_intermediate("shared", number, 1, 0.5, 0.1)
        storage.finish_trial("shared", number, _result(score=number / 100))
    storage.close()


def test_concurrent_writer_processes_lose_nothing(storage: Storage, storage_url: str) -> None:
    storage.create_study("shared", SPEC)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_trials, args=(storage_url, first)) for first in (0, 100)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    trials = storage.list_trials("shared", status="complete")
    assert [t.number for t in trials] == [*range(10), *range(100, 110)]
    assert storage.list_studies()[0].best_score == 1.09


def test_delete_study_removes_its_trials(storage: Storage) -> None:
    storage.create_study("gone", SPEC)
    storage.create_study("kept", SPEC)
    _start(storage, "gone", 0)
    storage.report_intermediate("gone", 0, 1, 0.1, 0.1)
    _start(storage, "kept", 0)
    storage.delete_study("gone")
    assert [s.name for s in storage.list_studies()] == ["kept"]
    assert len(storage.list_trials("kept")) == 1
    with pytest.raises(StudyNotFoundError):
        storage.delete_study("gone")
