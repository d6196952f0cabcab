"""Silencing what Optuna says about the features deltaspace uses on purpose."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's notes on heartbeats (experimental) used with ask/tell instead of
    ``Study.optimize`` (the worker's own heartbeat thread beats for each trial), and on a re-run
    trial's budget constraint, which it inherits from the trial it replaces (same point, same value)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings(
            "ignore", message="Heartbeat of storage is supposed to be used with Study.optimize"
        )
        warnings.filterwarnings("ignore", message="The constraint value is ignored because this constraint")
        yield
