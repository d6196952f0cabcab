"""`Storage`: the one place deltaspace reads and writes SQL.

Every method is one short transaction and returns immutable records (``records.py``), never ORM
rows. Several workers may share one database: trial numbers are unique per study (a constraint),
claiming a queued study is atomic, and on SQLite every write transaction takes the database lock
at BEGIN (see ``engine.py``), so concurrent writers wait for each other instead of losing writes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from deltaspace.storage.engine import DEFAULT_URL, make_engine, read_only
from deltaspace.storage.errors import StorageError, StudyExistsError, StudyNotFoundError, TrialNotFoundError
from deltaspace.storage.migrations import ensure_schema
from deltaspace.storage.models import IntermediateScore, Study, Trial
from deltaspace.storage.records import (
    STUDY_STATUSES,
    TRIAL_STATUSES,
    IntermediatePoint,
    StudyRecord,
    StudySummary,
    TrialRecord,
)

if TYPE_CHECKING:
    from deltaspace.trainers.result import TrialResult

# Columns a (re)started trial clears: they describe how a previous attempt ended.
_OUTCOME_COLUMNS = (
    "score", "metrics_json", "delta_params", "head_params", "trainable_params", "stored_params",
    "percent", "steps", "train_seconds", "eval_seconds", "examples_per_second", "peak_memory_mb",
    "latency_ms_batch1", "latency_ms_batch32", "failure_reason", "finished_at", "result_json",
    "weights_path",
)  # fmt: skip


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of datetime storage writes)."""
    return datetime.now(UTC)


def _check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise StorageError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")


class Storage:
    """Studies, trials and intermediate scores in SQLite or PostgreSQL.

    Opening a Storage creates the schema, or upgrades it to this version's, on first use; a
    database written by a newer deltaspace raises StorageVersionError.

    >>> storage = Storage("sqlite:///runs/deltaspace.db")
    >>> storage.create_study("sst2-lora", spec_yaml).status
    'running'
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = url
        self._engine = make_engine(url)
        ensure_schema(self._engine, url)
        self._write = sessionmaker(self._engine, expire_on_commit=False)
        self._read = sessionmaker(read_only(self._engine), expire_on_commit=False)

    def close(self) -> None:
        """Close every pooled connection (a later call reconnects)."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"Storage({self._engine.url.render_as_string(hide_password=True)!r})"

    # ---- studies -------------------------------------------------------------------------------

    def create_study(
        self,
        name: str,
        spec_yaml: str,
        *,
        status: str = "running",
        n_trials_target: int | None = None,
        optuna_study_name: str | None = None,
    ) -> StudyRecord:
        """Create a study; raises StudyExistsError if ``name`` is taken."""
        _check(status, STUDY_STATUSES, "study status")
        now = utcnow()
        row = Study(
            name=name, spec_yaml=spec_yaml, status=status, created_at=now, updated_at=now,
            optuna_study_name=optuna_study_name or name, n_trials_target=n_trials_target,
        )  # fmt: skip
        try:
            with self._write.begin() as s:
                s.add(row)
                s.flush()
                return StudyRecord.model_validate(row, from_attributes=True)
        except IntegrityError as err:
            raise StudyExistsError(
                f"a study named {name!r} exists already: pick another name, or delete that study first"
            ) from err

    def get_or_create_study(
        self,
        name: str,
        spec_yaml: str,
        *,
        status: str = "running",
        n_trials_target: int | None = None,
        optuna_study_name: str | None = None,
    ) -> tuple[StudyRecord, bool]:
        """The study named ``name`` and False, or a newly created one and True (resume or start)."""
        try:
            return self.get_study(name), False
        except StudyNotFoundError:
            pass
        try:
            created = self.create_study(
                name, spec_yaml, status=status, n_trials_target=n_trials_target,
                optuna_study_name=optuna_study_name,
            )  # fmt: skip
        except StudyExistsError:  # another worker created it in between
            return self.get_study(name), False
        return created, True

    def get_study(self, name: str) -> StudyRecord:
        with self._read.begin() as s:
            return StudyRecord.model_validate(_study_row(s, name), from_attributes=True)

    def list_studies(self) -> list[StudySummary]:
        """Every study, oldest first, with its trial counts per status and best complete score."""
        with self._read.begin() as s:
            studies = s.scalars(select(Study).order_by(Study.created_at, Study.id)).all()
            counts: dict[int, dict[str, int]] = {row.id: dict.fromkeys(TRIAL_STATUSES, 0) for row in studies}
            per_status = select(Trial.study_id, Trial.status, func.count()).group_by(Trial.study_id, Trial.status)
            for study_id, status, n in s.execute(per_status):
                counts.setdefault(study_id, {})[status] = n
            best_stmt = select(Trial.study_id, func.max(Trial.score)).where(Trial.status == "complete")
            best = dict(s.execute(best_stmt.group_by(Trial.study_id)).tuples().all())
            return [
                StudySummary(
                    name=row.name, status=row.status, created_at=row.created_at, updated_at=row.updated_at,
                    n_trials_target=row.n_trials_target, counts=counts[row.id], best_score=best.get(row.id),
                )  # fmt: skip
                for row in studies
            ]

    def set_study_status(self, name: str, status: str, error: str | None = None) -> None:
        _check(status, STUDY_STATUSES, "study status")
        with self._write.begin() as s:
            row = _study_row(s, name)
            row.status, row.error, row.updated_at = status, error, utcnow()

    def claim_queued_study(self, worker: str) -> StudyRecord | None:
        """Flip the oldest queued study to running for ``worker`` and return it; None if none is queued.

        Two workers never claim the same study: PostgreSQL skips rows another transaction has
        locked, and the UPDATE only matches while the study is still queued.
        """
        oldest = select(Study.id).where(Study.status == "queued").order_by(Study.created_at, Study.id)
        with self._write.begin() as s:
            while True:
                study_id = s.scalar(oldest.limit(1).with_for_update(skip_locked=True))
                if study_id is None:
                    return None
                claim = update(Study).where(Study.id == study_id, Study.status == "queued")
                claimed = s.execute(claim.values(status="running", claimed_by=worker, updated_at=utcnow()))
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    row = s.get(Study, study_id, populate_existing=True)
                    return StudyRecord.model_validate(row, from_attributes=True)

    def cancel_study(self, name: str) -> None:
        """Mark a queued or running study cancelled; workers stop at their next status check."""
        with self._write.begin() as s:
            row = _study_row(s, name)
            if row.status not in ("queued", "running"):
                raise StorageError(
                    f"study {name!r} is {row.status}; only queued or running studies can be cancelled"
                )
            row.status, row.updated_at = "cancelled", utcnow()

    def delete_study(self, name: str) -> None:
        """Delete a study with its trials and intermediate scores (Optuna's own rows are not touched)."""
        with self._write.begin() as s:
            study_id = _study_row(s, name).id
            trial_ids = select(Trial.id).where(Trial.study_id == study_id)
            for stmt in (
                delete(IntermediateScore).where(IntermediateScore.trial_id.in_(trial_ids)),
                delete(Trial).where(Trial.study_id == study_id),
                delete(Study).where(Study.id == study_id),
            ):
                s.execute(stmt.execution_options(synchronize_session=False))

    # ---- trials: writes ------------------------------------------------------------------------

    def start_trial(
        self, study_name: str, number: int, *, method_name: str, method_json: str, method_hash: str,
        params: dict[str, Any], training: dict[str, Any], seed: int, worker_host: str, worker_pid: int,
    ) -> TrialRecord:  # fmt: skip
        """Record a running trial; a trial with this number that did not complete is started afresh."""
        now = utcnow()
        with self._write.begin() as s:
            row = _fresh_trial(s, study_name, number, now)
            row.status, row.started_at, row.heartbeat_at = "running", now, now
            row.worker_host, row.worker_pid = worker_host, worker_pid
            _set_method(row, method_name, method_json, method_hash, params, training, seed)
            s.flush()
            return _trial(row, study_name)

    def record_infeasible(
        self, study_name: str, number: int, *, method_name: str, method_json: str, method_hash: str,
        params: dict[str, Any], training: dict[str, Any], seed: int, delta_params: int, percent: float,
        reason: str,
    ) -> TrialRecord:  # fmt: skip
        """Record a sampled method that breaks a budget: counted, never trained."""
        now = utcnow()
        with self._write.begin() as s:
            row = _fresh_trial(s, study_name, number, now)
            row.status, row.started_at, row.finished_at, row.heartbeat_at = "infeasible", now, now, None
            row.worker_host = row.worker_pid = None
            row.delta_params, row.percent, row.failure_reason = delta_params, percent, reason
            _set_method(row, method_name, method_json, method_hash, params, training, seed)
            s.flush()
            return _trial(row, study_name)

    def heartbeat(self, study_name: str, number: int) -> None:
        """Tell fail_stale_trials that the worker running this trial is alive."""
        with self._write.begin() as s:
            _trial_row(s, study_name, number).heartbeat_at = utcnow()

    def report_intermediate(self, study_name: str, number: int, step: int, score: float, seconds: float) -> None:
        """Store the score after ``step`` steps (a repeated step overwrites); also a heartbeat."""
        with self._write.begin() as s:
            row = _trial_row(s, study_name, number)
            _upsert_point(s, row.id, step, score, seconds)
            row.heartbeat_at = utcnow()

    def finish_trial(
        self, study_name: str, number: int, result: TrialResult, *, weights_path: str | None = None
    ) -> TrialRecord:
        """Store a trial's TrialResult (status, score, costs, its eval curve) and end the trial."""
        now = utcnow()
        with self._write.begin() as s:
            row = _trial_row(s, study_name, number, lock=True)
            row.status, row.score, row.failure_reason = result.status, result.score, result.failure_reason
            row.metrics_json = json.dumps(result.metrics, sort_keys=True)
            for column in ("delta_params", "head_params", "trainable_params", "stored_params", "percent",
                           "steps", "train_seconds", "eval_seconds", "peak_memory_mb", "latency_ms_batch1",
                           "latency_ms_batch32"):  # fmt: skip
                setattr(row, column, getattr(result, column))
            row.examples_per_second = result.train_examples_per_second
            row.result_json, row.weights_path = result.to_json(), weights_path
            row.finished_at = row.heartbeat_at = now
            for point in result.eval_curve:
                _upsert_point(s, row.id, point.step, point.score, point.seconds)
            s.execute(update(Study).where(Study.id == row.study_id).values(updated_at=now))
            s.flush()
            return _trial(row, study_name)

    def fail_stale_trials(self, study_name: str, stale_after_seconds: float) -> list[int]:
        """Fail running trials whose worker has been silent too long; returns their numbers."""
        now = utcnow()
        with self._write.begin() as s:
            study_id = _study_row(s, study_name).id
            stale = select(Trial).where(
                Trial.study_id == study_id,
                Trial.status == "running",
                Trial.heartbeat_at < now - timedelta(seconds=stale_after_seconds),
            )
            rows = s.scalars(stale.order_by(Trial.number).with_for_update(skip_locked=True)).all()
            for row in rows:
                assert row.heartbeat_at is not None
                silent = (now - row.heartbeat_at).total_seconds()
                row.status, row.finished_at = "failed", now
                row.failure_reason = (
                    f"worker lost: no heartbeat for {silent:.0f} s (host {row.worker_host} pid {row.worker_pid})"
                )
            return [row.number for row in rows]

    # ---- trials: reads -------------------------------------------------------------------------

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
            return None if found is None else _trial(found[0], found[1])

    def get_trial(self, study_name: str, number: int) -> TrialRecord:
        with self._read.begin() as s:
            return _trial(_trial_row(s, study_name, number), study_name)

    def list_trials(self, study_name: str, status: str | None = None) -> list[TrialRecord]:
        """The study's trials by number, optionally only those with ``status``."""
        if status is not None:
            _check(status, TRIAL_STATUSES, "trial status")
        with self._read.begin() as s:
            stmt = select(Trial).where(Trial.study_id == _study_row(s, study_name).id)
            if status is not None:
                stmt = stmt.where(Trial.status == status)
            return [_trial(row, study_name) for row in s.scalars(stmt.order_by(Trial.number))]

    def intermediate_scores(self, study_name: str, number: int) -> list[IntermediatePoint]:
        with self._read.begin() as s:
            trial_id = _trial_row(s, study_name, number).id
            stmt = select(IntermediateScore).where(IntermediateScore.trial_id == trial_id)
            return [
                IntermediatePoint(step=p.step, score=p.score, seconds=p.seconds)
                for p in s.scalars(stmt.order_by(IntermediateScore.step))
            ]

    def trial_counts(self, study_name: str) -> dict[str, int]:
        """Number of trials per status; every status is a key, zero included."""
        with self._read.begin() as s:
            stmt = select(Trial.status, func.count()).where(Trial.study_id == _study_row(s, study_name).id)
            counts = dict.fromkeys(TRIAL_STATUSES, 0)
            counts.update(s.execute(stmt.group_by(Trial.status)).tuples().all())
            return counts


# ---- helpers (all run inside a caller's transaction) ---------------------------------------------


def _study_row(s: Session, name: str) -> Study:
    row = s.scalar(select(Study).where(Study.name == name))
    if row is None:
        names = s.scalars(select(Study.name).order_by(Study.name)).all()
        raise StudyNotFoundError(f"no study named {name!r}; known studies: {', '.join(names) or '(none)'}")
    return row


def _trial_row(s: Session, study_name: str, number: int, *, lock: bool = False) -> Trial:
    study_id = _study_row(s, study_name).id
    stmt = select(Trial).where(Trial.study_id == study_id, Trial.number == number)
    row = s.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        n = s.scalar(select(func.count()).select_from(Trial).where(Trial.study_id == study_id))
        raise TrialNotFoundError(f"study {study_name!r} has no trial number {number} (it has {n} trials)")
    return row


def _fresh_trial(s: Session, study_name: str, number: int, now: datetime) -> Trial:
    """The trial row to (re)start: a new one, or an unfinished attempt with its outcome cleared."""
    study = _study_row(s, study_name)
    stmt = select(Trial).where(Trial.study_id == study.id, Trial.number == number).with_for_update()
    row = s.scalar(stmt)
    if row is None:
        row = Trial(study_id=study.id, number=number)
        s.add(row)
    elif row.status == "complete":
        raise StorageError(f"trial {number} of study {study_name!r} is complete already; it is not run again")
    else:
        s.execute(delete(IntermediateScore).where(IntermediateScore.trial_id == row.id))
        for column in _OUTCOME_COLUMNS:
            setattr(row, column, None)
    study.updated_at = now
    return row


def _set_method(
    row: Trial, name: str, method_json: str, method_hash: str, params: dict[str, Any],
    training: dict[str, Any], seed: int,
) -> None:  # fmt: skip
    row.method_name, row.method_json, row.method_hash, row.seed = name, method_json, method_hash, seed
    row.params_json = json.dumps(params, sort_keys=True)
    row.training_json = json.dumps(training, sort_keys=True)


def _upsert_point(s: Session, trial_id: int, step: int, score: float, seconds: float) -> None:
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(IntermediateScore).values(trial_id=trial_id, step=step, score=score, seconds=seconds)
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=["trial_id", "step"],
            set_={"score": stmt.excluded.score, "seconds": stmt.excluded.seconds},
        )
    )


def _trial(row: Trial, study_name: str) -> TrialRecord:
    values = {attr.key: getattr(row, attr.key) for attr in Trial.__mapper__.column_attrs}
    del values["study_id"]
    for key in ("params", "training", "metrics"):
        text = values.pop(f"{key}_json")
        if text is not None:
            values[key] = json.loads(text)
    return TrialRecord(study_name=study_name, **values)
