"""Schema migrations: fresh databases reach head, the models match them, unknown revisions are refused."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from deltaspace.storage import (
    Storage,
    StorageVersionError,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from deltaspace.storage.migrations import VERSION_TABLE
from deltaspace.storage.models import Base


def test_fresh_database_is_created_at_head(storage_url: str) -> None:
    assert current_revision(storage_url) is None
    Storage(storage_url).close()
    assert current_revision(storage_url) == head_revision() == "0002_rungs"
    assert upgrade(storage_url) == head_revision()  # idempotent


def test_models_match_the_migrated_schema(storage_url: str) -> None:
    upgrade(storage_url)
    engine = make_engine(storage_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "include_object": lambda obj, name, type_, *_: type_ != "table" or name.startswith("ds_"),
            },
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_unknown_revision_names_the_fix(storage_url: str) -> None:
    Storage(storage_url).close()
    engine = make_engine(storage_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d_from_the_future'"))
    engine.dispose()
    with pytest.raises(StorageVersionError, match="`deltaspace db upgrade`") as raised:
        Storage(storage_url)
    assert "f00d_from_the_future" in str(raised.value)
    with pytest.raises(StorageVersionError):
        upgrade(storage_url)


def test_workers_opening_a_fresh_database_at_once(storage_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_storage() -> None:
        barrier.wait()
        try:
            Storage(storage_url).close()
        except BaseException as err:  # noqa: BLE001 - collected and reported below
            errors.append(err)

    threads = [threading.Thread(target=open_storage) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(storage_url) == head_revision()


def test_a_database_of_the_first_schema_upgrades_with_its_trials(storage_url: str) -> None:
    """A database written before promotion existed keeps its studies and trials through 0002."""
    from alembic import command

    from deltaspace.storage.migrations import alembic_config

    engine = make_engine(storage_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001_initial")
        conn.execute(text(
            "INSERT INTO ds_studies (id, name, spec_yaml, status, created_at, updated_at, optuna_study_name) "
            "VALUES (1, 'old', 'name: old', 'complete', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 'old')"))
        conn.execute(text(
            "INSERT INTO ds_trials (id, study_id, number, status, method_name, method_json, method_hash, "
            "params_json, training_json, seed, score) VALUES (1, 1, 0, 'complete', 'lora', '{}', 'h', '{}', '{}', 0, 0.75)"))
    engine.dispose()
    assert current_revision(storage_url) == "0001_initial"
    storage = Storage(storage_url)  # opening a writable Storage upgrades
    assert current_revision(storage_url) == "0002_rungs"
    trial = storage.get_trial("old", 0)
    assert trial.score == 0.75 and trial.rung is None
    assert storage.list_rungs("old") == [] and storage.promotions("old") == []
    storage.close()
