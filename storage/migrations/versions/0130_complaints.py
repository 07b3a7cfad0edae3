"""Complaints: a ticket for the department, filed at a kiosk after a session.

One row per complaint (at most one per session); every change is also an event in the
session's chain (``complaint.*``).

Revision ID: 0130_complaints
Revises: 0127_payments
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0130_complaints"
down_revision: str | None = "0127_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("assigned_to", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_complaints_session_id_sessions"
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_complaints_terminal_id_terminals"
        ),
        sa.ForeignKeyConstraint(["clerk_id"], ["clerks.id"], name="fk_complaints_clerk_id_clerks"),
        sa.ForeignKeyConstraint(
            ["assigned_to"], ["clerks.id"], name="fk_complaints_assigned_to_clerks"
        ),
        sa.ForeignKeyConstraint(
            ["answered_by"], ["clerks.id"], name="fk_complaints_answered_by_clerks"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_complaints"),
        sa.UniqueConstraint("day", "serial", name="uq_complaints_day_serial"),
        sa.UniqueConstraint("session_id", name="uq_complaints_session_id"),
    )
    op.create_index("ix_complaints_line", "complaints", ["department_id", "state", "due_on"])


def downgrade() -> None:
    op.drop_index("ix_complaints_line", table_name="complaints")
    op.drop_table("complaints")
