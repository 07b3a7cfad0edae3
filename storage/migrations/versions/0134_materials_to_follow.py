"""Materials to follow (容缺受理): a material the application was accepted without.

One row per deferred material of a session, with its due date and when it was supplied,
reminded of and lapsed; every one of those is also an event in the session's chain.

Revision ID: 0134_materials_to_follow
Revises: 0131_eid
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0134_materials_to_follow"
down_revision: str | None = "0131_eid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "materials_to_follow",
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("material_id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("deferred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supplied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_materials_to_follow_session_id_sessions"
        ),
        sa.PrimaryKeyConstraint("session_id", "material_id", name="pk_materials_to_follow"),
    )
    op.create_index("ix_materials_to_follow_due", "materials_to_follow", ["due_on"])


def downgrade() -> None:
    op.drop_index("ix_materials_to_follow_due", table_name="materials_to_follow")
    op.drop_table("materials_to_follow")
