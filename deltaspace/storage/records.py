"""Read models: immutable pydantic records that the repository returns instead of ORM rows.

Callers never hold a live SQLAlchemy object, so a record stays valid after its session closed and
can cross process boundaries (pickling, JSON). JSON text columns arrive decoded, except
``method_json`` (kept verbatim: it is the canonical text that ``method_hash`` was computed from)
and ``result_json`` (parsed on demand by :attr:`TrialRecord.result`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from deltaspace.trainers.result import TrialResult

StudyStatus = Literal["queued", "running", "complete", "failed", "cancelled"]
TrialStatus = Literal["running", "complete", "failed", "pruned", "infeasible"]
RungStatus = Literal["pending", "running", "complete", "failed"]
STUDY_STATUSES: tuple[str, ...] = get_args(StudyStatus)
TRIAL_STATUSES: tuple[str, ...] = get_args(TrialStatus)
RUNG_STATUSES: tuple[str, ...] = get_args(RungStatus)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class StudyRecord(BaseModel):
    """One row of ``ds_studies``."""

    model_config = _FROZEN
    id: int
    name: str
    spec_yaml: str
    status: StudyStatus
    created_at: datetime
    updated_at: datetime
    optuna_study_name: str
    n_trials_target: int | None = None
    error: str | None = None
    claimed_by: str | None = None


class StudySummary(BaseModel):
    """A study with its trial counts, as ``deltaspace list`` and the dashboard index show it.

    ``best_score`` is the highest score among complete trials: deltaspace scores are
    higher-is-better (the trainer reports the task's primary metric).
    """

    model_config = _FROZEN
    name: str
    status: StudyStatus
    created_at: datetime
    updated_at: datetime
    n_trials_target: int | None = None
    counts: dict[str, int]
    best_score: float | None = None

    @property
    def n_trials(self) -> int:
        return sum(self.counts.values())


class IntermediatePoint(BaseModel):
    """One intermediate evaluation of a trial: the score after ``step`` optimiser steps."""

    model_config = _FROZEN
    step: int
    score: float
    seconds: float


class TrialRecord(BaseModel):
    """One row of ``ds_trials``; cost and score columns stay ``None`` until the trial ends."""

    model_config = _FROZEN
    id: int
    study_name: str
    number: int
    status: TrialStatus
    method_name: str
    method_json: str
    method_hash: str
    params: dict[str, Any]
    training: dict[str, Any]
    seed: int
    score: float | None = None
    metrics: dict[str, float] = {}
    delta_params: int | None = None
    head_params: int | None = None
    trainable_params: int | None = None
    stored_params: int | None = None
    percent: float | None = None
    steps: int | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    examples_per_second: float | None = None
    peak_memory_mb: float | None = None
    latency_ms_batch1: float | None = None
    latency_ms_batch32: float | None = None
    failure_reason: str | None = None
    worker_host: str | None = None
    worker_pid: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    result_json: str | None = None
    weights_path: str | None = None
    rung: int | None = None

    @property
    def method(self) -> dict[str, Any]:
        """The MethodSpec as a plain dict (decoded from the canonical ``method_json``)."""
        return json.loads(self.method_json)

    @property
    def result(self) -> TrialResult | None:
        """The full TrialResult this trial finished with, or None (running, infeasible, lost)."""
        if self.result_json is None:
            return None
        from deltaspace.trainers.result import TrialResult  # lazy: keeps trainers out of imports

        return TrialResult.from_json(self.result_json)


class RungRecord(BaseModel):
    """One row of ``ds_rungs`` (without its saved state: `Storage.rung_state` reads that)."""

    model_config = _FROZEN
    study_name: str
    number: int
    rung: int
    steps: int
    status: RungStatus
    score: float | None = None
    result_json: str | None = None
    attempts: int = 0
    has_state: bool = False
    worker_host: str | None = None
    worker_pid: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None

    @property
    def result(self) -> TrialResult | None:
        if self.result_json is None:
            return None
        from deltaspace.trainers.result import TrialResult

        return TrialResult.from_json(self.result_json)


class PromotionRecord(BaseModel):
    """One promotion decision: the trials promoted into ``rung`` out of ``candidates``."""

    model_config = _FROZEN
    rung: int
    candidates: int
    chosen: list[int]
    decided_at: datetime
