"""Signed checkpoints: the server signs every session chain's head now and then.

A hash chain shows an edited or removed event in the middle, but not a removed *tail*: the
shortened chain still links. A checkpoint records, for every session, how many events its
chain had and the last one's hash, signed with the server's Ed25519 key. Verification then
finds a chain shorter than a checkpoint said, or one whose event at that place differs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select

from storage.db import Database
from storage.errors import InvalidValue
from storage.models import ChainCheckpoint, SessionEvent, utcnow

log = logging.getLogger(__name__)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The checkpoint signing key at ``path`` (PEM), made on first use with mode 0600."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidValue(f"{path} is not an Ed25519 private key; remove it to make a new one")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public half as PEM text (what an auditor needs to check signatures)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """A short fingerprint of the public key."""
    return hashlib.sha256(public_pem(key).encode()).hexdigest()[:16]


def signed_bytes(created_at: str, heads: dict[str, Any]) -> bytes:
    """Exactly what a checkpoint's signature covers."""
    document = {"created_at": created_at, "heads": heads}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read back: when, the heads, and whether its signature holds."""

    id: int
    created_at: str
    heads: dict[str, list[Any]]
    key_id: str
    signature: str

    def signature_ok(self, public: Ed25519PublicKey) -> bool:
        """True if ``public`` signed exactly these heads at this time."""
        try:
            public.verify(
                base64.b64decode(self.signature), signed_bytes(self.created_at, self.heads)
            )
        except (InvalidSignature, ValueError):
            return False
        return True


async def chain_heads(db: Database) -> dict[str, list[Any]]:
    """For every session with events: ``[event count, last event's hash]``."""
    async with db.sessions() as session:
        last = (
            select(SessionEvent.session_id, func.max(SessionEvent.seq).label("seq"))
            .group_by(SessionEvent.session_id)
            .subquery()
        )
        rows = await session.execute(
            select(SessionEvent.session_id, SessionEvent.seq, SessionEvent.hash).join(
                last,
                (SessionEvent.session_id == last.c.session_id) & (SessionEvent.seq == last.c.seq),
            )
        )
        return {row.session_id: [row.seq, row.hash] for row in rows}


async def make_checkpoint(db: Database, key: Ed25519PrivateKey) -> Checkpoint:
    """Sign and store the current heads of every chain."""
    heads = await chain_heads(db)
    created = utcnow()
    stamp = created.isoformat()
    signature = base64.b64encode(key.sign(signed_bytes(stamp, heads))).decode()
    row = ChainCheckpoint(created_at=created, heads=heads, key_id=key_id(key), signature=signature)
    async with db.sessions() as session:
        session.add(row)
        await session.commit()
        checkpoint = Checkpoint(row.id, stamp, heads, row.key_id, row.signature)
    log.info("checkpoint %d signed: %d session chains", checkpoint.id, len(heads))
    return checkpoint


async def latest_checkpoint(db: Database) -> Checkpoint | None:
    """The newest stored checkpoint, or ``None`` before the first."""
    async with db.sessions() as session:
        row = await session.scalar(
            select(ChainCheckpoint).order_by(ChainCheckpoint.id.desc()).limit(1)
        )
    if row is None:
        return None
    return Checkpoint(row.id, row.created_at.isoformat(), row.heads, row.key_id, row.signature)
