"""Clerks' skills, and a queue order that ages: each waiting session's rank.

A clerk's skills (``{"service:tax-certificate": 4, "lang:yue": 5, "care": 3}``) are kept on
the account and copied to the clerk's presence row when the console connects (and when they
change), so the matcher reads them with the clerks it may ring.

A session's place in line is its ``rank_at``: when it was queued, less a head start for its
priority (at most the configured ceiling). Ordering by it alone means a call waiting longer
than the ceiling is behind no call that came after it, however many priority calls arrive;
the strict order by priority before it let a stream of care-mode calls starve everyone else.
The line's index follows the new order.

Revision ID: 0123_skills
Revises: 0122_queue_line
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0123_skills"
down_revision: str | None = "0122_queue_line"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "state = 'queued'"


def upgrade() -> None:
    for table in ("clerks", "clerk_presence"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("skills", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
            )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("rank_at", sa.DateTime(timezone=True), nullable=True))
    # sessions already waiting keep the order they had: the old head starts were absolute,
    # so each priority step counts as the ceiling's default (300 s)
    op.execute(
        "UPDATE sessions SET rank_at = enqueued_at WHERE enqueued_at IS NOT NULL AND priority = 0"
    )
    for priority in (1, 2):
        if op.get_bind().dialect.name == "postgresql":
            shifted = f"enqueued_at - interval '{150 * priority} seconds'"
        else:
            shifted = f"strftime('%Y-%m-%d %H:%M:%f', enqueued_at, '-{150 * priority} seconds')"
        op.execute(
            f"UPDATE sessions SET rank_at = {shifted}"
            f" WHERE enqueued_at IS NOT NULL AND priority = {priority}"
        )
    op.drop_index("ix_sessions_queued_line", table_name="sessions")
    op.create_index(
        "ix_sessions_queued_line",
        "sessions",
        ["department_id", "rank_at", "id"],
        sqlite_where=sa.text(QUEUED),
        postgresql_where=sa.text(QUEUED),
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_queued_line", table_name="sessions")
    op.create_index(
        "ix_sessions_queued_line",
        "sessions",
        ["department_id", "priority", "enqueued_at", "id"],
        sqlite_where=sa.text(QUEUED),
        postgresql_where=sa.text(QUEUED),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("rank_at")
    for table in ("clerks", "clerk_presence"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("skills")
