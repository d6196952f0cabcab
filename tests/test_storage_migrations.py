"""Schema migrations: fresh databases reach head, the models match them, unknown revisions are refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from deltaspace.storage import Storage, StorageVersionError, current_revision, head_revision, make_engine, upgrade
from deltaspace.storage.migrations import VERSION_TABLE
from deltaspace.storage.models import Base
from deltaspace.testing.postgres import create_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'deltaspace.db'}"
    return create_database(request.getfixturevalue("postgres_url"))


def test_fresh_database_is_created_at_head(url: str) -> None:
    assert current_revision(url) is None
    Storage(url).close()
    assert current_revision(url) == head_revision() == "0001_initial"
    assert upgrade(url) == head_revision()  # idempotent


def test_models_match_the_migrated_schema(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": lambda obj, name, type_, *_: type_ != "table" or name.startswith("ds_")}
        )
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_unknown_revision_names_the_fix(url: str) -> None:
    Storage(url).close()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d_from_the_future'"))
    engine.dispose()
    with pytest.raises(StorageVersionError, match="`deltaspace db upgrade`") as raised:
        Storage(url)
    assert "f00d_from_the_future" in str(raised.value)
    with pytest.raises(StorageVersionError):
        upgrade(url)


def test_workers_opening_a_fresh_database_at_once(url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_storage() -> None:
        barrier.wait()
        try:
            Storage(url).close()
        except BaseException as err:  # noqa: BLE001 - collected and reported below
            errors.append(err)

    threads = [threading.Thread(target=open_storage) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(url) == head_revision()
