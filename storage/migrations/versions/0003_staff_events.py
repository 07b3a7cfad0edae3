"""Supervisor actions: an append-only, hash-chained staff event log.

Revision ID: 0003_staff_events
Revises: 0002_checkpoints
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_staff_events"
down_revision: str | None = "0002_checkpoints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "staff_events is append-only"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER staff_events_no_update BEFORE UPDATE ON staff_events
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER staff_events_no_delete BEFORE DELETE ON staff_events
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
POSTGRESQL_TRIGGERS = [
    f"""CREATE FUNCTION staff_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$""",
    """CREATE TRIGGER staff_events_append_only BEFORE UPDATE OR DELETE ON staff_events
FOR EACH ROW EXECUTE FUNCTION staff_events_append_only()""",
    """CREATE TRIGGER staff_events_no_truncate BEFORE TRUNCATE ON staff_events
FOR EACH STATEMENT EXECUTE FUNCTION staff_events_append_only()""",
]


def upgrade() -> None:
    op.create_table(
        "staff_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff_events"),
        sa.UniqueConstraint("seq", name="uq_staff_events_seq"),
    )
    op.create_index("ix_staff_events_session_id", "staff_events", ["session_id"])
    dialect = op.get_context().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS staff_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS staff_events_no_delete")
    else:
        op.execute("DROP FUNCTION IF EXISTS staff_events_append_only() CASCADE")
    op.drop_index("ix_staff_events_session_id", table_name="staff_events")
    op.drop_table("staff_events")
