"""Row lookups, writes and row-to-record conversion shared by the Storage methods.

Every function taking a session ``s`` runs inside the caller's transaction and never commits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from deltaspace.storage.errors import StorageError, StudyNotFoundError, TrialNotFoundError
from deltaspace.storage.models import IntermediateScore, Study, Trial
from deltaspace.storage.records import TrialRecord

# Columns a (re)started trial clears: they describe how a previous attempt ended.
OUTCOME_COLUMNS = tuple(
    """score metrics_json delta_params head_params trainable_params stored_params percent steps
    train_seconds eval_seconds examples_per_second peak_memory_mb latency_ms_batch1 latency_ms_batch32
    failure_reason finished_at result_json weights_path""".split()
)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of datetime storage writes)."""
    return datetime.now(UTC)


def check(value: str | None, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise StorageError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")


def study_row(s: Session, name: str) -> Study:
    row = s.scalar(select(Study).where(Study.name == name))
    if row is None:
        names = s.scalars(select(Study.name).order_by(Study.name)).all()
        raise StudyNotFoundError(f"no study named {name!r}; known studies: {', '.join(names) or '(none)'}")
    return row


def trial_row(s: Session, study_name: str, number: int, *, lock: bool = False) -> Trial:
    study_id = study_row(s, study_name).id
    stmt = select(Trial).where(Trial.study_id == study_id, Trial.number == number)
    row = s.scalar(stmt.with_for_update() if lock else stmt)
    if row is None:
        n = s.scalar(select(func.count()).select_from(Trial).where(Trial.study_id == study_id))
        raise TrialNotFoundError(f"study {study_name!r} has no trial number {number} (it has {n} trials)")
    return row


def fresh_trial(s: Session, study_name: str, number: int, now: datetime) -> Trial:
    """The trial row to (re)start: a new one, or an unfinished attempt with its outcome cleared."""
    study = study_row(s, study_name)
    stmt = select(Trial).where(Trial.study_id == study.id, Trial.number == number).with_for_update()
    row = s.scalar(stmt)
    if row is None:
        row = Trial(study_id=study.id, number=number)
        s.add(row)
    elif row.status == "complete":
        raise StorageError(f"trial {number} of study {study_name!r} is complete already; it is not run again")
    else:
        s.execute(delete(IntermediateScore).where(IntermediateScore.trial_id == row.id))
        for column in OUTCOME_COLUMNS:
            setattr(row, column, None)
    study.updated_at = now
    return row


def set_method(
    row: Trial,
    name: str,
    method_json: str,
    method_hash: str,
    params: dict[str, Any],
    training: dict[str, Any],
    seed: int,
) -> None:
    row.method_name, row.method_json, row.method_hash, row.seed = name, method_json, method_hash, seed
    row.params_json = json.dumps(params, sort_keys=True)
    row.training_json = json.dumps(training, sort_keys=True)


def upsert_point(s: Session, trial_id: int, step: int, score: float, seconds: float) -> None:
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(IntermediateScore).values(trial_id=trial_id, step=step, score=score, seconds=seconds)
    s.execute(
        stmt.on_conflict_do_update(
            index_elements=["trial_id", "step"],
            set_={"score": stmt.excluded.score, "seconds": stmt.excluded.seconds},
        )
    )


def to_record(row: Trial, study_name: str) -> TrialRecord:
    values = {attr.key: getattr(row, attr.key) for attr in Trial.__mapper__.column_attrs}
    del values["study_id"]
    for key in ("params", "training", "metrics"):
        text = values.pop(f"{key}_json")
        if text is not None:
            values[key] = json.loads(text)
    return TrialRecord(study_name=study_name, **values)
