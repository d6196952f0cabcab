"""A bad ``--storage`` or a failing database is one line on stderr and exit code 2, never a traceback.

``PROBES`` runs the real commands in-process over bad storages: not a URL, PostgreSQL without a
host or database, an unreachable server, a database missing on a live server, SQLite paths that
are text files, folders, unwritable or missing. Then: a disk that fills during a run, reading
commands on read-only databases, and reading commands that create nothing where nothing exists.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from search_support import study_dict, write_study
from sqlalchemy import Engine, event, text

from deltaspace.cli import main
from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import study_from_mapping
from deltaspace.storage import ReadOnlyStorageError, Storage, StorageError, sqlalchemy_url
from deltaspace.trainers.result import TrialResult

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EXPECTED = "expected sqlite:///path.db or postgresql://user@host/dbname"
MISSING = "no database at {tmp}/missing/ds.db (run `deltaspace run STUDY.yaml` first, or pass --storage)"
NOT_A_DB = "{tmp}/notes.txt is not a SQLite database (file is not a database)"
REFUSED = "cannot connect to the PostgreSQL server at 127.0.0.1:1 (connection to server at"
EXPORT = ["export", "demo", "-o", "{tmp}/out"]
REPORT = ["report", "demo", "-o", "{tmp}/report.html"]


def small_study(name: str) -> dict:
    return study_dict(name, "minilm", None, budget={"n_trials": 2}, methods={"lora": {"size": [2, 4]}})


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy (SQLite's backup API: the WAL's pages included)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def pg(*argv: str, fragment: str) -> object:
    return pytest.param(list(argv), fragment, marks=pytest.mark.postgres)


PROBES = [
    # not a URL at all
    (["studies", "--storage", "foo"], f"--storage 'foo' is not a database URL (for a file, write sqlite:///foo); {EXPECTED}"),
    (["status", "--storage", "{tmp}/x.db"], f"(for a file, write sqlite:///{{tmp}}/x.db); {EXPECTED}"),
    (["run", "{study}", "--storage", "foo"], EXPECTED),
    ([*EXPORT, "--storage", "{tmp}/x.db"], EXPECTED),
    ([*REPORT, "--storage", "foo"], EXPECTED),
    (["serve", "--port", "{port}", "--storage", "foo"], EXPECTED),
    (["db", "upgrade", "--storage", "foo"], EXPECTED),
    (["worker", "demo", "--storage", "mysql://u:secret@x/y"], "--storage 'mysql://u:***@x/y': mysql is not supported"),
    # PostgreSQL without a host or a database, or with nobody listening
    (["studies", "--storage", "postgresql://"], f"--storage 'postgresql://' names no server host; {EXPECTED}"),
    (["status", "--storage", "postgresql:///db"], "names no server host"),
    (["run", "{study}", "--storage", "postgresql://u@localhost"], f"--storage 'postgresql://u@localhost' names no database; {EXPECTED}"),
    (["worker", "--exit-when-idle", "--storage", "postgresql://u@localhost/"], "names no database"),
    (["studies", "--storage", "postgresql://u@127.0.0.1:1/db"], REFUSED),
    (["run", "{study}", "--storage", "postgresql://u@127.0.0.1:1/db"], REFUSED),
    ([*EXPORT, "--storage", "postgresql://u:secret@127.0.0.1:1/db"], "--storage 'postgresql://u:***@127.0.0.1:1/db': cannot connect"),
    # a live server without that database
    pg("studies", "--storage", "{pg}/nope", fragment="PostgreSQL server at 127.0.0.1:{pg_port} has no database 'nope'; create it"),
    pg("worker", "--exit-when-idle", "--storage", "{pg}/nope", fragment="has no database 'nope'"),
    # SQLite: a text file, a folder, a path nobody can create, a file in the way of a folder
    (["studies", "--storage", "sqlite:///{tmp}/notes.txt"], NOT_A_DB),
    (["run", "{study}", "--storage", "sqlite:///{tmp}/notes.txt"], NOT_A_DB),
    ([*REPORT, "--storage", "sqlite:///{tmp}/notes.txt"], NOT_A_DB),
    (["status", "--storage", "sqlite:///{tmp}/folder"], f"{{tmp}}/folder is a folder, not a database file; {EXPECTED}"),
    (["worker", "--exit-when-idle", "--storage", "sqlite:///{tmp}/folder"], "is a folder, not a database file"),
    (["run", "{study}", "--storage", "sqlite:////proc/deltaspace-probe.db"], "cannot open or create /proc/deltaspace-probe.db"),
    (["worker", "demo", "--storage", "sqlite:///{tmp}/notes.txt/ds.db"], "{tmp}/notes.txt is a file, not a folder"),
    (["db", "upgrade", "--storage", "sqlite:///{tmp}/notes.txt/sub/ds.db"], "{tmp}/notes.txt is a file, not a folder"),
    # reading commands where there is no database, or no deltaspace tables
    (["status", "--storage", "sqlite:///{tmp}/missing/ds.db"], MISSING),
    (["studies", "--storage", "sqlite:///{tmp}/missing/ds.db"], MISSING),
    ([*EXPORT, "--storage", "sqlite:///{tmp}/missing/ds.db"], MISSING),
    (["status", "--storage", "sqlite:///{tmp}/empty.db"], "holds no deltaspace studies (no deltaspace tables)"),
    # a writing command on a database opened read-only
    (["run", "{study}", "--storage", "sqlite:///file:{tmp}/demo.db?mode=ro&uri=true"], "opens the database read-only"),
]  # fmt: skip


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-trial study ``demo`` (fake trainer), copied by the tests that need it."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    run_study(
        study_from_mapping(small_study("demo")),
        f"sqlite:///{path}",
        options=ExecutorOptions(trainer=FakeTrainer()),
    )
    return path


@pytest.fixture
def place(tmp_path: Path, demo_db: Path) -> Path:
    (tmp_path / "notes.txt").write_text("not a database\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.db").touch()
    copy_db(demo_db, tmp_path / "demo.db")
    write_study(tmp_path / "study.yaml", small_study("probe"))
    return tmp_path


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def one_error_line(err: str) -> str:
    """The error line of stderr: exactly one, and no traceback anywhere."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize(("argv", "fragment"), PROBES)
def test_bad_storage_is_one_line_and_exit_2(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    place: Path,
    argv: list[str],
    fragment: str,
) -> None:
    values = {"tmp": str(place), "study": str(place / "study.yaml"), "port": str(free_port())}
    if any("{pg}" in arg for arg in argv):
        server = request.getfixturevalue("postgres_url").rsplit("/", 1)[0]
        values |= {"pg": server, "pg_port": server.rsplit(":", 1)[1]}
    before = snapshot(place)
    code, _, err = run_cli(capsys, [arg.format(**values) for arg in argv])
    line = one_error_line(err)
    assert code == 2
    assert fragment.format(**values) in line
    assert snapshot(place) == before  # a failed command leaves no folder, file or change behind


def test_reading_commands_create_nothing_without_a_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DELTASPACE_STORAGE", raising=False)
    for argv in (["status"], ["studies"], ["export", "demo", "-o", "out"]):
        code, _, err = run_cli(capsys, argv)
        assert (
            code == 2
            and "no database at deltaspace.db (run `deltaspace run STUDY.yaml` first" in one_error_line(err)
        )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StorageError, match="no database at"):
        Storage(f"sqlite:///{tmp_path}/sub/ds.db", create=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(60)
def test_a_server_that_never_answers_fails_within_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        code, _, err = run_cli(capsys, ["status", "--storage", f"postgresql://u@127.0.0.1:{port}/db"])
    assert code == 2 and "(connection timeout expired)" in one_error_line(err)


# ---- a disk that fills during a run ---------------------------------------------------------------


@pytest.fixture
def disk_filler(tmp_path: Path) -> Iterator[object]:
    """``fill()`` makes the SQLite file ``ds.db`` unable to grow by one page, for every
    connection of every engine (deltaspace's and Optuna's): SQLite's own "database or disk is full"."""
    path = tmp_path / "ds.db"
    limit: list[int] = []

    def on_checkout(dbapi_connection: sqlite3.Connection, *_: object) -> None:
        if limit:
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit[0]}")

    def fill() -> None:
        with closing(sqlite3.connect(path)) as probe:
            limit.append(probe.execute("PRAGMA page_count").fetchone()[0])

    event.listen(Engine, "checkout", on_checkout)
    try:
        yield fill
    finally:
        event.remove(Engine, "checkout", on_checkout)


def test_a_disk_that_fills_during_a_run_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disk_filler
) -> None:
    def train_until_the_disk_is_full(*args: object, seed: int = 0, **kwargs: object) -> TrialResult:
        disk_filler()
        metrics = {f"metric_{i}": 0.5 for i in range(4000)}  # a result that needs new pages
        return TrialResult(
            status="complete", score=0.5, primary_metric="accuracy", metrics=metrics, seed=seed
        )

    monkeypatch.setattr("deltaspace.trainers.trial.run_trial", train_until_the_disk_is_full)
    study = write_study(tmp_path / "study.yaml", small_study("full"))
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    code, out, err = run_cli(capsys, ["run", str(study), "--storage", url])
    line = one_error_line(err)
    assert code == 2 and "starting study" in out
    assert f"database write failed (disk full?): database or disk is full (--storage {url})" in line


def test_storage_writes_report_a_full_disk(tmp_path: Path, disk_filler) -> None:
    storage = Storage(f"sqlite:///{tmp_path / 'ds.db'}")
    storage.create_study("s", "name: s\n")
    disk_filler()
    big = "x" * 100_000
    writes = [
        lambda: storage.create_study("t", big),
        lambda: storage.record_infeasible("s", 0, method_name="m", method_json=big, method_hash="h", params={},
                                          training={}, seed=0, delta_params=1, percent=0.1, reason="budget"),
    ]  # fmt: skip
    for write in writes:
        with pytest.raises(
            StorageError, match=r"^database write failed \(disk full\?\): database or disk is full"
        ):
            write()
    assert [s.name for s in storage.list_studies()] == ["s"]  # reading still works
    storage.close()


def test_a_full_disk_inside_optuna_is_one_line_too(tmp_path: Path, disk_filler) -> None:
    import optuna

    from deltaspace.search.commands import _one_line_errors
    from deltaspace.search.errors import SearchError

    url = f"sqlite:///{tmp_path / 'ds.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=sqlalchemy_url(url))
    disk_filler()
    with pytest.raises(
        SearchError, match=r"^database write failed \(disk full\?\): database or disk is full"
    ):
        with _one_line_errors(url):  # what run and worker wrap their work in
            study.set_user_attr("notes", "x" * 100_000)


# ---- read-only databases --------------------------------------------------------------------------


@pytest.fixture
def shipped_db(tmp_path: Path, demo_db: Path) -> Path:
    """The demo database as one might receive it: rollback journal, not WAL (as after a copy)."""
    path = copy_db(demo_db, tmp_path / "shipped.db")
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    return path


@pytest.mark.parametrize("query", ["mode=ro", "immutable=1"])
def test_status_and_studies_read_a_read_only_database(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, shipped_db: Path, query: str
) -> None:
    monkeypatch.chdir(shipped_db.parent)  # where a URI filename was once taken for a folder to create
    url = f"sqlite:///file:{shipped_db}?{query}&uri=true"
    digest = hashlib.sha256(shipped_db.read_bytes()).hexdigest()
    code, out, err = run_cli(capsys, ["status", "demo", "--storage", url, "--json"])
    assert code == 0 and '"done": 2' in out, err
    code, out, err = run_cli(capsys, ["studies", "--storage", url, "--json"])
    assert code == 0 and '"name": "demo"' in out, err
    assert hashlib.sha256(shipped_db.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in shipped_db.parent.iterdir()) == ["shipped.db"]


def test_a_read_only_storage_never_writes(shipped_db: Path) -> None:
    storage = Storage(f"sqlite:///{shipped_db}", read_only=True)
    assert [s.name for s in storage.list_studies()] == ["demo"]
    assert len(storage.list_trials("demo")) == 2
    with pytest.raises(ReadOnlyStorageError, match="open read-only here"):
        storage.create_study("other", "name: other\n")
    with storage._engine.connect() as conn:  # the connection itself refuses writes (mode=ro)
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "delete"
        with pytest.raises(Exception, match="attempt to write a readonly database"):
            conn.execute(text("DELETE FROM ds_trials"))
    storage.close()
    with pytest.raises(ReadOnlyStorageError, match="opens the database read-only"):
        Storage(f"sqlite:///file:{shipped_db}?mode=ro&uri=true")  # a writing Storage on it


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes; covered by mode=ro above")
def test_a_database_in_a_read_only_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_db: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    copy_db(demo_db, folder / "ds.db")
    (folder / "ds.db").chmod(0o444)
    folder.chmod(0o555)
    try:
        url = f"sqlite:///{folder / 'ds.db'}"
        code, out, err = run_cli(capsys, ["studies", "--storage", url, "--json"])
        assert code == 0 and '"name": "demo"' in out, err
        code, _, err = run_cli(capsys, ["worker", "demo", "--storage", url])
        assert code == 2 and "is read-only: reading commands" in one_error_line(err)
    finally:
        folder.chmod(0o755)


def test_db_upgrade_brings_a_database_to_head(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    code, out, _ = run_cli(capsys, ["db", "upgrade", "--storage", url])
    assert code == 0 and out.strip() == f"{url} is at schema revision 0002_rungs"
    assert Storage(url, read_only=True).list_studies() == []
