"""Each department's line at each priority, first come first, as an index: the matcher reads
the first few of each.

The matcher's read of each department's first waiting sessions ranked every queued session
(a sort of all of them, joined to their services, in every round: with 2,000 waiting, half of
PostgreSQL's CPU under load). A session now keeps its department (``department_id``, from its
service when it was queued, kept in step by the catalogue sync), and this partial index gives
the first few of each department at each priority in order. (Priority ascending: Alembic
cannot compare an index with a sort order on SQLite, so the models and the migrations could
not be checked against each other.)

Revision ID: 0122_queue_line
Revises: 0121_media_breaks
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0122_queue_line"
down_revision: str | None = "0121_media_breaks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "state = 'queued'"


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("department_id", sa.String(64), nullable=True))
    op.execute(
        "UPDATE sessions SET department_id ="
        " (SELECT services.department_id FROM services WHERE services.id = sessions.service_id)"
    )
    op.create_index(
        "ix_sessions_queued_line",
        "sessions",
        ["department_id", "priority", "enqueued_at", "id"],
        sqlite_where=sa.text(QUEUED),
        postgresql_where=sa.text(QUEUED),
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_queued_line", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("department_id")
