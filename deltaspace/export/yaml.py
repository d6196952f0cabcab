"""``--format yaml``: a trial as files that run again.

* ``method.yaml``: the MethodSpec (``deltaspace train DIR/method.yaml`` takes it as METHOD);
* ``training.yaml``: the TrainSettings the trial ran with, seed included;
* ``trial.yaml``: where it came from (study, trial number, model, task, data) and the stored
  score that a re-run with the same seed reproduces;
* ``README.md``: the command that re-runs it.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from deltaspace.storage.records import TrialRecord

from .trained import TrialSource, method_spec

# TrainSettings fields that `deltaspace train` takes as flags of the same name.
TRAIN_FLAGS = (
    "max_steps",
    "lr",
    "batch_size",
    "max_length",
    "eval_every",
    "threads",
    "max_train_examples",
    "max_eval_examples",
)


def train_command(out_dir: Path, source: TrialSource) -> str:
    """The ``deltaspace train`` command line that re-runs the exported trial."""
    words = ["deltaspace", "train", str(out_dir / "method.yaml"), "--model", _label(source.model)]
    words += ["--task", _label(source.task)]
    if source.data_dir:
        words += ["--data-dir", str(source.data_dir)]
    words += ["--seed", str(source.seed)]
    settings = source.settings.model_dump()
    for name in TRAIN_FLAGS:
        if settings[name] is not None and settings[name] != type(source.settings).model_fields[name].default:
            words += [f"--{name.replace('_', '-')}", str(settings[name])]
    return shlex.join(words)


def write_yaml(trial: TrialRecord, source: TrialSource, out_dir: Path, study: str = "") -> list[Path]:
    """Write the trial's method, settings and provenance; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = method_spec(trial)
    settings = source.settings.model_dump(mode="json", exclude={"progress"})
    provenance: dict[str, Any] = {
        "study": study or trial.study_name,
        "trial": trial.number,
        "method": spec.name,
        "method_hash": trial.method_hash,
        "model": _label(source.model),
        "task": _label(source.task),
        "data_dir": None if source.data_dir is None else str(source.data_dir),
        "seed": trial.seed,
        "score": trial.score,
        "metrics": trial.metrics,
        "delta_params": trial.delta_params,
        "percent": trial.percent,
    }
    files = {
        "method.yaml": spec.to_yaml(),
        "training.yaml": yaml.safe_dump(settings, sort_keys=False),
        "trial.yaml": yaml.safe_dump(provenance, sort_keys=False),
        "README.md": _readme(trial, source, out_dir),
    }
    written = []
    for name, text in files.items():
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    return written


def unflagged_settings(source: TrialSource) -> dict[str, Any]:
    """Settings that differ from the defaults and that ``deltaspace train`` takes no flag for."""
    fields = type(source.settings).model_fields
    skip = {*TRAIN_FLAGS, "seed", "progress"}
    return {
        name: value
        for name, value in source.settings.model_dump(mode="json").items()
        if name not in skip and value != fields[name].default
    }


def _readme(trial: TrialRecord, source: TrialSource, out_dir: Path) -> str:
    text = (
        f"# {trial.method_name}: trial {trial.number} of study {trial.study_name}\n\n"
        f"Stored score {trial.score} with seed {trial.seed}; re-run it with\n\n"
        f"    {train_command(out_dir, source)}\n\n"
        "`training.yaml` holds every training setting of the run.\n"
    )
    extra = unflagged_settings(source)
    if extra:
        listed = ", ".join(f"{k}={v}" for k, v in extra.items())
        text += (
            f"The command has no flag for these settings of the run; set them as in training.yaml: {listed}\n"
        )
    return text


def _label(value: Any) -> str:
    """A model or task as a user names it on the command line."""
    if isinstance(value, str | Path):
        return str(value)
    return str(getattr(value, "name", None) or getattr(value, "model_type", None) or value)
