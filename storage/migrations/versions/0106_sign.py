"""Acceptance numbers (受理号): the index from a receipt's number to its session.

Revision ID: 0106_sign
Revises: 0003_staff_events
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0106_sign"
down_revision: str | None = "0003_staff_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acceptance_numbers",
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_acceptance_numbers_session_id_sessions"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_acceptance_numbers"),
        sa.UniqueConstraint("day", "serial", name="uq_acceptance_numbers_day_serial"),
        sa.UniqueConstraint("session_id", name="uq_acceptance_numbers_session_id"),
    )


def downgrade() -> None:
    op.drop_table("acceptance_numbers")
