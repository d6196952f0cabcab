"""A worker: the ask/tell loop that any number of processes, on any machines, run on one study.

Each turn: fail trials whose worker went silent (they are enqueued again), stop when the study
has its trials (or the time is up, or the study was cancelled), wait while the last trials run
elsewhere, else ask Optuna for a trial, sample its point, check its budget, and evaluate it
(``objective.TrialEvaluator``) while a heartbeat thread tells both Optuna and the ``ds_`` tables
that this worker is alive. A trial interrupted here (Ctrl-C, or an error in deltaspace itself) is
recorded failed and enqueued again before the exception goes on.

A study with promotion (``promotion.py``) has more work after its trials: each turn a worker
first claims a promoted rung waiting to be trained (`run_rung`), and once every trial has
finished it asks `Promotions.advance` for the next rung's decision. An interrupted rung goes
back to pending; one whose worker went silent is found by the others (`requeue_stale_rungs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..storage import RungRecord, Storage
from ..trainers.result import TrialResult
from .budget import CONSTRAINT
from .objective import Outcome, Trainer, TrialEvaluator, train_with_run_trial
from .optuna_quiet import quiet_optuna
from .promotion import Promotions
from .pruners import pruning_for
from .samplers import GRID_PARAM
from .space_sampling import SampledPoint, TrialLike, sample_point
from .study_db import (
    COUNTED_FAILURE_ATTR,
    count_slots,
    ds_number,
    is_surplus,
    open_companion,
    open_study,
    optuna_storage,
    recover_stale,
    requeue,
)
from .validate import StudyPlan, check_planned

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0


def point_for(trial: TrialLike, plan: StudyPlan) -> SampledPoint:
    """The point of ``trial``: sampled from the space, or the grid point it names."""
    if plan.grid is None:
        return sample_point(trial, plan.spec)
    from optuna.trial import FixedTrial

    index = trial.suggest_categorical(GRID_PARAM, list(range(len(plan.grid))))
    point = sample_point(FixedTrial(plan.grid[index]), plan.spec)
    return SampledPoint(point.arm, {GRID_PARAM: index, **point.params}, point.method, point.method_fields,
                        point.training, point.problem)  # fmt: skip


class Heartbeat:
    """Calls every function in ``beats`` each ``interval`` seconds until the block ends."""

    def __init__(self, interval: float, beats: list[Callable[[], Any]]) -> None:
        self.interval, self.beats = interval, beats
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deltaspace-heartbeat", daemon=True)

    def _run(self) -> None:
        while True:  # the first beat at once: a trial without any beat is never found stale
            for beat in self.beats:
                try:
                    beat()
                except Exception as exc:  # a missed beat is not worth a trial; the next one may land
                    log.debug("heartbeat failed: %s", exc)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()


class Worker:
    """Runs trials of one stored study until it has its ``n_trials`` (or ``timeout`` passes)."""

    def __init__(self, plan: StudyPlan, url: str, *, trainer: Trainer = train_with_run_trial,
                 threads: int | None = None, on_trial: Callable[[int, Outcome], None] | None = None) -> None:  # fmt: skip
        self.plan, self.url, self.on_trial = plan, url, on_trial
        self.storage = Storage(url)
        record = self.storage.get_study(plan.spec.name)
        self.optuna_storage = optuna_storage(url, plan)
        self.study = open_study(plan, self.optuna_storage, record.optuna_study_name)
        self.companion = open_companion(plan, self.study, self.optuna_storage)
        self.evaluator = TrialEvaluator(plan, self.storage, trainer, threads)
        self.promotions = Promotions(plan, self.storage) if plan.spec.search.promotion else None

    def run(self, timeout: float | None = None) -> int:
        """Work until the study is done; returns the number of trials this worker ran."""
        deadline = None if timeout is None else time.monotonic() + timeout
        n, name, ran = self.plan.n_trials, self.plan.spec.name, 0
        while deadline is None or time.monotonic() < deadline:
            status = self.storage.get_study(name).status
            if status == "cancelled":
                break
            recover_stale(self.study, self.storage, self.plan)
            if self.promotions is not None:
                self.storage.requeue_stale_rungs(name, self.plan.spec.search.grace_seconds)
                job = self.storage.claim_rung(name, self.evaluator.host, self.evaluator.pid)
                if job is not None:
                    self.run_rung(job)
                    ran += 1
                    continue
            slots = count_slots(self.study)
            if n is not None and slots.finished >= n:
                step = "done" if self.promotions is None else self.promotions.advance()
                if step == "waiting":
                    time.sleep(POLL_SECONDS)  # a rung trains elsewhere; it may yet be lost
                if step != "done":
                    continue
                if status != "complete":
                    self.storage.set_study_status(name, "complete")
                break
            if n is not None and slots.finished + slots.running >= n:
                time.sleep(POLL_SECONDS)  # the last trials run elsewhere; they may yet be lost
                continue
            with quiet_optuna():
                trial = self.study.ask()
            if n is not None and is_surplus(self.study, trial, n):
                self._tell_failed(trial, counted=False)
                continue
            self.run_trial(trial)
            ran += 1
        return ran

    def run_trial(self, trial: optuna.Trial) -> Outcome:
        """Sample, check and evaluate one asked trial, then tell Optuna how it ended."""
        from optuna.trial import TrialState

        number = ds_number(trial)
        beats = [
            lambda: self.optuna_storage.record_heartbeat(trial._trial_id),
            lambda: self.storage.heartbeat(self.plan.spec.name, number),
        ]
        try:
            with Heartbeat(self.plan.spec.search.heartbeat_interval, beats):
                point = point_for(trial, self.plan)
                check = check_planned(point, self.plan)
                with quiet_optuna():
                    trial.set_constraint(CONSTRAINT, check.violation)
                search = self.plan.spec.search
                pruning = pruning_for(trial, self.companion, search.pruner.name) if check.feasible else None
                outcome = self.evaluator.evaluate(number, point, check, pruning)
        except BaseException as exc:
            self._abandon(trial, number, exc)
            raise
        if outcome.reused_from:
            trial.set_user_attr("reused_from", outcome.reused_from)
        if outcome.status in ("complete", "infeasible"):
            self.study.tell(trial, outcome.values)
        elif outcome.status == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            reason = outcome.result.failure_reason if outcome.result else None
            self._tell_failed(trial, counted=True, reason=reason)
        if self.on_trial is not None:
            self.on_trial(number, outcome)
        return outcome

    def run_rung(self, job: RungRecord) -> Outcome:
        """Train a claimed promoted rung: the trial's point again (from its sampled values), from
        the loop state the rung below kept. Interrupted, the rung goes back to pending."""
        from optuna.trial import FixedTrial

        name, number = self.plan.spec.name, job.number
        beats = [lambda: self.storage.rung_heartbeat(name, number, job.rung)]
        try:
            with Heartbeat(self.plan.spec.search.heartbeat_interval, beats):
                trial = self.storage.get_trial(name, number)
                point = point_for(FixedTrial(trial.params), self.plan)
                check = check_planned(point, self.plan)
                if point.method is None or check.count is None:  # the trial trained at rung 0: never
                    raise RuntimeError(f"trial {number} of {name} no longer describes a method: {check.reason}")
                state = self.storage.rung_state(name, number, job.rung - 1)
                outcome = self.evaluator.train_rung(number, point.method, point, check.count, job.rung, state)
        except BaseException:
            self.storage.release_rung(name, number, job.rung)
            raise
        if self.on_trial is not None:
            self.on_trial(number, outcome)
        return outcome

    def _tell_failed(self, trial: optuna.Trial, *, counted: bool, reason: str | None = None) -> None:
        from optuna.trial import TrialState

        if counted:
            trial.set_user_attr(COUNTED_FAILURE_ATTR, reason or "failed")
        self.study.tell(trial, state=TrialState.FAIL)

    def _abandon(self, trial: optuna.Trial, number: int, exc: BaseException) -> None:
        """Record an interrupted trial failed in both stores and enqueue it again."""
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        try:
            self.storage.finish_trial(
                self.plan.spec.name, number, TrialResult(status="failed", failure_reason=reason)
            )
        except Exception as err:  # the row may never have been written
            log.debug("could not record trial %s failed: %s", number, err)
        try:  # on a full disk these writes fail too: keep the original error as the cause
            self._tell_failed(trial, counted=False)
            requeue(self.study, trial, number)
        except Exception as err:
            log.warning("could not queue trial %s again: %s", number, err)
        log.warning(
            "trial %s of %s was interrupted (%s); it will run again", number, self.plan.spec.name, reason
        )
