"""A clerk's work states: wrap-up after each call, away with a reason, and a log of every
state's interval for the work report.

``clerk_presence`` keeps the away reason and the wrap-up's call and deadline;
``clerk_state_log`` has one row per state entered (written in the transaction that changes
the state), so time in each state over any period is read from it exactly.

Revision ID: 0124_work_states
Revises: 0123_skills
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0124_work_states"
down_revision: str | None = "0123_skills"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clerk_presence") as batch:
        batch.add_column(sa.Column("away_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("wrap_up_session_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("wrap_up_deadline", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "clerk_state_log",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clerk_id"], ["clerks.id"], name="fk_clerk_state_log_clerk_id_clerks"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_clerk_state_log"),
    )
    op.create_index(
        "ix_clerk_state_log_clerk_started", "clerk_state_log", ["clerk_id", "started_at"]
    )
    op.create_index("ix_clerk_state_log_started_at", "clerk_state_log", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_clerk_state_log_started_at", table_name="clerk_state_log")
    op.drop_index("ix_clerk_state_log_clerk_started", table_name="clerk_state_log")
    op.drop_table("clerk_state_log")
    with op.batch_alter_table("clerk_presence") as batch:
        batch.drop_column("wrap_up_deadline")
        batch.drop_column("wrap_up_session_id")
        batch.drop_column("away_reason")
