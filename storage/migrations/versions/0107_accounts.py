"""Accounts and devices that can be cut off: disabled clerks, token versions, revoked kiosks.

Revision ID: 0107_accounts
Revises: 0106_sign
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0107_accounts"
down_revision: str | None = "0106_sign"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clerks") as batch:
        # bumped when the clerk is disabled or the password reset: every older token stops
        batch.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("terminals") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("terminals") as batch:
        batch.drop_column("revoked_at")
    with op.batch_alter_table("clerks") as batch:
        batch.drop_column("disabled")
        batch.drop_column("token_version")
