"""The search commands: bad study files give one clear line and exit code 2; status and studies."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from search_support import study_dict

from deltaspace import cli
from deltaspace.search.executors import ExecutorOptions
from deltaspace.search.fake_trainer import FakeTrainer
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import study_from_mapping

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def good() -> dict:
    return study_dict("bad", "minilm", None)


def broken(change) -> dict:
    study = good()
    change(study)
    return study


@pytest.mark.parametrize(
    ("study", "message"),
    [
        (broken(lambda s: s.update(colour="red")), "unknown field 'colour'; allowed: name, description"),
        (broken(lambda s: s["budget"].update(n_trials="several")), "budget.n_trials: Input should be a valid integer"),
        (broken(lambda s: s.update(methods={})), "the search space is empty"),
        (broken(lambda s: s.update(methods={"x": {"slots": [{"form": "prefix", "position": "ffn_output"}]}})),
         "the space is empty: no sampled combination is valid (x: deltas.0: form='prefix' and position='ffn_output' clash"),
        (broken(lambda s: s["budget"].update(max_delta_params=100)),
         "budget: impossible: max_delta_params=100, but the smallest point of the space (free) has 9,216 delta parameters on minilm"),
        (broken(lambda s: s.update(model="/nonexistent/model")), "model: cannot load model '/nonexistent/model'"),
        (broken(lambda s: s.update(task="nope")), "task: unknown task 'nope'; known: cola, mnli"),
        (broken(lambda s: s.update(data_dir="/nonexistent/sst2")), "data_dir: folder /nonexistent/sst2 does not exist"),
        (broken(lambda s: s["training"].update(lr=-1)), "training.lr: got -1: Input should be greater than 0"),
        (broken(lambda s: s["training"].update(max_steps=3)), "training.max_steps: set by budget.max_steps"),
        (broken(lambda s: s["search"].update(sampler="annealing")), "unknown sampler 'annealing'; known: tpe, nsga2"),
        (broken(lambda s: s["search"].update(sampler="grid")), "grid needs listed values, and training.lr, "),
        (broken(lambda s: s["training"].update(lr_quantile=0.5)), "training: give lr (one rate for every design) or lr_quantile"),
        (broken(lambda s: s.update(training={"lr_quantile": [0.5, 1.5]})),
         "training.lr_quantile: got 1.5; a quantile is a number from 0 (the low end of a design's rate range) to 1"),
        (broken(lambda s: s["search"].update(pruner={"name": "median", "patience": 3})),
         "search.pruner: median does not accept options {'patience': 3}"),
    ],
)  # fmt: skip
def test_bad_study_files_give_one_line_and_exit_2(capsys, tmp_path, study: dict, message: str) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    code, out, err = main(capsys, "run", str(path), "--storage", f"sqlite:///{tmp_path / 'ds.db'}")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert message in err.replace("\n", "")
    assert not (tmp_path / "ds.db").exists() or "starting" not in out  # nothing was stored or run


def test_a_changed_file_does_not_resume_another_study(capsys, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    run_study(study_from_mapping(good()), url, options=ExecutorOptions(trainer=FakeTrainer()))
    changed = tmp_path / "study.yaml"
    changed.write_text(yaml.safe_dump(broken(lambda s: s["budget"].update(max_steps=8))))
    code, _, err = main(capsys, "run", str(changed), "--storage", url)
    assert code == 2 and "a study named 'bad' exists" in err and "with a different spec" in err


def test_status_and_studies(capsys, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    run_study(study_from_mapping(good()), url, options=ExecutorOptions(trainer=FakeTrainer()))
    code, out, _ = main(capsys, "status", "bad", "--storage", url, "--json")
    body = json.loads(out)
    assert code == 0 and body["done"] == 4 and body["n_trials"] == 4 and body["front"]
    scores = [row["score"] for row in body["front"]]
    params = [row["delta_params"] for row in body["front"]]
    assert scores == sorted(scores, reverse=True) and params == sorted(params, reverse=True)  # a real front
    code, out, _ = main(capsys, "studies", "--storage", url, "--json")
    assert code == 0 and json.loads(out)[0]["counts"]["complete"] == 4
    code, out, _ = main(capsys, "status", "--storage", url)
    assert code == 0 and "trials done 4/4" in out and "best front so far" in out
    code, _, err = main(capsys, "status", "nope", "--storage", url)
    assert code == 2 and "no study named 'nope'; known studies: bad" in err


def test_unknown_task_from_the_real_command(tmp_path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(broken(lambda s: s.update(task="sst3"))))
    done = subprocess.run([sys.executable, "-m", "deltaspace.cli", "run", str(path), "--storage",
                           f"sqlite:///{tmp_path / 'ds.db'}"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: task: unknown task 'sst3'; known:")


def test_keep_best_is_the_studys_choice_only_without_promotion(tmp_path) -> None:
    """A plain study may train to its last weights (as a promoted study's last rung does); a
    promoted study refuses the setting, since promotion decides it per rung."""
    from deltaspace.search.validate import check_study, settings_for
    from deltaspace.space.errors import SpecError

    plain = study_from_mapping(broken(lambda s: s["training"].update(keep_best=False)))
    assert settings_for(plain, {"keep_best": False}).keep_best is False
    check_study(plain)  # accepted
    url = f"sqlite:///{tmp_path / 'ds.db'}"
    run_study(plain, url, options=ExecutorOptions(trainer=FakeTrainer()))
    from deltaspace.storage import Storage

    assert {t.training["keep_best"] for t in Storage(url).list_trials("bad")} == {False}  # part of the identity
    promoted = broken(lambda s: s["training"].update(keep_best=False))
    promoted["search"]["promotion"] = {"rungs": [2, 4], "seeds": [0, 1]}
    with pytest.raises(SpecError, match="training.keep_best: set by search.promotion"):
        check_study(study_from_mapping(promoted))
