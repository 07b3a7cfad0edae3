"""The service map: ``places`` (kiosks and staffed windows), ``terminal_printers`` (each
kiosk's newest printer report) and ``kiosk_quiet`` (kiosk sockets whose pong is overdue), for
each kiosk's live status.

Revision ID: 0129_places
Revises: 0128_appointments
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0129_places"
down_revision: str | None = "0128_appointments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "places",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("addresses", sa.JSON(), nullable=False),
        sa.Column("city", sa.String(32), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("hours", sa.String(200), nullable=False),
        sa.Column("directions", sa.JSON(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_places_terminal_id_terminals"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_places"),
        sa.UniqueConstraint("slug", name="uq_places_slug"),
        sa.UniqueConstraint("terminal_id", name="uq_places_terminal_id"),
    )
    op.create_index("ix_places_city", "places", ["city"])
    op.create_table(
        "terminal_printers",
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_terminal_printers_terminal_id_terminals"
        ),
        sa.PrimaryKeyConstraint("terminal_id", name="pk_terminal_printers"),
    )

    op.create_table(
        "kiosk_quiet",
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name="fk_kiosk_quiet_terminal_id_terminals"
        ),
        sa.PrimaryKeyConstraint("terminal_id", name="pk_kiosk_quiet"),
    )


def downgrade() -> None:
    op.drop_table("kiosk_quiet")
    op.drop_table("terminal_printers")
    op.drop_index("ix_places_city", table_name="places")
    op.drop_table("places")
