"""Appointments (办事预约): a booked slot of a service, checked in at a kiosk.

One row per booking: the slot, its state (booked, cancelled, checked_in, late, no_show), the
person as a keyed hash of their document number, their name and optional phone, and once
checked in the kiosk and the call it became.

Revision ID: 0128_appointments
Revises: 0126_transfers
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0128_appointments"
down_revision: str | None = "0126_transfers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("slot_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("person_key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_terminal", sa.Integer(), nullable=True),
        sa.Column("no_show_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name="fk_appointments_service_id_services"
        ),
        sa.PrimaryKeyConstraint("number", name="pk_appointments"),
    )
    op.create_index("ix_appointments_person_key", "appointments", ["person_key"])
    op.create_index("ix_appointments_slot", "appointments", ["service_id", "slot_start", "state"])
    op.create_index("ix_appointments_day", "appointments", ["department_id", "slot_start"])


def downgrade() -> None:
    op.drop_index("ix_appointments_day", table_name="appointments")
    op.drop_index("ix_appointments_slot", table_name="appointments")
    op.drop_index("ix_appointments_person_key", table_name="appointments")
    op.drop_table("appointments")
