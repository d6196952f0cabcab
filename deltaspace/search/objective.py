"""One trial, from a sampled point to its stored record.

In order: a point over budget (or not a valid method) is recorded infeasible and never reaches
the trainer; a point already evaluated with the same canonical method, training identity (model,
task, data, settings, seeds) and seed reuses that result; anything else trains once per seed,
its intermediate scores going to SQL and to the pruner. With several seeds the score is their
mean (each seed's score is kept in the metrics as ``score_seed<N>``) and only the first seed's
run is pruned. The trainer is any ``TrialJob -> TrialResult`` callable, so tests and benches can
swap it for a fast fake (``fake_trainer.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..space.accounting import ParamCount
from ..space.method import MethodSpec
from ..space.study import OBJECTIVES
from ..storage import Storage, TrialRecord
from ..trainers.result import TrialResult
from ..trainers.settings import EXECUTION_SETTINGS, TrainSettings
from .budget import BudgetCheck
from .pruners import Pruning
from .space_sampling import SampledPoint
from .validate import StudyPlan, settings_for

if TYPE_CHECKING:
    from ..trainers.loop import OnEval


@dataclass(frozen=True)
class TrialJob:
    """What a trainer gets: one method, one seed, its settings and its exact parameter count."""

    model: str
    method: MethodSpec
    task: str
    data_dir: str | None
    settings: TrainSettings
    seed: int
    count: ParamCount
    on_eval: OnEval | None = None
    resume_from: str | None = None  # a saved loop state to continue (promotion)
    save_state_to: str | None = None  # where to save the loop state when training stops
    weights_path: str | None = None  # where a complete run writes its trainable values


Trainer = Callable[[TrialJob], TrialResult]


def train_with_run_trial(job: TrialJob) -> TrialResult:
    """The real trainer: ``deltaspace.trainers.run_trial``."""
    from ..trainers.trial import run_trial

    return run_trial(
        job.model, job.method, job.task, job.data_dir, job.settings, seed=job.seed, on_eval=job.on_eval,
        resume_from=job.resume_from, save_state_to=job.save_state_to, weights_path=job.weights_path,
    )  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """How a trial ended: its deltaspace status, objective values (None unless it completed or
    was infeasible), the result, and the trial whose result it reused."""

    status: str
    values: list[float] | None
    result: TrialResult | None = None
    reused_from: str | None = None


# Settings added after results were stored: left out of the identity at their defaults, so that
# stored results still match the points that trained the same way.
LATER_DEFAULTS: dict[str, Any] = {
    "precision": "auto",
    "gradient_checkpointing": False,
    "quantization": "none",
    "keep_best": True,
    "schedule_steps": None,
    "full_eval": True,
}


def training_identity(plan: StudyPlan, point: SampledPoint, rung: int = 0) -> dict[str, Any]:
    """Everything besides the method and seed that decides a result (JSON-normalised); in a
    promoted study, at ``rung`` (its budget, and at the last rung its seeds)."""
    spec = plan.spec
    settings = settings_for(spec, point.training, rung=rung).model_dump(
        mode="json", exclude=set(EXECUTION_SETTINGS)
    )
    promotion = spec.search.promotion
    last = promotion is not None and rung == len(promotion.rungs) - 1
    settings = {k: v for k, v in settings.items() if k not in LATER_DEFAULTS or v != LATER_DEFAULTS[k]}
    body = {
        "model": spec.model,
        "task": spec.task,
        "data": spec.effective_data_dir or "hub",
        "seeds": list(spec.final_seeds if last else spec.seeds),
    }
    if plan.head.pooler_trains:  # results stored before the pooler trained with the head differ
        body["pooler_trains"] = True
    return json.loads(json.dumps({**body, **settings}))


def objective_values(objectives: tuple[str, ...], result: TrialResult) -> list[float]:
    values = []
    for name in objectives:
        value = getattr(result, OBJECTIVES[name][1])
        if value is None:
            raise ValueError(f"objective {name}: the trial measured no {OBJECTIVES[name][1]}")
        values.append(float(value))
    return values


def combine_seeds(results: list[TrialResult]) -> TrialResult:
    """One result for several seeds: the first seed's record with the mean score and metrics."""
    first = results[0]
    unfinished = next((r for r in results if r.status != "complete" or r.score is None), None)
    if len(results) == 1 or unfinished is not None:
        return unfinished or first
    scores = [float(r.score) for r in results if r.score is not None]
    metrics = {k: statistics.fmean(r.metrics.get(k, 0.0) for r in results) for k in first.metrics}
    metrics.update({f"score_seed{r.seed}": float(r.score or 0.0) for r in results})
    metrics["score_std"] = statistics.stdev(scores)
    return first.model_copy(
        update={
            "score": statistics.fmean(scores),
            "metrics": metrics,
            "train_seconds": sum(r.train_seconds for r in results),
            "eval_seconds": sum(r.eval_seconds for r in results),
            "phase_seconds": {
                k: sum(r.phase_seconds.get(k, 0.0) for r in results)
                for k in dict.fromkeys(k for r in results for k in r.phase_seconds)
            },
        }
    )


class TrialEvaluator:
    """Runs trials of one study against one Storage with one trainer."""

    def __init__(self, plan: StudyPlan, storage: Storage, trainer: Trainer = train_with_run_trial,
                 threads: int | None = None) -> None:  # fmt: skip
        self.plan, self.storage, self.trainer, self.threads = plan, storage, trainer, threads
        self.host, self.pid = socket.gethostname(), os.getpid()

    @property
    def study(self) -> str:
        return self.plan.spec.name

    def evaluate(
        self, number: int, point: SampledPoint, check: BudgetCheck, pruning: Pruning | None = None
    ) -> Outcome:
        """Record, reuse or train ``point`` as trial ``number``; its ``ds_`` row ends finished."""
        record = self._record(point)
        if not check.feasible or point.method is None or check.count is None:
            return self._infeasible(number, record, check)
        promoted = self.plan.spec.search.promotion is not None  # its trials keep states to resume
        reused = None if promoted else self._reusable(record["method_hash"], record["training"], record["seed"])
        self.storage.start_trial(self.study, number, **record, worker_host=self.host, worker_pid=self.pid)
        if reused is not None and (result := reused.result) is not None:
            self.storage.finish_trial(self.study, number, result)
            values = objective_values(self.plan.spec.objectives, result)
            return Outcome("complete", values, result, f"{reused.study_name}#{reused.number}")
        if promoted:
            return self.train_rung(number, point.method, point, check.count, 0)
        return self._train(number, point.method, point, check.count, pruning)

    def train_rung(self, number: int, method: MethodSpec, point: SampledPoint, count: ParamCount, rung: int,
                   state: bytes | None = None) -> Outcome:  # fmt: skip
        """Train trial ``number`` to ``rung``'s budget, continuing ``state`` (the loop state it
        stopped in at the rung below; None: from the start) and store the rung. Below the last
        rung the first seed trains and its state is kept; the last rung trains every final seed,
        the first continuing the promoted run and the others straight through on the same
        schedule (the same result a resumed run gives, as tests/test_trainer_resume.py shows)."""
        spec = self.plan.spec
        assert spec.search.promotion is not None
        last = rung == len(spec.search.promotion.rungs) - 1
        settings = settings_for(spec, point.training, self.threads, rung=rung)
        results: list[TrialResult] = []
        with tempfile.TemporaryDirectory(prefix="deltaspace-rung-") as tmp:
            resume, keep = Path(tmp) / "resume.pt", None if last else Path(tmp) / "state.pt"
            if state is not None:
                resume.write_bytes(state)
            for i, seed in enumerate(spec.final_seeds if last else spec.seeds[:1]):
                first = i == 0
                job = TrialJob(spec.model, method, spec.task, spec.effective_data_dir, settings, seed, count,
                               self._on_eval(number, None) if first else None,
                               resume_from=str(resume) if first and state is not None else None,
                               save_state_to=str(keep) if first and keep is not None else None,
                               weights_path=self._fresh_weights_file(number, rung) if first else None)  # fmt: skip
                results.append(self.trainer(job))
                if results[-1].status != "complete":
                    break
            result, values = self._combined(results)
            saved = keep.read_bytes() if keep is not None and keep.exists() and values is not None else None
        training = training_identity(self.plan, point, rung) if rung > 0 else None
        self.storage.finish_rung(self.study, number, rung, settings.max_steps or 0, result, state=saved,
                                 training=training, weights_path=self._kept_weights(values, number, rung))  # fmt: skip
        return Outcome(result.status, values, result)

    def _combined(self, results: list[TrialResult]) -> tuple[TrialResult, list[float] | None]:
        """One result for the seeds trained, and its objective values (None unless complete)."""
        result = combine_seeds(results)
        if result.status != "complete":
            return result, None
        try:
            return result, objective_values(self.plan.spec.objectives, result)
        except ValueError as exc:
            return result.model_copy(update={"status": "failed", "failure_reason": str(exc)}), None

    def _record(self, point: SampledPoint) -> dict[str, Any]:
        """The columns that identify a trial: method (canonical JSON and hash), values, training, seed."""
        if point.method is not None:
            method_json, method_hash = point.method.canonical_json(), point.method.method_hash()
        else:  # not a valid method: identified by what was sampled
            method_json = json.dumps(point.method_fields, sort_keys=True)
            method_hash = hashlib.sha256(method_json.encode()).hexdigest()
        return {
            "method_name": point.arm,
            "method_json": method_json,
            "method_hash": method_hash,
            "params": point.params,
            "training": training_identity(self.plan, point),
            "seed": self.plan.spec.seeds[0],
        }

    def _infeasible(self, number: int, record: dict[str, Any], check: BudgetCheck) -> Outcome:
        count = check.count
        delta_params = count.delta_params if count else 0
        self.storage.record_infeasible(
            self.study, number, **record, reason=check.reason or "infeasible",
            delta_params=delta_params, percent=count.percent if count else 0.0,
        )  # fmt: skip
        # placeholders: constrained samplers rank the point by its constraint, not by these
        values = [float(delta_params) if o == "delta_params" else 0.0 for o in self.plan.spec.objectives]
        return Outcome("infeasible", values)

    def _train(self, number: int, method: MethodSpec, point: SampledPoint, count: ParamCount,
               pruning: Pruning | None) -> Outcome:  # fmt: skip
        spec = self.plan.spec
        settings = settings_for(spec, point.training, self.threads)
        results: list[TrialResult] = []
        for i, seed in enumerate(spec.seeds):
            on_eval = self._on_eval(number, pruning) if i == 0 else None
            weights = self._fresh_weights_file(number) if i == 0 else None
            results.append(self.trainer(TrialJob(spec.model, method, spec.task, spec.effective_data_dir,
                                                 settings, seed, count, on_eval, weights_path=weights)))  # fmt: skip
            if results[-1].status != "complete":
                break
        result, values = self._combined(results)
        self.storage.finish_trial(self.study, number, result, weights_path=self._kept_weights(values, number))
        if pruning is not None:
            pruning.close(result.status, result.score)
        return Outcome(result.status, values, result)

    def _weights_file(self, number: int, rung: int | None = None) -> str | None:
        """Where trial ``number`` keeps its trained weights (None: the study keeps none). Each rung
        of a promoted trial has its own file, so a higher rung that fails leaves the weights of
        the rung the trial row still shows."""
        folder = self.plan.spec.weights_dir
        if folder is None:
            return None
        name = f"trial-{number}" if rung is None else f"trial-{number}-rung-{rung}"
        return str(Path(folder) / self.study / f"{name}.safetensors")

    def _fresh_weights_file(self, number: int, rung: int | None = None) -> str | None:
        """``_weights_file`` with its folder made and no file left from an earlier attempt."""
        path = self._weights_file(number, rung)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).unlink(missing_ok=True)
        return path

    def _kept_weights(self, values: list[float] | None, number: int, rung: int | None = None) -> str | None:
        """The weights file to record for a trial that completed and wrote one, else None."""
        path = self._weights_file(number, rung)
        return path if values is not None and path is not None and Path(path).is_file() else None

    def _reusable(self, method_hash: str, training: dict[str, Any], seed: int) -> TrialRecord | None:
        """The newest complete trial of this method, if it trained the same way with the same seed."""
        found = self.storage.find_completed_by_hash(method_hash)
        if (
            found is not None
            and found.result is not None
            and found.training == training
            and found.seed == seed
        ):
            return found
        return None

    def _on_eval(self, number: int, pruning: Pruning | None) -> OnEval:
        started = time.perf_counter()

        def on_eval(step: int, score: float) -> bool:
            self.storage.report_intermediate(self.study, number, step, score, time.perf_counter() - started)
            return pruning is not None and pruning.should_stop(step, score)

        return on_eval
