"""Multi-fidelity promotion: rungs of trials, promotion decisions, the rung a trial row carries.

Revision ID: 0002_rungs
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_rungs"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the values at this revision (never import models.py from a migration).
RUNG_STATUSES = "status IN ('pending', 'running', 'complete', 'failed')"


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("ds_trials") as batch:
        batch.add_column(sa.Column("rung", sa.Integer(), nullable=True))

    op.create_table(
        "ds_rungs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=True),
        sa.Column("state", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_host", sa.String(255), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("heartbeat_at", _utc(), nullable=True),
        sa.CheckConstraint(RUNG_STATUSES, name="ck_ds_rungs_status"),
        sa.ForeignKeyConstraint(
            ["study_id"], ["ds_studies.id"], name="fk_ds_rungs_study_id_ds_studies", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["trial_id"], ["ds_trials.id"], name="fk_ds_rungs_trial_id_ds_trials", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ds_rungs"),
        sa.UniqueConstraint("trial_id", "rung", name="uq_ds_rungs_trial_id_rung"),
    )
    op.create_index("ix_ds_rungs_study_rung_status", "ds_rungs", ["study_id", "rung", "status"])

    op.create_table(
        "ds_promotions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("rung", sa.Integer(), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("chosen_json", sa.Text(), nullable=False),
        sa.Column("decided_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["ds_studies.id"], name="fk_ds_promotions_study_id_ds_studies", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ds_promotions"),
        sa.UniqueConstraint("study_id", "rung", name="uq_ds_promotions_study_id_rung"),
    )


def downgrade() -> None:
    op.drop_table("ds_promotions")
    op.drop_index("ix_ds_rungs_study_rung_status", table_name="ds_rungs")
    op.drop_table("ds_rungs")
    with op.batch_alter_table("ds_trials") as batch:
        batch.drop_column("rung")
