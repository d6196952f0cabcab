"""Saved promotion states: dropped once nothing resumes them (a complete next rung, a decision
that passed the trial over), kept for a retry; ``deltaspace db compact`` drops those an older
file still holds and shrinks it. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, update

from deltaspace.storage import Storage, sqlalchemy_url
from deltaspace.storage.models import Rung
from deltaspace.trainers.result import EvalPoint, TrialResult

SPEC = "name: demo\nmodel: tiny-bert\n"
STATE_BYTES = 1_000_000


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    opened = Storage(storage_url)
    yield opened
    opened.close()


def _result(score: float, status: str = "complete") -> TrialResult:
    return TrialResult(
        status=status, task="sst2", method_name="lora", seed=0, score=score if status == "complete" else None,
        primary_metric="accuracy", metrics={"accuracy": score} if status == "complete" else {},
        eval_curve=[EvalPoint(step=4, score=score, seconds=1.0)], delta_params=1_000, head_params=10,
        trainable_params=1_010, stored_params=1_010, backbone_params=100_000, percent=1.01, steps=4,
        failure_reason=None if status == "complete" else "out of memory",
    )  # fmt: skip


def _state(number: int) -> bytes:
    return bytes([number + 1]) * STATE_BYTES  # distinct per trial, large enough to see on disk


def _three_trials_at_rung_0(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    for number in range(3):
        storage.start_trial("s", number, method_name="lora", method_json="{}", method_hash=str(number) * 64,
                            params={}, training={}, seed=0, worker_host="h", worker_pid=1)  # fmt: skip
        storage.finish_rung("s", number, 0, 4, _result(0.5 + number / 10), state=_state(number))


def _states(storage: Storage) -> dict[tuple[int, int], bytes | None]:
    return {(r.number, r.rung): storage.rung_state("s", r.number, r.rung) for r in storage.list_rungs("s")}


def test_a_state_lives_until_its_next_rung_completes(storage: Storage) -> None:
    _three_trials_at_rung_0(storage)
    assert storage.decide_promotion("s", 1, 8, chosen=[0, 1], candidates=3)
    # trial 2 was passed over: nothing resumes its state; 0 and 1 wait for their rung 1
    assert _states(storage) == {
        (0, 0): _state(0),
        (1, 0): _state(1),
        (2, 0): None,
        (0, 1): None,
        (1, 1): None,
    }

    storage.finish_rung("s", 0, 1, 8, _result(0.9))  # the last rung here: no state of its own
    storage.finish_rung("s", 1, 1, 8, _result(0.0, status="failed"))
    states = _states(storage)
    assert states[(0, 0)] is None  # its rung 1 is complete: spent
    assert states[(1, 0)] == _state(1)  # its rung 1 failed: a retry resumes from it
    assert storage.get_trial("s", 0).rung == 1 and storage.get_trial("s", 1).rung == 0


def test_drop_spent_states_in_a_file_that_kept_them(storage: Storage, storage_url: str) -> None:
    """A database written before states were dropped: every rung-0 state is still there."""
    _three_trials_at_rung_0(storage)
    storage.decide_promotion("s", 1, 8, chosen=[0, 1], candidates=3)
    storage.finish_rung("s", 0, 1, 8, _result(0.9))
    storage.finish_rung("s", 1, 1, 8, _result(0.0, status="failed"))
    engine = create_engine(sqlalchemy_url(storage_url))
    with engine.begin() as connection:  # as an older deltaspace left them
        for number in range(3):
            connection.execute(update(Rung).where(Rung.rung == 0, Rung.score == 0.5 + number / 10)
                               .values(state=_state(number)))  # fmt: skip
    engine.dispose()
    assert all(_states(storage)[(n, 0)] == _state(n) for n in range(3))

    assert storage.drop_spent_states() == 2  # trial 0 (rung 1 complete) and trial 2 (passed over)
    assert [_states(storage)[(n, 0)] for n in range(3)] == [None, _state(1), None]
    assert storage.drop_spent_states() == 0
    storage.vacuum()  # outside a transaction on both backends; the kept state survives it
    assert _states(storage)[(1, 0)] == _state(1)


def _on_disk(path: Path) -> int:
    """A SQLite database's bytes with its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_db_compact_shrinks_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    storage = Storage(url)
    _three_trials_at_rung_0(storage)
    storage.decide_promotion("s", 1, 8, chosen=[0], candidates=3)  # 1 and 2 passed over: dropped now
    engine = create_engine(sqlalchemy_url(url))
    with engine.begin() as connection:  # an older file: all three still held
        connection.execute(update(Rung).where(Rung.rung == 0).values(state=_state(5)))
    engine.dispose()
    storage.close()
    before = _on_disk(tmp_path / "ds.db")

    done = subprocess.run([sys.executable, "-m", "deltaspace.cli", "db", "compact", "--storage", url],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dropped 2 spent promotion states: ")
    wal = tmp_path / "ds.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert before - _on_disk(tmp_path / "ds.db") >= 2 * STATE_BYTES  # the two dropped states' pages went back
    reopened = Storage(url)
    assert reopened.rung_state("s", 0, 0) == _state(5)  # trial 0's rung 1 is pending: kept
    reopened.close()


def test_db_compact_refuses_a_missing_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    done = subprocess.run([sys.executable, "-m", "deltaspace.cli", "db", "compact", "--storage", url],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.db").exists()
