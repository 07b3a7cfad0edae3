"""The staff log: every supervisor action as one append-only SHA-256 hash chain.

Same canonical encoding as session events (:func:`storage.audit.event_hash`), with the
chain id ``"staff"`` in place of a session id, so one verifier checks both.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.audit import GENESIS_HASH, ChainBreak, ChainReport, event_hash
from storage.db import Database
from storage.errors import StorageError
from storage.models import StaffEvent, utcnow

log = logging.getLogger(__name__)

CHAIN_ID = "staff"


def staff_event_hash(seq: int, event: StaffEvent) -> str:
    """What ``event.hash`` must equal for a staff event at ``seq``."""
    payload = {"session_id": event.session_id, **event.payload}
    return event_hash(
        CHAIN_ID, seq, event.kind, event.actor, payload, event.created_at, event.prev_hash
    )


class StaffLog:
    """Appends supervisor actions and checks their chain."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(
        self, actor: str, kind: str, payload: dict[str, Any], session_id: str | None = None
    ) -> StaffEvent:
        """Record that ``actor`` did ``kind`` (about ``session_id``, if any)."""
        async with self.db.lock("audit:staff"):
            for _ in range(3):
                try:
                    return await self._append_once(actor, kind, payload, session_id)
                except IntegrityError:
                    # another process took the same seq; read the new head and try again
                    continue
        raise StorageError(
            f"could not record {kind!r} by {actor}: other writers keep taking the same"
            " sequence number; check that only vcounter writes staff_events"
        )

    async def _append_once(
        self, actor: str, kind: str, payload: dict[str, Any], session_id: str | None
    ) -> StaffEvent:
        async with self.db.sessions() as db_session, db_session.begin():
            head = (
                await db_session.execute(
                    select(StaffEvent.seq, StaffEvent.hash).order_by(StaffEvent.seq.desc()).limit(1)
                )
            ).first()
            seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS_HASH)
            event = StaffEvent(
                seq=seq,
                actor=actor,
                kind=kind,
                session_id=session_id,
                payload=payload,
                created_at=utcnow(),
                prev_hash=prev_hash,
            )
            event.hash = staff_event_hash(seq, event)
            db_session.add(event)
        log.info("staff %s by %s%s", kind, actor, f" on session {session_id}" if session_id else "")
        return event

    async def events(self, session_id: str | None = None) -> list[StaffEvent]:
        """All staff events in order, or only those about ``session_id``."""
        query = select(StaffEvent).order_by(StaffEvent.seq)
        if session_id is not None:
            query = query.where(StaffEvent.session_id == session_id)
        async with self.db.sessions() as db_session:
            return list(await db_session.scalars(query))

    async def verify(self) -> ChainReport:
        """Recompute the staff chain and report its first break."""
        events = await self.events()
        prev = GENESIS_HASH
        for expected, event in enumerate(events, start=1):
            found = staff_event_hash(event.seq, event)
            reason = None
            if found != event.hash:
                reason, want, got = "hash mismatch", found, event.hash
            elif event.seq != expected:
                reason, want, got = "sequence gap", str(expected), str(event.seq)
            elif event.prev_hash != prev:
                reason, want, got = "prev_hash does not link", prev, event.prev_hash
            if reason is not None:
                brk = ChainBreak(event.seq, event.id, reason, want, got)
                return ChainReport(CHAIN_ID, False, len(events), brk)
            prev = event.hash
        return ChainReport(CHAIN_ID, True, len(events))
