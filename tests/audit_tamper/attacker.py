"""What someone holding the database file and the data directory does, with nothing but sqlite3.

They know every algorithm (the code is public): they can drop the append-only triggers,
rewrite events and recompute every hash, delete rows, and sign with any key they can read.
They cannot read the checkpoint key kept outside the data directory, write to the witness,
or make the time-stamping authority sign an earlier time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage.audit import event_hash
from storage.checkpoint_keys import fingerprint, raw_public
from storage.checkpoints import Checkpoint, signed_bytes

TABLES = ("session_events", "staff_events", "chain_checkpoints")


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Attacker:
    def __init__(self, db_file: Path) -> None:
        self.db_file = db_file

    def sql(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_file) as conn:
            rows = conn.execute(statement, params).fetchall()
        return rows

    def unguard(self) -> None:
        """Drop every append-only trigger: the first thing anyone with the file does."""
        for table in TABLES:
            for verb in ("update", "delete"):
                self.sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")

    def rewrite_event(self, session_id: str, seq: int, payload: dict[str, Any]) -> None:
        """Change one event and recompute every hash from it on, so the chain links again."""
        rows = self.sql(
            "SELECT seq, kind, actor, payload, created_at, prev_hash FROM session_events"
            " WHERE session_id = ? ORDER BY seq",
            session_id,
        )
        prev = None
        for at, kind, actor, stored, created, prev_hash in rows:
            if at < seq:
                continue
            body = payload if at == seq else json.loads(stored)
            prev_hash = prev or prev_hash
            new = event_hash(session_id, at, kind, actor, body, _stamp(created), prev_hash)
            self.sql(
                "UPDATE session_events SET payload = ?, prev_hash = ?, hash = ?"
                " WHERE session_id = ? AND seq = ?",
                json.dumps(body), prev_hash, new, session_id, at,
            )  # fmt: skip
            prev = new

    def checkpoint_rows(self) -> list[tuple[Any, ...]]:
        return self.sql("SELECT id, seq FROM chain_checkpoints ORDER BY seq")

    def resign_checkpoint(self, seq: int, key: Ed25519PrivateKey) -> None:
        """Put ``key`` in place of the signer of checkpoint ``seq``: new key id, hash, signature."""
        (row,) = self.sql(
            "SELECT seq, prev_hash, created_at, heads, staff_head FROM chain_checkpoints"
            " WHERE seq = ?",
            seq,
        )
        at, prev, created, heads, staff = row
        stamp = _stamp(created).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        key_id = fingerprint(key)
        body = signed_bytes(at, prev, stamp, json.loads(heads), json.loads(staff), key_id)
        self.sql(
            "UPDATE chain_checkpoints SET key_id = ?, public_key = ?, signature = ?, hash = ?"
            " WHERE seq = ?",
            key_id, base64.b64encode(raw_public(key)).decode(),
            base64.b64encode(key.sign(body)).decode(), hashlib.sha256(body).hexdigest(), at,
        )  # fmt: skip


def resign_record(record: dict[str, Any], key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    """A bundle's checkpoint record changed as the attacker likes and signed with ``key``."""
    cp = Checkpoint.from_record({**record, **changes})
    key_id = fingerprint(key)
    body = signed_bytes(cp.seq, cp.prev_hash, cp.created_at, cp.heads, cp.staff, key_id)
    return {
        **cp.record(),
        "key_id": key_id,
        "public_key": base64.b64encode(raw_public(key)).decode(),
        "signature": base64.b64encode(key.sign(body)).decode(),
        "hash": hashlib.sha256(body).hexdigest(),
        "timestamp_token": None,
    }
