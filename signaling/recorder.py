"""Writes live session changes to the store: the session row and its hash-chained events.

Writes go through one ordered queue drained by a background task, so a call's signalling
never waits for the disk: the router changes state, sends its messages, and the store
catches up a few milliseconds later, in the same order. :meth:`SessionRecorder.drain`
waits for the store to catch up (before reading back, and on shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from signaling.errors import IllegalTransition, NotYourSession
from signaling.logs import context_log
from storage import store
from storage.audit import AuditLog
from storage.db import Database
from storage.errors import NotFound, VcounterError

log = logging.getLogger(__name__)

Write = Callable[[], Awaitable[None]]


class SessionRecorder:
    """The one place the router persists to; swap it to record elsewhere."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.audit = AuditLog(db)
        self._writes: asyncio.Queue[tuple[str, Write]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.failed_writes = 0

    async def create(
        self, terminal_id: int, service_id: str, language: str, actor: str, care_mode: bool = False
    ) -> str:
        """Queue the session row and its first event; returns the new session id at once."""
        session_id = uuid.uuid4().hex
        payload = {
            "service_id": service_id,
            "language": language,
            "terminal_id": terminal_id,
            "care_mode": care_mode,
        }

        async def write() -> None:
            await store.create_session(
                self.db,
                terminal_id,
                service_id,
                language,
                care_mode=care_mode,
                session_id=session_id,
            )
            await self.audit.append(session_id, "session.created", actor, payload)

        self._enqueue(session_id, write)
        return session_id

    async def record(
        self,
        session_id: str,
        kind: str,
        actor: str,
        payload: dict[str, Any] | None = None,
        **row: Any,
    ) -> None:
        """Queue event ``kind``; ``row`` fields (``state``, ``*_at=True`` for now) update the row."""
        now = datetime.now(UTC)
        fields = {k: (now if v is True and k.endswith("_at") else v) for k, v in row.items()}

        async def write() -> None:
            if fields:
                await store.update_session(self.db, session_id, **fields)
            await self.audit.append(session_id, kind, actor, payload or {})

        self._enqueue(session_id, write)

    async def rate(
        self, session_id: str, terminal_id: int, rating: int, comment: str, actor: str
    ) -> None:
        """Store the applicant's rating of an ended call of ``terminal_id``; once per call."""
        await self.drain()
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

    async def drain(self) -> None:
        """Wait until everything queued so far is in the store."""
        await self._writes.join()

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        await self.drain()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def _enqueue(self, session_id: str, write: Write) -> None:
        self._writes.put_nowait((session_id, write))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            session_id, write = await self._writes.get()
            try:
                await write()
            except (VcounterError, SQLAlchemyError, OSError) as exc:
                # The call goes on; the gap shows up in the audit (and in this log line).
                self.failed_writes += 1
                context_log(log, session_id, "server").error("store write failed: %s", exc)
            finally:
                self._writes.task_done()
