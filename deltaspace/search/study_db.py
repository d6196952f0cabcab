"""Optuna's side of a study, in the same database as deltaspace's ``ds_`` tables.

Optuna's RDBStorage gets the same URL (through ``storage.sqlalchemy_url``) with heartbeats on: a
trial whose worker stays silent for the study's grace period is failed by the next worker that
looks (``recover_stale``), which also fails its ``ds_`` row and enqueues the same parameters
again under the same deltaspace trial number (``ds_number``, a user attribute Optuna's retry
copies).

Objectives are named on the Optuna study (``score``, ``delta_params``, ...), so tools that open
it (optuna-dashboard) show them by name; the pruning companion of a multi-objective study
(``<study>::pruning``) names itself an internal helper there, and deltaspace's own lists, which
read the ``ds_`` tables, never show it.

Deltaspace trial numbers are Optuna's, except that a re-run keeps the number of the trial it
replaces: the re-run's own Optuna number (like a surplus trial's) never appears in ``ds_`` tables.

A study of ``n`` trials ends when ``n`` trials have *finished*: complete, pruned, infeasible (a
complete Optuna trial with a positive constraint) or failed by the trainer (a result too, marked
``ds_status``). Trials lost with their worker do not count; they run again. Several workers stop
at exactly ``n``: a trial whose number comes after ``n`` live ones is surplus (``is_surplus``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..storage import Storage, StorageError, sqlalchemy_url
from .optuna_quiet import quiet_optuna
from .pruners import companion_name, make_pruner
from .samplers import SamplerArgs, make_sampler
from .validate import StudyPlan

if TYPE_CHECKING:
    import optuna

NUMBER_ATTR = "ds_number"
HELPER_ATTR = "deltaspace_internal_helper"
COUNTED_FAILURE_ATTR = "ds_status"
MAX_RETRIES = 3


def optuna_storage(url: str, plan: StudyPlan) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage on deltaspace's database, with the study's heartbeat settings."""
    import optuna

    search = plan.spec.search
    engine_kwargs: dict[str, object] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": 30}}
    with quiet_optuna():
        return optuna.storages.RDBStorage(
            sqlalchemy_url(url),
            engine_kwargs=engine_kwargs,
            heartbeat_interval=search.heartbeat_interval,
            grace_period=search.grace_seconds,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRIES
            ),
        )


def optuna_failure(exc: BaseException, url: str) -> StorageError | None:
    """The StorageError for a database failure inside Optuna (a full disk during ``tell``, a lost
    server during ``ask``), which Optuna raises as StorageInternalError; None for anything else."""
    from optuna.exceptions import StorageInternalError
    from sqlalchemy.exc import DatabaseError

    from ..storage.failures import failure

    if isinstance(exc, StorageInternalError) and isinstance(exc.__cause__, DatabaseError):
        return failure(exc.__cause__, url)
    return None


def open_study(plan: StudyPlan, storage: optuna.storages.BaseStorage, optuna_name: str) -> optuna.Study:
    """Create or load the Optuna study of ``plan`` (directions, sampler and pruner from its spec)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = plan.spec.search
    grid = len(plan.grid) if plan.grid else None
    study = optuna.create_study(
        study_name=optuna_name,
        storage=storage,
        sampler=make_sampler(search.sampler.name, SamplerArgs(search.sampler.options, search.seed, grid)),
        pruner=make_pruner(search.pruner.name, search.pruner.options),
        directions=plan.spec.directions,
        load_if_exists=True,
    )
    name_metrics(study, list(plan.spec.objectives))
    return study


def name_metrics(study: optuna.Study, names: list[str]) -> None:
    """Name the study's objectives (optuna-dashboard shows "score", "delta_params" instead of
    "0", "1"); written once, when the study has no names yet."""
    if study.metric_names is None:
        with quiet_optuna():  # set_metric_names is experimental
            study.set_metric_names(names)


def open_companion(
    plan: StudyPlan, study: optuna.Study, storage: optuna.storages.BaseStorage
) -> optuna.Study | None:
    """The single-objective study that prunes a multi-objective one on its score (see pruners.py)."""
    import optuna

    if len(plan.spec.objectives) == 1 or plan.spec.search.pruner.name == "none":
        return None
    companion = optuna.create_study(
        study_name=companion_name(study.study_name),
        storage=storage,
        pruner=make_pruner(plan.spec.search.pruner.name, plan.spec.search.pruner.options),
        direction="maximize",
        load_if_exists=True,
    )
    name_metrics(companion, ["score (pruning only)"])
    if HELPER_ATTR not in companion.user_attrs:  # what optuna-dashboard shows on its page
        companion.set_user_attr(
            HELPER_ATTR,
            f"internal helper of the deltaspace study {study.study_name!r}: it only decides whether "
            "to prune a trial on its intermediate scores; the results are in that study",
        )
    return companion


def ds_number(trial: optuna.Trial) -> int:
    """The deltaspace number of an Optuna trial: its own, or that of the trial it re-runs."""
    number = int(trial.user_attrs.get(NUMBER_ATTR, trial.number))
    trial.set_user_attr(NUMBER_ATTR, number)
    return number


@dataclass(frozen=True)
class Slots:
    finished: int
    running: int


def _counts(trial: optuna.trial.FrozenTrial) -> str | None:
    """'finished', 'running', 'waiting', or None for trials that hold no place (lost, surplus)."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return "finished"
    if trial.state == TrialState.FAIL:
        return "finished" if COUNTED_FAILURE_ATTR in trial.user_attrs else None
    return "running" if trial.state == TrialState.RUNNING else "waiting"


def count_slots(study: optuna.Study) -> Slots:
    kinds = [_counts(t) for t in study.get_trials(deepcopy=False)]
    return Slots(kinds.count("finished"), kinds.count("running"))


def is_surplus(study: optuna.Study, trial: optuna.Trial, n_trials: int) -> bool:
    """True when ``n_trials`` live trials have smaller numbers than ``trial``."""
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number and _counts(t)]
    return len(earlier) >= n_trials


def recover_stale(study: optuna.Study, storage: Storage, plan: StudyPlan) -> list[int]:
    """Fail trials whose worker went silent (Optuna's and deltaspace's rows); Optuna's retry
    callback enqueues them again. Returns the deltaspace numbers failed here."""
    import optuna

    with quiet_optuna():
        optuna.storages.fail_stale_trials(study)
    return storage.fail_stale_trials(plan.spec.name, plan.spec.search.grace_seconds)


def requeue(study: optuna.Study, trial: optuna.Trial, number: int) -> None:
    """Queue ``trial``'s parameters to run again as deltaspace trial ``number``."""
    study.enqueue_trial(trial.params, user_attrs={NUMBER_ATTR: number})
