"""Initial schema: catalogue, clerks, terminals, sessions and append-only session events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = "session_events is append-only"

# Triggers, not privileges: the app's own database user must still be unable to rewrite
# history, and the rule holds on SQLite where there are no privileges.
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
    f"""CREATE TRIGGER session_events_no_delete BEFORE DELETE ON session_events
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END""",
]

POSTGRESQL_TRIGGERS = [
    f"""CREATE FUNCTION session_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$""",
    """CREATE TRIGGER session_events_append_only BEFORE UPDATE OR DELETE ON session_events
FOR EACH ROW EXECUTE FUNCTION session_events_append_only()""",
    # TRUNCATE skips row triggers, so it needs its own statement-level one.
    """CREATE TRIGGER session_events_no_truncate BEFORE TRUNCATE ON session_events
FOR EACH STATEMENT EXECUTE FUNCTION session_events_append_only()""",
]


def _timestamp(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_departments"),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("second_approval", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name="fk_services_department_id_departments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
    )
    op.create_index("ix_services_department_id", "services", ["department_id"])
    op.create_table(
        "clerks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clerks"),
        sa.UniqueConstraint("username", name="uq_clerks_username"),
    )
    op.create_table(
        "terminals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("last_seen_at"),
        sa.PrimaryKeyConstraint("id", name="pk_terminals"),
        sa.UniqueConstraint("name", name="uq_terminals_name"),
        sa.UniqueConstraint("token_hash", name="uq_terminals_token_hash"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("clerk_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _timestamp("created_at", nullable=False),
        _timestamp("offered_at"),
        _timestamp("answered_at"),
        _timestamp("connected_at"),
        _timestamp("ended_at"),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("care_mode", sa.Boolean(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_sessions_rating_range"),
        sa.ForeignKeyConstraint(["clerk_id"], ["clerks.id"], name="fk_sessions_clerk_id_clerks"),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_sessions_service_id_services"
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_sessions_terminal_id_terminals"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_clerk_id", "sessions", ["clerk_id"])
    op.create_index("ix_sessions_created_at", "sessions", ["created_at"])
    op.create_index("ix_sessions_service_id", "sessions", ["service_id"])
    op.create_index("ix_sessions_terminal_id", "sessions", ["terminal_id"])
    op.create_table(
        "session_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _timestamp("created_at", nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_session_events_session_id_sessions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_session_events"),
        sa.UniqueConstraint("session_id", "seq", name="uq_session_events_session_id_seq"),
    )
    dialect = op.get_context().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS session_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS session_events_no_delete")
    else:
        # CASCADE takes the triggers with it.
        op.execute("DROP FUNCTION IF EXISTS session_events_append_only() CASCADE")
    op.drop_table("session_events")
    op.drop_index("ix_sessions_terminal_id", table_name="sessions")
    op.drop_index("ix_sessions_service_id", table_name="sessions")
    op.drop_index("ix_sessions_created_at", table_name="sessions")
    op.drop_index("ix_sessions_clerk_id", table_name="sessions")
    op.drop_table("sessions")
    op.drop_table("terminals")
    op.drop_table("clerks")
    op.drop_index("ix_services_department_id", table_name="services")
    op.drop_table("services")
    op.drop_table("departments")
