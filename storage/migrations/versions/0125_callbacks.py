"""Callbacks: an applicant facing a long wait leaves a phone number and a clerk calls back.

One row per task (at most one per session), changed by conditional updates; every change is
also an event in the originating session's chain (``callback.*``).

Revision ID: 0125_callbacks
Revises: 0124_work_states
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0125_callbacks"
down_revision: str | None = "0124_work_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("taken_by", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_callbacks_session_id_sessions"
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_callbacks_service_id_services"
        ),
        sa.ForeignKeyConstraint(["taken_by"], ["clerks.id"], name="fk_callbacks_taken_by_clerks"),
        sa.PrimaryKeyConstraint("reference", name="pk_callbacks"),
        sa.UniqueConstraint("session_id", name="uq_callbacks_session_id"),
    )
    op.create_index("ix_callbacks_line", "callbacks", ["state", "department_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_line", table_name="callbacks")
    op.drop_table("callbacks")
