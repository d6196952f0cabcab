"""``weights_dir`` in a study: each complete trial keeps its trained weights, so ``deltaspace
export`` loads them instead of retraining (``--no-training`` proves it), and the exported model
scores what the trial stored, counted here from its own predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from search_support import make_sst2, make_tiny_model, study_dict, write_study
from typer.testing import CliRunner

from deltaspace import cli
from deltaspace.search.study_runner import run_study
from deltaspace.space.study import load_study
from deltaspace.storage import Storage

TRAINING = {"lr": 0.01}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def sst2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sst2(tmp_path_factory.mktemp("sst2"))


def _accuracy_of_folder(folder: Path, data: Path) -> float:
    """Accuracy of an exported merged model on the validation rows, arg-max by hand in float32."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = [json.loads(line) for line in (data / "validation.jsonl").read_text().splitlines()]
    right = 0
    with torch.no_grad():
        for row in rows:
            logits = model(**tokenizer(row["sentence"], return_tensors="pt", truncation=True, max_length=32)).logits
            right += int(logits[0].argmax().item() == row["label"])
    return right / len(rows)


def _invoke(*args: str):
    cli._register_optional_commands()
    return CliRunner().invoke(cli.app, list(args))


def _export(url: str, study: str, number: int, out: Path) -> None:
    result = _invoke("export", study, "--storage", url, "--trial", str(number), "--format", "merged", "-o",
                     str(out), "--no-training")  # fmt: skip
    assert result.exit_code == 0, result.output


@pytest.mark.slow  # trains a tiny BERT for two trials, then for a promoted pair
def test_kept_weights_export_without_retraining_to_the_stored_score(tiny_model, sst2, tmp_path) -> None:
    study = study_dict("kept", tiny_model, sst2, budget={"n_trials": 2}, training=TRAINING,
                       methods={"lora": {"size": [2, 4]}}, weights_dir="runs")  # fmt: skip
    path = write_study(tmp_path / "study.yaml", study)
    assert load_study(path).weights_dir == str((tmp_path / "runs").resolve())  # relative to the file
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_study(path, url)
    trials = Storage(url).list_trials("kept")
    assert [t.status for t in trials] == ["complete", "complete"]
    for trial in trials:
        assert trial.weights_path == str(tmp_path / "runs" / "kept" / f"trial-{trial.number}.safetensors")
        assert Path(trial.weights_path).is_file()
        out = tmp_path / f"merged-{trial.number}"
        _export(url, "kept", trial.number, out)
        assert _accuracy_of_folder(out, sst2) == pytest.approx(trial.score, abs=1e-9)


@pytest.mark.slow
def test_a_promoted_trial_keeps_the_weights_of_its_highest_rung(tiny_model, sst2, tmp_path) -> None:
    study = study_dict("rungs", tiny_model, sst2, budget={"n_trials": 2, "max_steps": 4}, training=TRAINING,
                       methods={"lora": {"size": [2, 4]}}, weights_dir=str(tmp_path / "runs"),
                       search={"sampler": "grid", "promotion": {"rungs": [2, 4], "eta": 2}})  # fmt: skip
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_study(write_study(tmp_path / "study.yaml", study), url)
    trials = Storage(url).list_trials("rungs")
    assert sorted(t.rung for t in trials) == [0, 1]
    for trial in trials:
        assert trial.weights_path is not None and trial.weights_path.endswith(f"-rung-{trial.rung}.safetensors")
        out = tmp_path / f"merged-{trial.number}"
        _export(url, "rungs", trial.number, out)
        # the last rung trains every final seed (the score is their mean); the first seed's weights are kept
        first_seed = trial.metrics.get(f"score_seed{trial.seed}", trial.score)
        assert _accuracy_of_folder(out, sst2) == pytest.approx(first_seed, abs=1e-9)


def test_without_weights_dir_nothing_is_kept_and_export_says_so(tiny_model, sst2, tmp_path) -> None:
    study = study_dict("bare", tiny_model, sst2, budget={"n_trials": 1, "max_steps": 2}, training=TRAINING,
                       methods={"lora": {"size": [2]}})  # fmt: skip
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_study(write_study(tmp_path / "study.yaml", study), url)
    (trial,) = Storage(url).list_trials("bare")
    assert trial.status == "complete" and trial.weights_path is None
    result = _invoke("export", "bare", "--storage", url, "--format", "merged", "-o", str(tmp_path / "out"),
                     "--no-training")  # fmt: skip
    assert result.exit_code != 0 and "kept no weights" in str(result.exception)
