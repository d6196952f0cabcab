"""Trainers: tasks (data, columns, metrics), the training/evaluation loop, and `TrialResult`.

``run_trial`` turns (model, MethodSpec, task, TrainSettings, seed) into a `TrialResult`. Importing
this package is light (pydantic only): torch, transformers and datasets load when a trial runs.
Modules: ``tasks/`` (registry and specs), ``metrics``, ``settings``, ``data`` (loading and
checks), ``batching``, ``loop``, ``evaluation``, ``selection`` (LT-SFT's mask phase), ``measure``
(memory, provenance), ``trial``, ``cli_train`` and ``commands`` (``deltaspace train``/``tasks``).
"""

from __future__ import annotations

from typing import Any

from .result import EvalPoint, Provenance, TrialResult, TrialStatus
from .settings import TrainSettings

__all__ = ["EvalPoint", "Provenance", "TrainSettings", "TrialResult", "TrialStatus", "run_trial"]


def __getattr__(name: str) -> Any:
    if name == "run_trial":
        from .trial import run_trial

        return run_trial
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
