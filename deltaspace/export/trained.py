"""A stored trial as a trained model again: rebuilt from its spec and seed, with its weights
loaded from the file the trial kept, or retrained when it kept none.

Rebuilding repeats what the trainer does before training (seed, then load the backbone, then
insert the deltas), so a randomly initialised backbone comes back identical and the weights
file only needs the trainable parameters.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deltaspace.space.errors import DeltaspaceError
from deltaspace.space.method import MethodSpec
from deltaspace.storage.records import StudyRecord, TrialRecord
from deltaspace.trainers.settings import TrainSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSource:
    """What a trial was trained on: backbone (name, path or config), task, data, settings, seed."""

    model: Any
    task: Any
    data_dir: str | None
    settings: TrainSettings
    seed: int
    tokenizer: Any = None


@dataclass
class TrainedTrial:
    """A trial's method built into its backbone with the trained values loaded."""

    trial: TrialRecord
    spec: MethodSpec
    applied: Any  # deltaspace.methods.AppliedMethod
    tokenizer: Any
    source: TrialSource

    @property
    def model(self) -> Any:
        return self.applied.model


def method_spec(trial: TrialRecord) -> MethodSpec:
    """The trial's MethodSpec, named as the trial was (the canonical JSON leaves the name out)."""
    data = trial.method
    data.setdefault("name", trial.method_name or f"trial-{trial.number}")
    return MethodSpec.model_validate(data)


def train_settings(trial: TrialRecord) -> TrainSettings:
    """The trial's TrainSettings (keys of ``training`` that are not settings are left out)."""
    known = {k: v for k, v in trial.training.items() if k in TrainSettings.model_fields}
    return TrainSettings.model_validate({**known, "seed": trial.seed, "progress": False})


def source_for(study: StudyRecord, trial: TrialRecord) -> TrialSource:
    """Backbone, task and data of a stored trial, from its study's stored StudySpec."""
    from deltaspace.space.study import study_from_mapping

    spec = study_from_mapping(yaml.safe_load(study.spec_yaml), where=f"stored study {study.name}")
    return TrialSource(spec.model, spec.task, spec.effective_data_dir, train_settings(trial), trial.seed)


def rebuild(source: TrialSource, spec: MethodSpec) -> tuple[Any, Any]:
    """(AppliedMethod, tokenizer) exactly as the trainer builds them before training."""
    import transformers

    from deltaspace.methods import apply_method, load_backbone
    from deltaspace.trainers.tasks import resolve_task
    from deltaspace.trainers.trial import head_for

    transformers.set_seed(source.seed)
    backbone, tokenizer = load_backbone(
        source.model, head=head_for(resolve_task(source.task)), tokenizer=source.tokenizer
    )
    return apply_method(backbone, spec), tokenizer


def retrain(trial: TrialRecord, source: TrialSource, spec: MethodSpec, weights_path: Path) -> Path:
    """Train the trial again from its spec and seed, writing its trainable weights to ``weights_path``."""
    from deltaspace.trainers.trial import run_trial

    if "weights_path" not in inspect.signature(run_trial).parameters:
        raise DeltaspaceError(
            f"trial {trial.number} kept no weights, and this deltaspace's trainer cannot hand trained "
            "weights back (run_trial has no weights_path); run the study with weights kept"
        )
    result = run_trial(
        source.model,
        spec,
        source.task,
        source.data_dir,
        source.settings,
        seed=trial.seed,
        tokenizer=source.tokenizer,
        weights_path=weights_path,  # type: ignore[call-arg]
    )
    if result.status != "complete":
        raise DeltaspaceError(f"retraining trial {trial.number} failed: {result.failure_reason}")
    if trial.score is not None and result.score is not None and abs(result.score - trial.score) > 1e-6:
        log.warning(
            "retrained trial %d scores %.6f, the stored run %.6f (nondeterministic kernels?)",
            trial.number,
            result.score,
            trial.score,
        )
    return weights_path


def trained_trial(
    trial: TrialRecord, source: TrialSource, workdir: Path, *, allow_training: bool = True
) -> TrainedTrial:
    """The trained model of ``trial``: its kept weights, or (``allow_training``) retrained ones."""
    from .weights import WEIGHTS_FILE, load_trainable

    spec = method_spec(trial)
    if trial.weights_path:
        weights = Path(trial.weights_path)
    elif allow_training:
        weights = retrain(trial, source, spec, workdir / f"trial-{trial.number}-{WEIGHTS_FILE}")
    else:
        raise DeltaspaceError(
            f"trial {trial.number} kept no weights; `deltaspace export` on a machine that can train "
            "retrains it from its spec and seed"
        )
    applied, tokenizer = rebuild(source, spec)
    load_trainable(applied.model, weights)
    applied.model.eval()
    return TrainedTrial(trial, spec, applied, tokenizer, source)
