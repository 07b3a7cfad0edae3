"""Checking a session's audit trail whole: its chain, the blobs it names, the checkpoints.

:func:`verify_session` reports the first problem found, precisely: which event (by
``seq``) or which stored file (recording segment, document) and what was expected against
what was found.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from storage.audit import AuditLog
from storage.blobs import FileBlobStore, sha256_hex
from storage.checkpoints import Checkpoint
from storage.db import Database
from storage.models import SessionEvent


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify."""

    where: str  # "event 7", "applicant segment 2 (event 12)", "checkpoint 3"
    what: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: expected {self.expected}, found {self.found}"


@dataclass
class SessionReport:
    session_id: str
    events: int = 0
    blobs: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Which events name stored files, and where in their payload: a hash that names no stored
# file (a refused upload's, an override reason's) must not be reported as a missing file.
_FILE_KEYS: dict[str, tuple[str, ...]] = {
    "document.added": ("sha256",),  # an applicant's scan or import (signaling/documents.py)
    "material.reviewed": ("pdf_sha256",),  # an accepted material as one PDF
    "document.stored": ("sha256",),  # a form, receipt or result PDF (signaling/paperwork)
    "form.generated": ("sha256",),
    "signature.captured": ("sha256",),  # the strokes as evidence
}


def blob_refs(kind: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """``(description, sha256)`` of every stored file an event of ``kind`` names."""
    refs: list[tuple[str, str]] = []
    if kind == "recording.segment":
        refs.append((f"{payload.get('side')} segment {payload.get('index')}", payload["sha256"]))
    elif kind == "identity.result":
        for ref in payload.get("evidence") or []:
            if isinstance(ref, dict) and isinstance(ref.get("sha256"), str):
                refs.append((f"identity evidence ({ref.get('kind', 'picture')})", ref["sha256"]))
    for key in _FILE_KEYS.get(kind, ()):
        if isinstance(payload.get(key), str):
            refs.append(
                (f"{kind} {key.removesuffix('sha256').rstrip('_') or 'file'}", payload[key])
            )
    return refs


async def verify_session(
    db: Database,
    blobs: FileBlobStore,
    session_id: str,
    checkpoint: Checkpoint | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> SessionReport:
    """Recompute ``session_id``'s chain, re-hash the files it names, compare with a checkpoint."""
    audit = AuditLog(db)
    report = SessionReport(session_id)
    chain = await audit.verify(session_id)
    events = await audit.events(session_id)
    report.events = len(events)
    if chain.first_break is not None:
        b = chain.first_break
        report.problems.append(Problem(f"event {b.seq}", b.reason, b.expected, b.found))
    for event in events:
        for description, digest in blob_refs(event.kind, event.payload):
            report.blobs += 1
            where = f"{description} (event {event.seq})"
            try:
                data = await asyncio.to_thread(blobs.path(digest).read_bytes)
            except FileNotFoundError:
                report.problems.append(Problem(where, "file missing", digest, "nothing"))
                continue
            found = sha256_hex(data)
            if found != digest:
                report.problems.append(Problem(where, "file changed", digest, found))
    if checkpoint is not None:
        report.problems += check_against(checkpoint, session_id, events, public_key)
    return report


def check_against(
    checkpoint: Checkpoint,
    session_id: str,
    events: list[SessionEvent],
    public_key: Ed25519PublicKey | None,
) -> list[Problem]:
    """What a signed checkpoint says this chain had, against what it has."""
    where = f"checkpoint {checkpoint.id} of {checkpoint.created_at}"
    if public_key is not None and not checkpoint.signature_ok(public_key):
        return [Problem(where, "signature does not verify", "a valid signature", "a bad one")]
    head = checkpoint.heads.get(session_id)
    if head is None:
        return []
    count, head_hash = int(head[0]), str(head[1])
    if len(events) < count:
        last = events[-1].seq if events else 0
        return [
            Problem(
                where,
                "events deleted from the end of the chain",
                f"at least {count} events (last hash {head_hash[:16]}…)",
                f"{len(events)} (last seq {last})",
            )
        ]
    at = events[count - 1]
    if at.hash != head_hash:
        return [
            Problem(f"event {at.seq}", "differs from the signed checkpoint", head_hash, at.hash)
        ]
    return []
