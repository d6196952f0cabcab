"""Contract tests for Storage's studies: the same suite runs on SQLite and on PostgreSQL (as optuna's do).

``storage_url`` (deltaspace.testing.postgres) gives each test a fresh database on each backend.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import optuna
import pytest

from deltaspace.storage import Storage, StorageError, StudyExistsError, StudyNotFoundError, sqlalchemy_url
from deltaspace.testing import postgres

SPEC = "name: demo\nmodel: tiny-bert\n"


@pytest.fixture
def storage(storage_url: str) -> Iterator[Storage]:
    opened = Storage(storage_url)
    yield opened
    opened.close()


# ---- parametrised over SQLite and PostgreSQL ------------------------------------------------


def test_create_get_and_list_studies(storage: Storage) -> None:
    created = storage.create_study("b-study", SPEC, n_trials_target=20)
    storage.create_study("a-study", SPEC, status="queued", optuna_study_name="optuna-a")
    got = storage.get_study("b-study")
    assert got == created
    assert (got.spec_yaml, got.status, got.n_trials_target, got.optuna_study_name) == (
        SPEC,
        "running",
        20,
        "b-study",
    )
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert abs(got.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    summaries = storage.list_studies()
    assert [s.name for s in summaries] == ["b-study", "a-study"]  # oldest first
    assert summaries[1].status == "queued" and summaries[1].n_trials == 0 and summaries[1].best_score is None


def test_duplicate_study_name_is_refused(storage: Storage) -> None:
    storage.create_study("s", SPEC)
    with pytest.raises(StudyExistsError, match="'s' exists already"):
        storage.create_study("s", "other")
    record, created = storage.get_or_create_study("s", "other")
    assert not created and record.spec_yaml == SPEC
    record, created = storage.get_or_create_study("t", SPEC, status="queued")
    assert created and record.status == "queued"


def test_missing_study_message_lists_known_names(storage: Storage) -> None:
    with pytest.raises(StudyNotFoundError, match=r"known studies: \(none\)"):
        storage.get_study("nope")
    storage.create_study("alpha", SPEC)
    storage.create_study("beta", SPEC)
    with pytest.raises(StudyNotFoundError, match="no study named 'nope'; known studies: alpha, beta"):
        storage.list_trials("nope")


def test_status_changes_and_cancel(storage: Storage) -> None:
    storage.create_study("s", SPEC, status="queued")
    storage.cancel_study("s")
    assert storage.get_study("s").status == "cancelled"
    storage.set_study_status("s", "failed", error="CUDA out of memory")
    assert (storage.get_study("s").status, storage.get_study("s").error) == ("failed", "CUDA out of memory")
    with pytest.raises(StorageError, match="only queued or running studies can be cancelled"):
        storage.cancel_study("s")
    with pytest.raises(StorageError, match="unknown study status 'done'"):
        storage.set_study_status("s", "done")


def test_claim_queued_study_oldest_first(storage: Storage) -> None:
    assert storage.claim_queued_study("w") is None
    for name in ("first", "second"):
        storage.create_study(name, SPEC, status="queued")
    storage.create_study("busy", SPEC)  # running: never claimed
    claimed = storage.claim_queued_study("worker-a")
    assert claimed is not None and (claimed.name, claimed.status, claimed.claimed_by) == (
        "first",
        "running",
        "worker-a",
    )
    assert storage.get_study("first").status == "running"


def test_claim_queued_study_is_atomic(storage: Storage, storage_url: str) -> None:
    names = {f"study-{i}" for i in range(12)}
    for name in sorted(names):
        storage.create_study(name, SPEC, status="queued")
    claims: list[str] = []
    barrier = threading.Barrier(4)

    def worker(index: int) -> None:
        mine = Storage(storage_url)  # each worker its own engine, as separate processes would have
        barrier.wait()
        while (study := mine.claim_queued_study(f"worker-{index}")) is not None:
            claims.append(study.name)
        mine.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claims) == sorted(names)  # every study claimed exactly once


def test_optuna_tables_share_the_database(storage: Storage, storage_url: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=sqlalchemy_url(storage_url))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    storage.create_study("s", SPEC)
    reopened = Storage(storage_url)  # our schema check ignores Optuna's tables and version table
    assert [s.name for s in reopened.list_studies()] == ["s"]
    reopened.close()
    assert len(optuna.load_study(study_name="s", storage=sqlalchemy_url(storage_url)).trials) == 2


# ---- not parametrised ---------------------------------------------------------------------------


def test_postgres_urls_use_psycopg3() -> None:
    assert sqlalchemy_url("postgresql://u:pw@h:5432/db") == "postgresql+psycopg://u:pw@h:5432/db"
    assert sqlalchemy_url("sqlite:///deltaspace.db") == "sqlite:///deltaspace.db"


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(StorageError, match="SQLite .* or PostgreSQL"):
        Storage("mysql://u@h/db")


def test_importing_storage_loads_neither_torch_nor_trainers() -> None:
    code = (
        "import sys, deltaspace.storage\n"
        "loaded = [m for m in ('torch', 'deltaspace.trainers') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_postgres_fixture_skips_without_binaries_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    with pytest.raises(postgres.PostgresUnavailable, match="no PostgreSQL server binaries"):
        postgres.find_bindir()
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        postgres.skip_or_fail("no binaries")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        postgres.skip_or_fail("no binaries")
