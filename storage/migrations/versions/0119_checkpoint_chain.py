"""Checkpoints form their own append-only hash chain and cover the staff log.

Each new checkpoint records its place in the chain (``seq``, unique: two processes cannot
both sign the next one), the previous checkpoint's hash, its own hash, the staff log's head,
the signing public key and, when a time-stamping authority is configured, its RFC 3161
token. Rows from before this revision keep ``seq`` NULL and count for nothing.

Revision ID: 0119_checkpoint_chain
Revises: 0106_sign
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0119_checkpoint_chain"
down_revision: str | None = "0106_sign"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "chain_checkpoints is append-only"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER chain_checkpoints_no_update BEFORE UPDATE ON chain_checkpoints
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER chain_checkpoints_no_delete BEFORE DELETE ON chain_checkpoints
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
POSTGRESQL_TRIGGERS = [
    f"""CREATE FUNCTION chain_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'restrict_violation';
END
$$""",
    """CREATE TRIGGER chain_checkpoints_append_only BEFORE UPDATE OR DELETE ON chain_checkpoints
FOR EACH ROW EXECUTE FUNCTION chain_checkpoints_append_only()""",
    """CREATE TRIGGER chain_checkpoints_no_truncate BEFORE TRUNCATE ON chain_checkpoints
FOR EACH STATEMENT EXECUTE FUNCTION chain_checkpoints_append_only()""",
]


def upgrade() -> None:
    op.add_column("chain_checkpoints", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("chain_checkpoints", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("chain_checkpoints", sa.Column("hash", sa.String(64), nullable=True))
    op.add_column("chain_checkpoints", sa.Column("staff_head", sa.JSON(), nullable=True))
    op.add_column("chain_checkpoints", sa.Column("public_key", sa.Text(), nullable=True))
    op.add_column("chain_checkpoints", sa.Column("timestamp_token", sa.Text(), nullable=True))
    # a unique index rather than a constraint: SQLite cannot add constraints to a table
    op.create_index("uq_chain_checkpoints_seq", "chain_checkpoints", ["seq"], unique=True)
    dialect = op.get_context().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS chain_checkpoints_no_update")
        op.execute("DROP TRIGGER IF EXISTS chain_checkpoints_no_delete")
    else:
        op.execute("DROP FUNCTION IF EXISTS chain_checkpoints_append_only() CASCADE")
    op.drop_index("uq_chain_checkpoints_seq", table_name="chain_checkpoints")
    for column in ("timestamp_token", "public_key", "staff_head", "hash", "prev_hash", "seq"):
        op.drop_column("chain_checkpoints", column)
