"""`train_command`, the function behind ``deltaspace train``, on MiniLM and a slice of SST-2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deltaspace.trainers.cli_train import train_command

os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SMALL = {"max_length": 32, "max_train_examples": 64, "max_eval_examples": 48, "threads": 1, "progress": False}


@pytest.mark.skipif(not (DATA / "sst2").is_dir(), reason="no ../shared/data/sst2")
def test_train_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = train_command(
        "lora", "minilm", "sst2", str(DATA / "sst2"), max_steps=2, lr=1e-3, seed=1, json_out=True, **SMALL
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "complete" and out["seed"] == 1
    assert {"score", "metrics", "delta_params", "percent", "train_seconds"} <= set(out)
    assert out["provenance"]["model"] == "minilm" and out["delta_params"] > 0


@pytest.mark.skipif(not (DATA / "sst2").is_dir(), reason="no ../shared/data/sst2")
def test_train_table(capsys: pytest.CaptureFixture[str]) -> None:
    code = train_command("bitfit", "minilm", "sst2", str(DATA / "sst2"), max_steps=1, **SMALL)
    out = capsys.readouterr().out
    assert code == 0 and "bitfit on sst2: complete" in out and "score (accuracy)" in out


@pytest.mark.parametrize(
    ("method", "task", "message"),
    [("lora", "sst3", "unknown task 'sst3'"), ("lorax", "sst2", "lorax"), ("lora", "sst2", "max_steps")],
)
def test_usage_errors_exit_2(
    method: str, task: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = 0 if message == "max_steps" else 1
    assert train_command(method, "minilm", task, None, max_steps=steps) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_failed_trial_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_command("lora", "minilm", "sst2", str(tmp_path), max_steps=1, json_out=True, **SMALL) == 1
    assert "not found" in json.loads(capsys.readouterr().out)["failure_reason"]


def test_cli_lists_tasks_from_the_registry() -> None:
    import subprocess
    import sys

    from deltaspace.trainers.tasks import task_names

    out = subprocess.run([sys.executable, "-m", "deltaspace.cli", "tasks"], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": "200"}).stdout  # fmt: skip
    assert all(name in out for name in task_names()) and "matthews" in out


def test_importing_trainers_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, deltaspace.trainers, deltaspace.trainers.tasks, deltaspace.trainers.commands, "
        "deltaspace.trainers.cli_train\n"
        "print([m for m in ('torch', 'transformers', 'datasets', 'sklearn', 'numpy') if m in sys.modules])"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "[]"
    )


@pytest.mark.parametrize(("flag", "checked"), [([], True), (["--float32-eval"], False), (["--checked-eval"], True)])
def test_train_passes_the_evaluation_precision(monkeypatch, flag: list[str], checked: bool) -> None:
    from deltaspace import cli
    from deltaspace.trainers import trial
    from deltaspace.trainers.result import TrialResult

    seen = {}

    def fake_run_trial(model, method, task, data_dir, settings):
        seen["settings"] = settings
        return TrialResult(status="complete", score=0.5, seed=settings.seed)

    monkeypatch.setattr(trial, "run_trial", fake_run_trial)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "lora", "--model", "minilm", "--task", "sst2", "--max-steps", "1", "--json", *flag])
    assert exit_info.value.code in (0, None) and seen["settings"].checked_bf16_eval is checked
