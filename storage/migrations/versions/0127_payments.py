"""Payments of services' fees, and the nonces of the provider's notifications.

``payments``: one row per order at the provider (state, amount in minor units, currency,
the provider's order and transaction ids, refund); ``payment_notices``: nonces seen inside
the notification window, so a replayed notification is refused.

Revision ID: 0127_payments
Revises: 0129_places
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0127_payments"
down_revision: str | None = "0129_places"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("session_id", sa.String(32), sa.ForeignKey("sessions.id"), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("terminal_id", sa.Integer(), sa.ForeignKey("terminals.id"), nullable=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider_order_id", sa.String(64), nullable=True),
        sa.Column("transaction_id", sa.String(64), nullable=True),
        sa.Column("code_url", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_id", sa.String(64), nullable=True),
        sa.Column("refunded_minor", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("session_id", "purpose", "attempt"),
    )
    op.create_index("ix_payments_session_id", "payments", ["session_id"])
    op.create_index("ix_payments_state", "payments", ["state"])
    op.create_table(
        "payment_notices",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_payment_notices_received_at", "payment_notices", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_payment_notices_received_at", "payment_notices")
    op.drop_table("payment_notices")
    op.drop_index("ix_payments_state", "payments")
    op.drop_index("ix_payments_session_id", "payments")
    op.drop_table("payments")
