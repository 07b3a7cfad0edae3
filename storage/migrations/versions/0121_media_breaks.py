"""A call's media can break and recover within the session: the break and the attempt on its row.

``media_down_since`` (indexed: every process's sweeper ends calls broken past the limit),
``media_break`` (what each side reported, to tell whose link broke) and ``media_attempt``
(which peer connection of the call is current; aiortc has no ICE restart, so the kiosk makes
a new one).

Revision ID: 0121_media_breaks
Revises: 0120_chain_head
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0121_media_breaks"
down_revision: str | None = "0120_chain_head"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("media_down_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("media_break", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("media_attempt", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_sessions_media_down_since", ["media_down_since"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_media_down_since")
        batch.drop_column("media_attempt")
        batch.drop_column("media_break")
        batch.drop_column("media_down_since")
