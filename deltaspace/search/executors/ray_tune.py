"""The Ray executor: ``ray.tune.Tuner`` with ``OptunaSearch`` (the study's own sampler and Optuna
study, in the same database) and an ASHA scheduler when the study names a pruner.

The define-by-run space function runs in the driver: it samples the point, checks its budget
and stores the constraint on the Optuna trial, so constrained samplers see over-budget points
exactly as with the local executor. Each Tune trial replays its point from the sampled values
(``FixedTrial``) and runs it through the same ``TrialEvaluator``, so both executors write the same
``ds_`` records. Intermediate scores go to Tune (``tune.report``), where ASHA stops the weak
ones (any named pruner means ASHA here: a grace period of a quarter of the steps, reduction
factor 2); a trial Tune stopped is recorded ``pruned`` by a driver callback. ``--ray-address``
joins a running cluster; without it a local Ray instance starts on 127.0.0.1 with no dashboard.
Each trial asks for ``cores // workers`` CPUs and, when the cluster has GPUs, one GPU (a share of
one when there are more workers than GPUs, as the local executor deals devices round robin):
`trial_resources`.

A study with promotion (``deltaspace.search.promotion``) trains its rung 0 as Tune trials; then
the promoted rungs run as Ray tasks, as many as workers and with the same resources, each a
deltaspace `Worker` on the study's database: they claim rungs and decide promotions exactly as
local and PostgreSQL workers do (`promote_on_ray`).
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ray
import yaml
from optuna.trial import FixedTrial
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from ...space.study import study_from_mapping
from ...storage import Storage, TrialNotFoundError
from ...trainers.result import EvalPoint, TrialResult
from ..budget import CONSTRAINT
from ..objective import Trainer, TrialEvaluator
from ..optuna_quiet import quiet_optuna
from ..pruners import Pruning
from ..samplers import SamplerArgs, make_sampler
from ..study_db import count_slots, ds_number, open_study, optuna_storage, recover_stale
from ..validate import StudyPlan, check_planned, check_study
from ..worker import Heartbeat, Worker, point_for
from . import ExecutorOptions

CONFIG_KEYS = ("ds_number", "ds_trial_id")


def run_ray(plan: StudyPlan, url: str, options: ExecutorOptions) -> None:
    spec = plan.spec
    storage = Storage(url)
    rdb = optuna_storage(url, plan)
    optuna_name = storage.get_study(spec.name).optuna_study_name
    study = open_study(plan, rdb, optuna_name)
    recover_stale(study, storage, plan)
    remaining = None if plan.n_trials is None else plan.n_trials - count_slots(study).finished
    if remaining is not None and remaining <= 0:
        return
    _connect(options.ray_address)
    resources = trial_resources(ray.cluster_resources(), options.workers)
    trainable = tune.with_parameters(
        ray_trial, url=url, spec_yaml=spec.to_yaml(), trainer=options.trainer, threads=int(resources["cpu"])
    )
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            search_alg=_searcher(plan, rdb, optuna_name),
            scheduler=_scheduler(plan),
            num_samples=remaining if remaining is not None else -1,
            max_concurrent_trials=max(1, options.workers),
            time_budget_s=options.timeout,
        ),
        run_config=tune.RunConfig(
            name=f"deltaspace-{spec.name}-{int(time.time())}",
            storage_path=os.path.join(tempfile.gettempdir(), "deltaspace-ray"),
            verbose=0,
            callbacks=[_Recorder(url, spec.name, options.poll)],
        ),
    )
    with quiet_optuna():
        tuner.fit()
    if spec.search.promotion is not None:
        promote_on_ray(spec.to_yaml(), url, options, resources)
    elif plan.n_trials is not None and count_slots(study).finished >= plan.n_trials:
        storage.set_study_status(spec.name, "complete")


def promote_on_ray(spec_yaml: str, url: str, options: ExecutorOptions, resources: dict[str, float]) -> None:
    """Train the promoted rungs with ``options.workers`` Ray tasks of ``resources`` each; every
    task is a `Worker` that returns when the study is done (or ``options.timeout`` passes)."""
    task = ray.remote(num_cpus=resources["cpu"], num_gpus=resources["gpu"])(_promotion_worker)
    ray.get([
        task.remote(spec_yaml, url, options.trainer, int(resources["cpu"]), options.timeout)
        for _ in range(max(1, options.workers))
    ])  # fmt: skip


def _promotion_worker(spec_yaml: str, url: str, trainer: Trainer, threads: int, timeout: float | None) -> int:
    return Worker(_plan(spec_yaml), url, trainer=trainer, threads=threads).run(timeout)


def trial_resources(cluster: dict[str, float], workers: int) -> dict[str, float]:
    """What one trial asks Ray for, given the cluster's resources and the concurrent trials wanted:
    ``cpu``, the CPUs split among the workers, and ``gpu``, one device per trial, or an equal share
    of one when the workers outnumber the GPUs (Ray then packs several trials on a device)."""
    workers = max(1, workers)
    gpus = int(cluster.get("GPU", 0))
    share = 0.0 if gpus == 0 else min(1.0, math.floor(10_000 * gpus / workers) / 10_000)  # Ray: 1e-4 steps
    return {"cpu": max(1, int(cluster.get("CPU", 1)) // workers), "gpu": share}


def _connect(address: str | None) -> None:
    """Join the cluster at ``address``, or start a local instance on 127.0.0.1 (no dashboard)."""
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )


def _searcher(plan: StudyPlan, rdb: Any, optuna_name: str) -> OptunaSearch:
    """OptunaSearch with the study's sampler and its Optuna study in deltaspace's database."""
    spec, search = plan.spec, plan.spec.search
    grid = len(plan.grid) if plan.grid else None
    several = len(spec.objectives) > 1
    return OptunaSearch(
        space=DefineByRun(plan),
        metric=list(spec.objectives) if several else "score",
        mode=[d[:3] for d in spec.directions] if several else "max",
        sampler=make_sampler(search.sampler.name, SamplerArgs(search.sampler.options, search.seed, grid)),
        storage=rdb,
        study_name=optuna_name,
    )


def _scheduler(plan: StudyPlan) -> ASHAScheduler | None:
    """ASHA on the score when the study names a pruner (its steps are optimiser steps)."""
    if plan.spec.search.pruner.name == "none":
        return None
    max_t = plan.spec.budget.max_steps + 1  # the final report's step: ASHA stops what reaches max_t
    return ASHAScheduler(
        time_attr="step",
        metric="score",
        mode="max",
        max_t=max_t,
        grace_period=max(1, max_t // 4),
        reduction_factor=2,
    )


@dataclass(frozen=True)
class DefineByRun:
    """OptunaSearch's space: sample the point, set its budget constraint, name its ds_ trial.
    (A class, not a closure: Tune pickles its searcher with the experiment state.)"""

    plan: StudyPlan

    def __call__(self, trial: Any) -> dict[str, Any]:
        number = ds_number(trial)
        point = point_for(trial, self.plan)
        with quiet_optuna():
            trial.set_constraint(CONSTRAINT, check_planned(point, self.plan).violation)
        return {"ds_number": number, "ds_trial_id": trial._trial_id}


@functools.lru_cache(maxsize=4)
def _plan(spec_yaml: str) -> StudyPlan:
    return check_study(study_from_mapping(yaml.safe_load(spec_yaml)))


class _TunePruning(Pruning):
    """Intermediate scores go to Tune; ASHA stops the trial there (so this never says stop)."""

    def __init__(self, metrics: dict[str, float]) -> None:
        self.metrics = metrics

    def should_stop(self, step: int, score: float) -> bool:
        tune.report({**self.metrics, "score": score, "step": step})
        return False


def ray_trial(config: dict[str, Any], *, url: str, spec_yaml: str, trainer: Trainer, threads: int) -> None:
    """One Tune trial: replay the sampled point and evaluate it like a local worker would."""
    plan = _plan(spec_yaml)
    spec = plan.spec
    number = int(config["ds_number"])
    point = point_for(FixedTrial({k: v for k, v in config.items() if k not in CONFIG_KEYS}), plan)
    check = check_planned(point, plan)
    storage = Storage(url)
    rdb = optuna_storage(url, plan)
    placeholder = {o: 0.0 for o in spec.objectives}
    placeholder["delta_params"] = float(check.count.delta_params if check.count else 0)
    beats = [
        lambda: rdb.record_heartbeat(int(config["ds_trial_id"])),
        lambda: storage.heartbeat(spec.name, number),
    ]
    with Heartbeat(spec.search.heartbeat_interval, beats):
        outcome = TrialEvaluator(plan, storage, trainer, threads).evaluate(
            number, point, check, _TunePruning(placeholder) if check.feasible else None
        )
    if outcome.values is not None:  # failed trials report nothing: Optuna records them pruned
        final = {**dict(zip(spec.objectives, outcome.values, strict=True)), "step": spec.budget.max_steps + 1}
        tune.report(final)


class _Recorder(tune.Callback):
    """Driver-side callback: records trials Tune stopped (ASHA) or lost, and drives the display.

    Tune pickles its callbacks with the experiment state: the database connection and the display
    stay out of the pickle (a restored recorder reconnects and draws nothing)."""

    def __init__(self, url: str, study: str, poll: Callable[[], None] | None = None) -> None:
        self.url, self.study, self.poll, self.last_poll = url, study, poll, 0.0
        self._storage: Storage | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "study": self.study}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["study"])  # type: ignore[misc]

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = Storage(self.url)
        return self._storage

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self.poll is not None and time.monotonic() - self.last_poll > 1.0:
            self.last_poll = time.monotonic()
            self.poll()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._close(trial, "pruned", "stopped early by ASHA")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._close(trial, "failed", "the Ray trial raised an error")

    def _close(self, trial: Any, status: str, reason: str) -> None:
        try:
            record = self.storage.get_trial(self.study, int(trial.config.get("ds_number")))
        except (TrialNotFoundError, TypeError):
            return
        if record.status != "running":
            return
        points = self.storage.intermediate_scores(self.study, record.number)
        last = trial.last_result or {}
        result = TrialResult(
            status=status,  # type: ignore[arg-type]
            failure_reason=reason if status == "failed" else None,
            score=max((p.score for p in points), default=None),
            eval_curve=[EvalPoint(step=p.step, score=p.score, seconds=p.seconds) for p in points],
            steps=points[-1].step if points else 0,
            delta_params=int(last.get("delta_params", 0)),
        )
        self.storage.finish_trial(self.study, record.number, result)
