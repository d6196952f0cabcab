"""Trial methods of :class:`~deltaspace.storage.repository.Storage`: the life of a trial and its results."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from deltaspace.storage import rows
from deltaspace.storage.failures import Transactions
from deltaspace.storage.models import IntermediateScore, Study, Trial
from deltaspace.storage.records import TRIAL_STATUSES, IntermediatePoint, TrialRecord

if TYPE_CHECKING:
    from deltaspace.trainers.result import TrialResult


# TrialResult fields stored in the trial row's column of the same name.
_COPIED_FROM_RESULT = tuple(
    """delta_params head_params trainable_params stored_params percent steps train_seconds eval_seconds
    peak_memory_mb latency_ms_batch1 latency_ms_batch32""".split()
)


def write_result(s: Session, row: Trial, result: TrialResult, weights_path: str | None = None) -> None:
    """Store ``result`` in the trial row (status, score, costs, curve), inside the caller's transaction."""
    now = rows.utcnow()
    row.status, row.score, row.failure_reason = result.status, result.score, result.failure_reason
    row.metrics_json = json.dumps(result.metrics, sort_keys=True)
    for column in _COPIED_FROM_RESULT:
        setattr(row, column, getattr(result, column))
    row.examples_per_second = result.train_examples_per_second
    row.result_json, row.weights_path = result.to_json(), weights_path
    row.finished_at = row.heartbeat_at = now
    for point in result.eval_curve:
        rows.upsert_point(s, row.id, point.step, point.score, point.seconds)
    s.execute(update(Study).where(Study.id == row.study_id).values(updated_at=now))


class TrialMethods:
    # set by Storage.__init__: write transactions, and read-only ones (no SQLite write lock)
    _write: Transactions
    _read: Transactions

    # ---- writes ------------------------------------------------------------------------------

    def start_trial(
        self,
        study_name: str,
        number: int,
        *,
        method_name: str,
        method_json: str,
        method_hash: str,
        params: dict[str, Any],
        training: dict[str, Any],
        seed: int,
        worker_host: str,
        worker_pid: int,
    ) -> TrialRecord:
        """Record a running trial; a trial with this number that did not complete is started afresh."""
        now = rows.utcnow()
        with self._write.begin() as s:
            row = rows.fresh_trial(s, study_name, number, now)
            row.status, row.started_at, row.heartbeat_at = "running", now, now
            row.worker_host, row.worker_pid = worker_host, worker_pid
            rows.set_method(row, method_name, method_json, method_hash, params, training, seed)
            s.flush()
            return rows.to_record(row, study_name)

    def record_infeasible(
        self,
        study_name: str,
        number: int,
        *,
        method_name: str,
        method_json: str,
        method_hash: str,
        params: dict[str, Any],
        training: dict[str, Any],
        seed: int,
        delta_params: int,
        percent: float,
        reason: str,
    ) -> TrialRecord:
        """Record a sampled method that breaks a budget: counted, never trained."""
        now = rows.utcnow()
        with self._write.begin() as s:
            row = rows.fresh_trial(s, study_name, number, now)
            row.status, row.started_at, row.finished_at, row.heartbeat_at = "infeasible", now, now, None
            row.worker_host = row.worker_pid = None
            row.delta_params, row.percent, row.failure_reason = delta_params, percent, reason
            rows.set_method(row, method_name, method_json, method_hash, params, training, seed)
            s.flush()
            return rows.to_record(row, study_name)

    def heartbeat(self, study_name: str, number: int) -> None:
        """Tell fail_stale_trials that the worker running this trial is alive."""
        with self._write.begin() as s:
            rows.trial_row(s, study_name, number).heartbeat_at = rows.utcnow()

    def report_intermediate(
        self, study_name: str, number: int, step: int, score: float, seconds: float
    ) -> None:
        """Store the score after ``step`` steps (a repeated step overwrites); also a heartbeat."""
        with self._write.begin() as s:
            row = rows.trial_row(s, study_name, number)
            rows.upsert_point(s, row.id, step, score, seconds)
            row.heartbeat_at = rows.utcnow()

    def finish_trial(
        self, study_name: str, number: int, result: TrialResult, *, weights_path: str | None = None
    ) -> TrialRecord:
        """Store a trial's TrialResult (status, score, costs, its eval curve) and end the trial."""
        with self._write.begin() as s:
            row = rows.trial_row(s, study_name, number, lock=True)
            write_result(s, row, result, weights_path)
            s.flush()
            return rows.to_record(row, study_name)

    def fail_stale_trials(self, study_name: str, stale_after_seconds: float) -> list[int]:
        """Fail running trials whose worker has been silent too long; returns their numbers."""
        now = rows.utcnow()
        with self._write.begin() as s:
            study_id = rows.study_row(s, study_name).id
            stale = select(Trial).where(
                Trial.study_id == study_id,
                Trial.status == "running",
                Trial.heartbeat_at < now - timedelta(seconds=stale_after_seconds),
            )
            # skip_locked: a trial whose heartbeat is being written right now is alive
            lost = s.scalars(stale.order_by(Trial.number).with_for_update(skip_locked=True)).all()
            for row in lost:
                assert row.heartbeat_at is not None
                silent = (now - row.heartbeat_at).total_seconds()
                row.status, row.finished_at = "failed", now
                row.failure_reason = (
                    f"worker lost: no heartbeat for {silent:.0f} s "
                    f"(host {row.worker_host} pid {row.worker_pid})"
                )
            return [row.number for row in lost]

    # ---- reads --------------------------------------------------------------------------------

    def find_completed_by_hash(self, method_hash: str) -> TrialRecord | None:
        """The newest complete trial of any study with this method hash (its result can be reused)."""
        stmt = (
            select(Trial, Study.name)
            .join(Study, Trial.study_id == Study.id)
            .where(Trial.method_hash == method_hash, Trial.status == "complete")
            .order_by(Trial.finished_at.desc(), Trial.id.desc())
            .limit(1)
        )
        with self._read.begin() as s:
            found = s.execute(stmt).first()
            return None if found is None else rows.to_record(found[0], found[1])

    def get_trial(self, study_name: str, number: int) -> TrialRecord:
        with self._read.begin() as s:
            return rows.to_record(rows.trial_row(s, study_name, number), study_name)

    def list_trials(self, study_name: str, status: str | None = None) -> list[TrialRecord]:
        """The study's trials by number, optionally only those with ``status``."""
        if status is not None:
            rows.check(status, TRIAL_STATUSES, "trial status")
        with self._read.begin() as s:
            stmt = select(Trial).where(Trial.study_id == rows.study_row(s, study_name).id)
            if status is not None:
                stmt = stmt.where(Trial.status == status)
            return [rows.to_record(row, study_name) for row in s.scalars(stmt.order_by(Trial.number))]

    def intermediate_scores(self, study_name: str, number: int) -> list[IntermediatePoint]:
        with self._read.begin() as s:
            trial_id = rows.trial_row(s, study_name, number).id
            stmt = select(IntermediateScore).where(IntermediateScore.trial_id == trial_id)
            return [
                IntermediatePoint(step=p.step, score=p.score, seconds=p.seconds)
                for p in s.scalars(stmt.order_by(IntermediateScore.step))
            ]

    def trial_counts(self, study_name: str) -> dict[str, int]:
        """Number of trials per status; every status is a key, zero included."""
        with self._read.begin() as s:
            stmt = select(Trial.status, func.count()).where(
                Trial.study_id == rows.study_row(s, study_name).id
            )
            counts = dict.fromkeys(TRIAL_STATUSES, 0)
            counts.update(s.execute(stmt.group_by(Trial.status)).all())
            return counts
