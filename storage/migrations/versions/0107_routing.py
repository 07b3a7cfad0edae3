"""Routing of record: the queue, offers and presence live in the store (issue 13).

Sessions gain their queue fields; clerk and terminal presence and the server processes'
leases get tables; partial unique indexes make a double assignment impossible. Sessions left
open by a server that ran before this revision are found by the sweeper like any other
session whose kiosk is gone, and resolved with a chain event.

Revision ID: 0107_routing
Revises: 0106_sign
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0107_routing"
down_revision: str | None = "0106_sign"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_CALL = "state IN ('offered','connecting','in_call')"
ACTIVE = "state IN ('queued','offered','connecting','in_call')"


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("offer_deadline", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("declined_by", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("early_offer", sa.Text(), nullable=True))
        batch.add_column(sa.Column("offer_shown_to", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("ice_servers", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch.add_column(sa.Column("step", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("recall_of", sa.String(32), nullable=True))
    # a session left open by an older server keeps its place; the sweeper resolves it
    op.execute("UPDATE sessions SET enqueued_at = created_at WHERE enqueued_at IS NULL")
    # An older server that crashed left rows open and then opened new ones for the same kiosk
    # or clerk; only the newest can still be live, or the unique indexes below cannot exist.
    for column, states in (("terminal_id", ACTIVE), ("clerk_id", ACTIVE_CALL)):
        op.execute(
            "UPDATE sessions SET state = CASE WHEN state IN ('queued','offered')"
            " THEN 'cancelled' ELSE 'failed' END, end_reason = 'server_lost',"
            f" ended_at = CURRENT_TIMESTAMP WHERE {states} AND {column} IS NOT NULL"
            f" AND EXISTS (SELECT 1 FROM sessions AS newer WHERE newer.{column} ="
            f" sessions.{column} AND {states.replace('state', 'newer.state')}"
            " AND newer.created_at > sessions.created_at)"
        )
    op.create_index(
        "uq_sessions_clerk_active",
        "sessions",
        ["clerk_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_CALL),
        postgresql_where=sa.text(ACTIVE_CALL),
    )
    op.create_index(
        "uq_sessions_terminal_active",
        "sessions",
        ["terminal_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )
    op.create_index("ix_sessions_state_queue", "sessions", ["state", "priority", "enqueued_at"])
    op.create_table(
        "clerk_presence",
        sa.Column("clerk_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("process_id", sa.String(40), nullable=True),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume_hash", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clerk_id"], ["clerks.id"], name="fk_clerk_presence_clerk_id_clerks"
        ),
        sa.PrimaryKeyConstraint("clerk_id", name="pk_clerk_presence"),
    )
    op.create_table(
        "terminal_presence",
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(40), nullable=True),
        sa.Column("sid", sa.String(64), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resume_hash", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_terminal_presence_terminal_id_terminals"
        ),
        sa.PrimaryKeyConstraint("terminal_id", name="pk_terminal_presence"),
    )
    op.create_table(
        "server_processes",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("draining", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_server_processes"),
    )


def downgrade() -> None:
    op.drop_table("server_processes")
    op.drop_table("terminal_presence")
    op.drop_table("clerk_presence")
    op.drop_index("ix_sessions_state_queue", "sessions")
    op.drop_index("uq_sessions_terminal_active", "sessions")
    op.drop_index("uq_sessions_clerk_active", "sessions")
    with op.batch_alter_table("sessions") as batch:
        for column in (
            "recall_of", "step", "ice_servers", "offer_shown_to", "early_offer",
            "declined_by", "version", "offer_deadline", "enqueued_at", "priority",
        ):  # fmt: skip
            batch.drop_column(column)
