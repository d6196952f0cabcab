"""What a study looks like from outside: objective names on the Optuna study (optuna-dashboard
reads them), the pruning helper named and kept out of deltaspace's lists, ``status --csv``, and
the front's seed intervals in ``status --json``; all on a run with the fake trainer."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np
import optuna
import pytest
from scipy import stats as scipy_stats
from search_support import study_dict

from deltaspace import cli
from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_db import HELPER_ATTR
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import study_from_mapping

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('outputs') / 'ds.db'}"
    spec = study_dict(
        "outs", "minilm", None, seeds=[0, 1, 2], objectives=["score", "delta_params", "latency_ms"],
        search={"sampler": "random", "seed": 0, "pruner": "median"},
    )  # fmt: skip
    run_study(study_from_mapping(spec), url, options=ExecutorOptions(trainer=FakeTrainer()))
    return url


def test_optuna_sees_named_objectives_and_a_named_helper(url: str) -> None:
    storage = optuna.storages.RDBStorage(url)
    names = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
    assert set(names) == {"outs", "outs::pruning"}
    assert optuna.load_study(study_name="outs", storage=storage).metric_names == [
        "score", "delta_params", "latency_ms",
    ]  # fmt: skip
    helper = optuna.load_study(study_name="outs::pruning", storage=storage)
    assert helper.metric_names == ["score (pruning only)"]
    assert "internal helper of the deltaspace study 'outs'" in helper.user_attrs[HELPER_ATTR]


def test_deltaspace_lists_only_the_study(capsys, url: str) -> None:
    code, out, _ = main(capsys, "studies", "--storage", url, "--json")
    assert code == 0 and [s["name"] for s in json.loads(out)] == ["outs"]


def test_status_json_front_carries_seed_intervals(capsys, url: str) -> None:
    code, out, _ = main(capsys, "status", "outs", "--storage", url, "--json")
    body = json.loads(out)
    assert code == 0 and body["objectives"] == ["score", "delta_params", "latency_ms"] and body["front"]
    code, out, _ = main(capsys, "status", "outs", "--storage", url, "--csv")
    rows = {int(r["number"]): r for r in csv.DictReader(io.StringIO(out))}
    for row in body["front"]:
        assert row["seeds"] == 3
        seeds = [float(rows[row["number"]][f"metric.score_seed{s}"]) for s in range(3)]
        low, high = scipy_stats.t.interval(
            0.95, 2, loc=np.mean(seeds), scale=np.std(seeds, ddof=1) / math.sqrt(3)
        )
        assert row["score"] == pytest.approx(np.mean(seeds))
        assert (row["score_low"], row["score_high"]) == (pytest.approx(low), pytest.approx(high))
    code, out, _ = main(capsys, "status", "outs", "--storage", url)
    assert code == 0 and "score ± 95% CI" in out and " ± " in out


def test_status_csv_has_every_trial(capsys, url: str) -> None:
    code, out, _ = main(capsys, "status", "outs", "--storage", url, "--csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert [int(r["number"]) for r in table] == [0, 1, 2, 3]
    header = out.splitlines()[0].split(",")
    assert header[:6] == ["study_name", "number", "status", "method_name", "seed", "score"]
    assert {"design_score_low", "on_front", "param.method", "param.train.lr", "metric.score_std"} <= set(
        header
    )
    complete = [r for r in table if r["status"] == "complete"]
    assert complete and all(r["design_seeds"] == "3" for r in complete)
    code, _, err = main(capsys, "status", "outs", "--storage", url, "--csv", "--timing")
    assert code == 2 and "choose one of --timing and --csv" in err
