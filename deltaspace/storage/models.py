"""The SQL schema: SQLAlchemy 2 declarative models of deltaspace's own tables.

Every table is prefixed ``ds_`` because Optuna's RDBStorage may keep its tables in the same
database. Changing a model means adding an alembic revision under ``migrations/versions/``; a test
compares these models with the schema the migrations build.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from deltaspace.storage.records import RUNG_STATUSES, STUDY_STATUSES, TRIAL_STATUSES

# Deterministic constraint names, so migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL keeps the offset (``timestamptz``); SQLite has no time zone type, so the value is
    stored as naive UTC and made aware again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storage only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Study(Base):
    __tablename__ = "ds_studies"
    __table_args__ = (
        CheckConstraint(_one_of("status", STUDY_STATUSES), name="status"),
        Index("ix_ds_studies_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    spec_yaml: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    optuna_study_name: Mapped[str] = mapped_column(String(255))
    n_trials_target: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    # the worker that claimed a queued study (claim_queued_study)
    claimed_by: Mapped[str | None] = mapped_column(String(255))


class Trial(Base):
    __tablename__ = "ds_trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        CheckConstraint(_one_of("status", TRIAL_STATUSES), name="status"),
        Index("ix_ds_trials_study_status", "study_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("ds_studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    method_name: Mapped[str] = mapped_column(String(255))
    method_json: Mapped[str] = mapped_column(Text)
    method_hash: Mapped[str] = mapped_column(String(64), index=True)
    params_json: Mapped[str] = mapped_column(Text)
    training_json: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float | None] = mapped_column(Float)
    metrics_json: Mapped[str | None] = mapped_column(Text)
    # parameter counts reach billions for full fine-tuning of large models: 64-bit
    delta_params: Mapped[int | None] = mapped_column(BigInteger)
    head_params: Mapped[int | None] = mapped_column(BigInteger)
    trainable_params: Mapped[int | None] = mapped_column(BigInteger)
    stored_params: Mapped[int | None] = mapped_column(BigInteger)
    percent: Mapped[float | None] = mapped_column(Float)
    steps: Mapped[int | None] = mapped_column(Integer)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    eval_seconds: Mapped[float | None] = mapped_column(Float)
    examples_per_second: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    latency_ms_batch1: Mapped[float | None] = mapped_column(Float)
    latency_ms_batch32: Mapped[float | None] = mapped_column(Float)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_json: Mapped[str | None] = mapped_column(Text)
    weights_path: Mapped[str | None] = mapped_column(Text)
    # with promotion: the highest rung whose result the row carries (None: a study without rungs)
    rung: Mapped[int | None] = mapped_column(Integer)


class IntermediateScore(Base):
    __tablename__ = "ds_intermediate_scores"
    __table_args__ = (UniqueConstraint("trial_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("ds_trials.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)


class Rung(Base):
    """One rung of one trial in a promoted study: its budget, state of work, result, and the loop
    state it stopped in (what the next rung resumes; dropped once the trial is not promoted)."""

    __tablename__ = "ds_rungs"
    __table_args__ = (
        UniqueConstraint("trial_id", "rung"),
        CheckConstraint(_one_of("status", RUNG_STATUSES), name="status"),
        Index("ix_ds_rungs_study_rung_status", "study_id", "rung", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("ds_studies.id", ondelete="CASCADE"))
    trial_id: Mapped[int] = mapped_column(ForeignKey("ds_trials.id", ondelete="CASCADE"))
    rung: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    result_json: Mapped[str | None] = mapped_column(Text)
    state: Mapped[bytes | None] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Promotion(Base):
    """The decision that promoted trials into ``rung``: made once per study and rung (the unique
    constraint is what makes two workers deciding at the same moment agree)."""

    __tablename__ = "ds_promotions"
    __table_args__ = (UniqueConstraint("study_id", "rung"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("ds_studies.id", ondelete="CASCADE"))
    rung: Mapped[int] = mapped_column(Integer)
    candidates: Mapped[int] = mapped_column(Integer)
    chosen_json: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
