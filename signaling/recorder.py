"""Writes live session changes to the store: the session row and its hash-chained events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from signaling.errors import IllegalTransition, NotYourSession
from storage import store
from storage.audit import AuditLog
from storage.db import Database
from storage.errors import NotFound


class SessionRecorder:
    """The one place the router persists to; swap it to record elsewhere."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)

    async def create(
        self, terminal_id: int, service_id: str, language: str, actor: str, care_mode: bool = False
    ) -> str:
        """Create the session row and its first event; returns the new session id."""
        row = await store.create_session(
            self.db, terminal_id, service_id, language, care_mode=care_mode
        )
        await self.audit.append(
            row.id,
            "session.created",
            actor,
            {
                "service_id": service_id,
                "language": language,
                "terminal_id": terminal_id,
                "care_mode": care_mode,
            },
        )
        return row.id

    async def rate(
        self, session_id: str, terminal_id: int, rating: int, comment: str, actor: str
    ) -> None:
        """Store the applicant's rating of an ended call of ``terminal_id``; once per call."""
        try:
            row = await store.get_session(self.db, session_id)
        except NotFound:
            row = None
        if row is None or row.terminal_id != terminal_id:
            raise NotYourSession(f"Session {session_id} is not a call of this terminal")
        if row.answered_at is None:
            raise IllegalTransition(
                f"Session {session_id} never reached a clerk ({row.state}); there is no call to rate"
            )
        if row.rating is not None:
            raise IllegalTransition(f"Session {session_id} has already been rated")
        await store.update_session(self.db, session_id, rating=rating, rating_comment=comment)
        await self.audit.append(
            session_id, "session.rated", actor, {"rating": rating, "comment": comment}
        )

    async def record(
        self,
        session_id: str,
        kind: str,
        actor: str,
        payload: dict[str, Any] | None = None,
        **row: Any,
    ) -> None:
        """Append event ``kind``; ``row`` fields (``state``, ``*_at=True`` for now) update the row."""
        if row:
            now = datetime.now(UTC)
            fields = {k: (now if v is True and k.endswith("_at") else v) for k, v in row.items()}
            await store.update_session(self.db, session_id, **fields)
        await self.audit.append(session_id, kind, actor, payload or {})
