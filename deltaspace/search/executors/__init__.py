"""Executors: where a study's trials run. Both write the same records through ``Storage``.

``local``: this process, or N worker processes on this machine, each with its share of the CPU
threads and, where GPUs exist, its own device. ``ray``: a Ray Tune run (``OptunaSearch`` with the
study's sampler, ASHA for pruning) on a local Ray instance or the cluster at ``--ray-address``.
An executor is ``run(plan, url, options) -> None``, registered here by module path so that Ray
is imported only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ...space.errors import UnknownNameError
from ..objective import Outcome, Trainer, train_with_run_trial
from ..validate import StudyPlan


@dataclass(frozen=True)
class ExecutorOptions:
    workers: int = 1
    ray_address: str | None = None
    timeout: float | None = None
    trainer: Trainer = train_with_run_trial
    on_trial: Callable[[int, Outcome], None] | None = None
    poll: Callable[[], None] | None = None  # called about once a second while others work


Executor = Callable[[StudyPlan, str, ExecutorOptions], None]
EXECUTORS: dict[str, str] = {
    "local": "deltaspace.search.executors.local:run_local",
    "ray": "deltaspace.search.executors.ray_tune:run_ray",
}


def get_executor(name: str) -> Executor:
    if name not in EXECUTORS:
        raise UnknownNameError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}")
    module, attr = EXECUTORS[name].split(":")
    executor: Executor = getattr(importlib.import_module(module), attr)
    return executor
