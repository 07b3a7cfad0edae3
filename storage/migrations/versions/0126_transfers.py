"""A clerk hands a call on: the session goes back to waiting with its place kept.

``transfers`` counts the hand-overs (the session keeps its ``enqueued_at``, so its place in
the line; the count marks it as transferred for whoever ranks the line). While a transferred
session waits: ``transferred_from`` (the clerk who handed it on, for the chain's
``transfer.completed``), ``reserved_for`` and ``reserved_until`` (a transfer to a named clerk
rings only that clerk until then, and then their department). A warm transfer's consultation:
``consult_clerk_id``, ``consult_state`` (ringing, talking) and ``consult_department``.

Revision ID: 0126_transfers
Revises: 0125_callbacks
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0126_transfers"
down_revision: str | None = "0125_callbacks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("transfers", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("transferred_from", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reserved_for", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reserved_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("consult_clerk_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("consult_state", sa.String(16), nullable=True))
        batch.add_column(sa.Column("consult_department", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("consult_department")
        batch.drop_column("consult_state")
        batch.drop_column("consult_clerk_id")
        batch.drop_column("reserved_until")
        batch.drop_column("reserved_for")
        batch.drop_column("transferred_from")
        batch.drop_column("transfers")
