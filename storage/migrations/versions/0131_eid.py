"""e-ID sign-in attempts (signaling/eid): one row per QR code shown, single use.

Revision ID: 0131_eid
Revises: 0130_complaints
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0131_eid"
down_revision: str | None = "0130_complaints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eid_attempts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("link", sa.String(64), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("verifier", sa.String(128), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_eid_attempts_session_id_sessions"
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_eid_attempts_terminal_id_terminals"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_eid_attempts"),
        sa.UniqueConstraint("link", name="uq_eid_attempts_link"),
        sa.UniqueConstraint("state", name="uq_eid_attempts_state"),
    )
    op.create_index("ix_eid_attempts_session_id", "eid_attempts", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_eid_attempts_session_id", table_name="eid_attempts")
    op.drop_table("eid_attempts")
