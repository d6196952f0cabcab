"""Pruning on the trainer's intermediate validation scores, through Optuna's pruners.

A study file names one (``search: {pruner: median}``): none | median | hyperband |
successive_halving, options passed to the Optuna class. Steps are optimiser steps, so
``n_warmup_steps`` or ``min_resource`` are in steps too.

Multi-objective studies: Optuna's pruners judge one objective, and ``Trial.report`` refuses
multi-objective trials. deltaspace prunes on the score there too: each trial reports to a
companion single-objective study ``<study>::pruning`` (maximise score) in the same storage, whose
pruner decides; the trial itself ends PRUNED in the main study. The parameter count needs no
pruning (it is known before training), so the score is the one objective worth stopping early.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..space.errors import UnknownNameError
from .errors import SearchError
from .optuna_quiet import quiet_optuna

if TYPE_CHECKING:
    import optuna
    from optuna.pruners import BasePruner

PrunerFactory = Callable[..., "BasePruner"]


def _optuna_pruner(class_name: str) -> PrunerFactory:
    def make(**options: Any) -> BasePruner:
        import optuna

        return getattr(optuna.pruners, class_name)(**options)

    return make


PRUNERS: dict[str, PrunerFactory] = {
    "none": _optuna_pruner("NopPruner"),
    "median": _optuna_pruner("MedianPruner"),
    "hyperband": _optuna_pruner("HyperbandPruner"),
    "successive_halving": _optuna_pruner("SuccessiveHalvingPruner"),
}


def make_pruner(name: str, options: dict[str, Any]) -> BasePruner:
    if name not in PRUNERS:
        raise UnknownNameError(f"search.pruner: unknown pruner {name!r}; known: {', '.join(PRUNERS)}")
    try:
        return PRUNERS[name](**options)
    except (TypeError, ValueError) as exc:
        raise SearchError(f"search.pruner: {name} does not accept options {options}: {exc}") from None


def companion_name(study_name: str) -> str:
    return f"{study_name}::pruning"


class Pruning:
    """Reports a trial's intermediate scores and says when its pruner would stop it."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def should_stop(self, step: int, score: float) -> bool:
        self.trial.report(score, step)
        return self.trial.should_prune()

    def close(self, status: str, score: float | None) -> None:
        """End the companion trial, if any (the main trial is told by the worker)."""


class CompanionPruning(Pruning):
    """Pruning of a multi-objective trial through its single-objective companion study."""

    def __init__(self, companion: optuna.Study, number: int) -> None:
        with quiet_optuna():
            super().__init__(companion.ask())
        self.companion = companion
        self.trial.set_user_attr("trial", number)

    def close(self, status: str, score: float | None) -> None:
        from optuna.trial import TrialState

        if status == "complete" and score is not None:
            self.companion.tell(self.trial, score)
        else:
            self.companion.tell(
                self.trial, state=TrialState.PRUNED if status == "pruned" else TrialState.FAIL
            )


def pruning_for(trial: optuna.Trial, companion: optuna.Study | None, pruner_name: str) -> Pruning | None:
    """How ``trial`` is pruned: by its own study (single objective), through ``companion``
    (multi-objective), or not at all."""
    if pruner_name == "none":
        return None
    return Pruning(trial) if companion is None else CompanionPruning(companion, trial.number)
