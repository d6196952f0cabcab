"""Initial schema: studies, trials, intermediate scores.

Revision ID: 0001_initial
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the values at this revision (never import models.py from a migration).
STUDY_STATUSES = "status IN ('queued', 'running', 'complete', 'failed', 'cancelled')"
TRIAL_STATUSES = "status IN ('running', 'complete', 'failed', 'pruned', 'infeasible')"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ds_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("spec_yaml", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("optuna_study_name", sa.String(255), nullable=False),
        sa.Column("n_trials_target", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.CheckConstraint(STUDY_STATUSES, name="ck_ds_studies_status"),
        sa.PrimaryKeyConstraint("id", name="pk_ds_studies"),
        sa.UniqueConstraint("name", name="uq_ds_studies_name"),
    )
    op.create_index("ix_ds_studies_status_created", "ds_studies", ["status", "created_at"])

    op.create_table(
        "ds_trials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("method_name", sa.String(255), nullable=False),
        sa.Column("method_json", sa.Text(), nullable=False),
        sa.Column("method_hash", sa.String(64), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("training_json", sa.Text(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("metrics_json", sa.Text(), nullable=True),
        sa.Column("delta_params", sa.BigInteger(), nullable=True),
        sa.Column("head_params", sa.BigInteger(), nullable=True),
        sa.Column("trainable_params", sa.BigInteger(), nullable=True),
        sa.Column("stored_params", sa.BigInteger(), nullable=True),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("train_seconds", sa.Float(), nullable=True),
        sa.Column("eval_seconds", sa.Float(), nullable=True),
        sa.Column("examples_per_second", sa.Float(), nullable=True),
        sa.Column("peak_memory_mb", sa.Float(), nullable=True),
        sa.Column("latency_ms_batch1", sa.Float(), nullable=True),
        sa.Column("latency_ms_batch32", sa.Float(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("worker_host", sa.String(255), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("heartbeat_at", _utc(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("weights_path", sa.Text(), nullable=True),
        sa.CheckConstraint(TRIAL_STATUSES, name="ck_ds_trials_status"),
        sa.ForeignKeyConstraint(
            ["study_id"], ["ds_studies.id"], name="fk_ds_trials_study_id_ds_studies", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ds_trials"),
        sa.UniqueConstraint("study_id", "number", name="uq_ds_trials_study_id_number"),
    )
    op.create_index("ix_ds_trials_method_hash", "ds_trials", ["method_hash"])
    op.create_index("ix_ds_trials_study_status", "ds_trials", ["study_id", "status"])

    op.create_table(
        "ds_intermediate_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["ds_trials.id"],
            name="fk_ds_intermediate_scores_trial_id_ds_trials",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ds_intermediate_scores"),
        sa.UniqueConstraint("trial_id", "step", name="uq_ds_intermediate_scores_trial_id_step"),
    )


def downgrade() -> None:
    op.drop_table("ds_intermediate_scores")
    op.drop_index("ix_ds_trials_study_status", table_name="ds_trials")
    op.drop_index("ix_ds_trials_method_hash", table_name="ds_trials")
    op.drop_table("ds_trials")
    op.drop_index("ix_ds_studies_status_created", table_name="ds_studies")
    op.drop_table("ds_studies")
