"""Sessions without a clerk (self-service): opened, and ended, with their chain events.

A self-service session is a ``sessions`` row in state ``self_service``: never queued, never
offered, not a kiosk's active call (the partial unique indexes and the matcher leave it
alone). It ends ``ended`` when the document is printed or the applicant leaves, or
``handed_over`` to a clerk's call; each end is one chain event in the same write.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from storage import rows
from storage.db import Database
from storage.errors import NotFound
from storage.models import CallSession
from storage.routing import db_now
from storage.rows import SESSIONS, Record
from storage.states import move_session

STATE = "self_service"


async def open_session(
    db: Database,
    *,
    session_id: str,
    terminal_id: int,
    service_id: str,
    department_id: str,
    language: str,
    care_mode: bool,
    actor: str,
    payload: dict[str, Any],
) -> None:
    """Store a new self-service session with its first event (``self_service.requested``)."""
    async with rows.transaction(db) as tx:
        await tx.hold(f"audit:{session_id}")
        now = await tx.clock()
        row = Record.made(
            SESSIONS, id=session_id, terminal_id=terminal_id, service_id=service_id,
            department_id=department_id, language=language, state=STATE, care_mode=care_mode,
            created_at=now, version=1, declined_by=[], ice_servers=[], step=1,
        )  # fmt: skip
        tx.add(row)
        tx.chain(row, "self_service.requested", actor, payload, first=True)


async def finish(
    db: Database, session_id: str, reason: str, actor: str, payload: dict[str, Any]
) -> bool:
    """End a self-service session (``reason``: printed, left, handed_over, ...) with a
    ``self_service.finished`` event; False if it had ended already."""
    async with rows.transaction(db) as tx:
        locked = await tx.session(session_id)
        if locked is None:
            raise NotFound(f"no session {session_id!r}")
        row = locked.row
        if row.state != STATE:
            return False
        move_session(row, "ended")
        row.ended_at = locked.now
        row.end_reason = f"self_service_{reason}"
        row.version = row.version + 1
        tx.chain(row, "self_service.finished", actor, {"reason": reason, **payload})
        return True


async def open_of_terminal(db: Database, terminal_id: int) -> list[str]:
    """The kiosk's self-service sessions not yet ended (an applicant who walked away)."""
    async with db.sessions() as session:
        found = await session.scalars(
            select(CallSession.id).where(
                CallSession.terminal_id == terminal_id, CallSession.state == STATE
            )
        )
        return list(found)


async def abandoned(db: Database, older_than_s: float) -> list[str]:
    """Self-service sessions still open ``older_than_s`` after they began (read without a
    lock: :func:`finish` ends each once, whichever process gets there first)."""
    async with db.sessions() as session:
        now = await db_now(session)
        found = await session.scalars(
            select(CallSession.id).where(
                CallSession.state == STATE,
                CallSession.created_at < now - timedelta(seconds=older_than_s),
            )
        )
        return list(found)
