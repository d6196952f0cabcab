"""Exporting a stored study's best trial, Pareto front or one trial, in one of the formats.

| format | writes |
|---|---|
| yaml | ``method.yaml``, ``training.yaml``, ``trial.yaml``, ``README.md`` (no model is built) |
| weights | the yaml files and ``delta.safetensors``: every trained parameter of the method |
| peft | the yaml files, ``adapter_config.json`` and ``adapter_model.safetensors`` |
| merged | the yaml files and a Hugging Face model directory with the deltas folded in |

One trial is written to ``out_dir``; a Pareto front to ``out_dir/trial-<number>/`` each.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from deltaspace.outputs import writable_folder
from deltaspace.search.pareto import study_objectives
from deltaspace.space.errors import DeltaspaceError
from deltaspace.storage.records import StudyRecord, TrialRecord

from .select import Selection, select_trials
from .trained import TrainedTrial, TrialSource, source_for, trained_trial
from .yaml import write_yaml

Format = Literal["yaml", "weights", "peft", "merged"]
FORMATS: tuple[str, ...] = get_args(Format)
SourceFor = Callable[[StudyRecord, TrialRecord], TrialSource]


@dataclass
class Exported:
    """One trial written out: where, and what its user should know."""

    trial: int
    path: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_weights(trained: TrainedTrial, out_dir: Path) -> list[str]:
    from .weights import WEIGHTS_FILE, save_trainable

    metadata = {"method": trained.spec.canonical_json(), "seed": str(trained.trial.seed)}
    save_trainable(trained.model, out_dir / WEIGHTS_FILE, metadata)
    return []


def _writers() -> dict[str, Callable[[TrainedTrial, Path], list[str]]]:
    from .merged import export_merged
    from .peft_format import export_peft

    return {"weights": write_weights, "peft": export_peft, "merged": export_merged}


def export_trial(
    trial: TrialRecord,
    fmt: Format,
    out_dir: Path,
    source: TrialSource,
    *,
    allow_training: bool = True,
) -> Exported:
    """Write one trial; builds (and, without kept weights, retrains) its model unless ``fmt`` is yaml."""
    if fmt not in FORMATS:
        raise DeltaspaceError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    if fmt != "yaml":
        with tempfile.TemporaryDirectory(prefix="deltaspace-export-") as work:
            trained = trained_trial(trial, source, Path(work), allow_training=allow_training)
            notes = _writers()[fmt](trained, out_dir)
    write_yaml(trial, source, out_dir)
    files = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    return Exported(trial.number, out_dir, files, notes)


def export_study(
    storage: Any,
    study_name: str,
    fmt: Format,
    out_dir: str | Path,
    *,
    selection: Selection = "best",
    number: int | None = None,
    allow_training: bool = True,
    source: SourceFor = source_for,
) -> list[Exported]:
    """Export the selected trials of a stored study; one folder per trial for a Pareto front."""
    study = storage.get_study(study_name)
    objectives = study_objectives(study.spec_yaml)
    chosen = select_trials(storage.list_trials(study_name), selection, number, objectives)
    out_dir = writable_folder(out_dir)
    many = selection == "pareto"
    try:
        return [
            export_trial(
                trial,
                fmt,
                out_dir / f"trial-{trial.number}" if many else out_dir,
                source(study, trial),
                allow_training=allow_training,
            )
            for trial in chosen
        ]
    except OSError as exc:  # disk full or permissions changed half-way
        where = f" {exc.filename}" if exc.filename else ""
        raise DeltaspaceError(f"-o {out_dir}: writing{where} failed: {exc.strerror or exc}") from None
