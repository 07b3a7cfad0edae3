"""Checking a session's audit trail whole: its chain, the blobs it names, the checkpoints.

:func:`verify_session` reports the first problem found, precisely: which event (by
``seq``) or which stored file (recording segment, document) and what was expected against
what was found.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from storage.audit import AuditLog
from storage.blobs import FileBlobStore, sha256_hex
from storage.checkpoints import Checkpoint
from storage.db import Database
from storage.problems import Problem
from storage.staff_audit import StaffLog
from storage.trail import ChainEvent, Policy, chain_against

__all__ = ["Problem", "SessionReport", "blob_refs", "verify_session", "verify_staff"]


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
    "department.answered": ("answer_sha256",),  # a department's answer (signaling/self_service)
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
    checkpoints: list[Checkpoint] | None = None,
    policy: Policy | None = None,
) -> SessionReport:
    """Recompute ``session_id``'s chain, re-hash the files it names, hold it against checkpoints.

    Without ``checkpoints`` and ``policy`` only the chain and the files are checked, which
    whoever holds the database can make pass by rewriting every hash.
    """
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
    if checkpoints is not None and policy is not None:
        chain_events = [ChainEvent(e.seq, e.hash, e.created_at) for e in events]
        report.problems += chain_against("chain", session_id, chain_events, checkpoints, policy)
    # last: a rewrite that the checks above name precisely also leaves the row behind
    row = await audit.row_disagrees(session_id, events)
    if row is not None:
        report.problems.append(Problem("session row", row.reason, row.expected, row.found))
    return report


async def verify_staff(
    db: Database, checkpoints: list[Checkpoint], policy: Policy
) -> list[Problem]:
    """The staff log: its own chain, and its head against every checkpoint (a deleted tail)."""
    staff = StaffLog(db)
    problems = []
    report = await staff.verify()
    if report.first_break is not None:
        b = report.first_break
        problems.append(Problem(f"staff log event {b.seq}", b.reason, b.expected, b.found))
    events = [ChainEvent(e.seq, e.hash, e.created_at) for e in await staff.events()]
    return problems + chain_against("staff log", None, events, checkpoints, policy)
