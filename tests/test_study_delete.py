"""``deltaspace db delete``: a stored study goes whole (trials, scores, rungs, promotion decisions,
its Optuna study and pruning companion), so the same file then starts afresh; running studies and
unknown names are refused in one line."""

from __future__ import annotations

import optuna
from search_support import study_dict
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from deltaspace import cli
from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_runner import run_study
from deltaspace.space.errors import DeltaspaceError
from deltaspace.space.study import study_from_mapping
from deltaspace.storage import Storage

RUNGS = [4, 8]


def _run(study: dict, url: str) -> None:
    run_study(study_from_mapping(study), url, options=ExecutorOptions(trainer=FakeTrainer()))


def _invoke(*args: str, input: str | None = None):
    cli._register_optional_commands()
    return CliRunner().invoke(cli.app, list(args), input=input)


def _rows(url: str, table: str) -> int:
    with create_engine(url).connect() as c:
        return c.execute(text(f"select count(*) from {table}")).scalar_one()


def test_delete_removes_every_row_and_the_study_starts_afresh(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    promoted = study_dict("gone", "minilm", None, budget={"max_steps": RUNGS[-1], "n_trials": 4},
                          search={"promotion": {"rungs": RUNGS, "eta": 2}})  # fmt: skip
    pruned = study_dict("kept", "minilm", None, budget={"n_trials": 2}, search={"pruner": "median"})
    _run(promoted, url)
    _run(pruned, url)
    before = {t: _rows(url, t) for t in ("ds_trials", "ds_rungs", "ds_promotions", "ds_intermediate_scores")}
    assert before["ds_rungs"] > 0 and before["ds_promotions"] > 0

    result = _invoke("db", "delete", "gone", "--storage", url, "--yes")
    assert result.exit_code == 0, result.output
    assert "deleted study gone (4 trials)" in result.output
    assert [s.name for s in Storage(url).list_studies()] == ["kept"]
    assert _rows(url, "ds_rungs") == 0 and _rows(url, "ds_promotions") == 0  # only 'gone' had rungs
    assert _rows(url, "ds_trials") == len(Storage(url).list_trials("kept"))
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["kept", "kept::pruning"]

    _run(promoted, url)  # the same file: a new study, trial numbers from 0 again
    assert sorted(t.number for t in Storage(url).list_trials("gone")) == [0, 1, 2, 3]


def test_delete_asks_first_and_refuses_running_or_unknown_studies(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    _run(study_dict("s", "minilm", None, budget={"n_trials": 2}, search={"heartbeat_interval": 1, "grace_period": 120}),
         url)  # fmt: skip
    declined = _invoke("db", "delete", "s", "--storage", url, input="n\n")
    assert declined.exit_code == 1 and len(Storage(url).list_trials("s")) == 2

    storage = Storage(url)
    storage.start_trial("s", 9, method_name="lora", method_json="{}", method_hash="h", params={}, training={},
                        seed=0, worker_host="elsewhere", worker_pid=1)  # fmt: skip
    running = _invoke("db", "delete", "s", "--storage", url, "--yes")
    assert isinstance(running.exception, DeltaspaceError) and "running trials [9]" in str(running.exception)
    assert len(storage.list_trials("s")) == 3

    unknown = _invoke("db", "delete", "nope", "--storage", url, "--yes")
    assert isinstance(unknown.exception, DeltaspaceError) and "nope" in str(unknown.exception)

    # a worker silent for longer than the grace period (here 120 s) died: its trial does not block
    with create_engine(url).begin() as c:
        c.execute(text("update ds_trials set heartbeat_at = datetime('now', '-300 seconds') where number = 9"))
    dead = _invoke("db", "delete", "s", "--storage", url, "--yes")
    assert dead.exit_code == 0, dead.output
    assert "deleted study s (3 trials)" in dead.output

