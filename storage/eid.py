"""e-ID sign-in attempts in the store; each state change commits with its chain event.

::

    started -> opened -> exchanging -> finished
       |          |            \\-> refused
       |          \\-> refused | expired
       \\-> refused | expired | cancelled      (opened -> cancelled too)

``started``: the kiosk shows the QR code. ``opened``: the phone followed the short link (a
second open is refused: the link is single use). ``exchanging``: the provider's answer came
back and is being checked; taking this state is what makes the answer single use, so a
replayed callback (the same ``state`` again) finds it taken. :func:`move` is the one setter:
it checks :data:`TRANSITIONS`, logs ``old -> new`` and appends the chain event.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import select

from storage.audit import append_in
from storage.db import Database
from storage.errors import NotFound, StorageError
from storage.models import EidAttempt, utcnow

log = logging.getLogger(__name__)


class AttemptState(StrEnum):
    STARTED = "started"
    OPENED = "opened"
    EXCHANGING = "exchanging"
    FINISHED = "finished"
    REFUSED = "refused"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


A = AttemptState
TRANSITIONS: Final[dict[AttemptState, frozenset[AttemptState]]] = {
    A.STARTED: frozenset({A.OPENED, A.REFUSED, A.EXPIRED, A.CANCELLED}),
    A.OPENED: frozenset({A.EXCHANGING, A.REFUSED, A.EXPIRED, A.CANCELLED}),
    A.EXCHANGING: frozenset({A.FINISHED, A.REFUSED}),
    A.FINISHED: frozenset(),
    A.REFUSED: frozenset(),
    A.EXPIRED: frozenset(),
    A.CANCELLED: frozenset(),
}
EVENTS: Final[dict[AttemptState, str]] = {
    A.STARTED: "eid.started",
    A.OPENED: "eid.opened",
    A.EXCHANGING: "eid.answered",
    A.FINISHED: "eid.finished",
    A.REFUSED: "eid.refused",
    A.EXPIRED: "eid.expired",
    A.CANCELLED: "eid.cancelled",
}
ENDED: Final = frozenset({A.FINISHED, A.REFUSED, A.EXPIRED, A.CANCELLED})


class AttemptConflict(StorageError):
    """The attempt cannot go from its state to the one asked (already used, ended)."""

    code = "eid_attempt_conflict"

    def __init__(self, message: str, current: AttemptState) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class AttemptRecord:
    """An attempt as the rest of the server sees it (a detached copy of the row)."""

    id: str
    link: str
    state: str
    nonce: str
    verifier: str
    session_id: str
    terminal_id: int
    provider: str
    language: str
    status: AttemptState
    outcome: str | None
    created_at: datetime
    expires_at: datetime

    def facts(self) -> dict[str, Any]:
        """What every chain event of the attempt records (never the secrets)."""
        return {"attempt_id": self.id, "provider": self.provider}

    def expired(self, now: datetime | None = None) -> bool:
        return (now or utcnow()) >= self.expires_at


def _record(row: EidAttempt) -> AttemptRecord:
    return AttemptRecord(
        row.id, row.link, row.state, row.nonce, row.verifier, row.session_id, row.terminal_id,
        row.provider, row.language, AttemptState(row.status), row.outcome, row.created_at,
        row.expires_at,
    )  # fmt: skip


async def begin(
    db: Database,
    session_id: str,
    terminal_id: int,
    provider: str,
    language: str,
    verifier: str,
    ttl_s: int,
    actor: str,
) -> AttemptRecord:
    """A new attempt with fresh ``link``, ``state`` and ``nonce``; earlier open attempts of
    the session are cancelled (only the newest QR code works)."""
    now = utcnow()
    async with db.transaction() as tx:
        await tx.hold(f"audit:{session_id}")
        older = await tx.session.scalars(
            select(EidAttempt)
            .where(EidAttempt.session_id == session_id)
            .where(EidAttempt.status.in_([A.STARTED.value, A.OPENED.value]))
            .with_for_update()
        )
        for row in older:
            row.status, row.updated_at = A.CANCELLED.value, now
            await append_in(
                tx.session, session_id, EVENTS[A.CANCELLED], actor,
                {**_record(row).facts(), "why": "a new QR code was asked for"},
            )  # fmt: skip
        row = EidAttempt(
            link=secrets.token_urlsafe(16), state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32), verifier=verifier, session_id=session_id,
            terminal_id=terminal_id, provider=provider, language=language,
            status=A.STARTED.value, created_at=now, updated_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )  # fmt: skip
        tx.session.add(row)
        await tx.session.flush()
        record = _record(row)
        await append_in(
            tx.session, session_id, EVENTS[A.STARTED], actor,
            {**record.facts(), "expires_in_s": ttl_s},
        )  # fmt: skip
    log.info("e-ID attempt %s of session %s started (%s)", record.id, session_id, provider)
    return record


async def by_link(db: Database, link: str) -> AttemptRecord:
    """The attempt a phone's short link names; :class:`NotFound` if none."""
    async with db.reads() as s:
        row = await s.scalar(select(EidAttempt).where(EidAttempt.link == link))
    if row is None:
        raise NotFound("no e-ID sign-in has this link")
    return _record(row)


async def by_state(db: Database, state: str) -> AttemptRecord:
    """The attempt whose ``state`` the provider sent back; :class:`NotFound` if none."""
    async with db.reads() as s:
        row = await s.scalar(select(EidAttempt).where(EidAttempt.state == state))
    if row is None:
        raise NotFound("no e-ID sign-in has this state")
    return _record(row)


async def get(db: Database, attempt_id: str) -> AttemptRecord:
    """One attempt by id; :class:`NotFound` if there is none."""
    async with db.reads() as s:
        row = await s.get(EidAttempt, attempt_id)
    if row is None:
        raise NotFound(f"no e-ID attempt {attempt_id!r}")
    return _record(row)


async def move(
    db: Database,
    attempt_id: str,
    new: AttemptState,
    actor: str,
    extra: dict[str, Any] | None = None,
    also: list[tuple[str, dict[str, Any]]] | None = None,
) -> AttemptRecord:
    """Set the attempt's state (checked) and append its chain event, and ``also`` events
    (kind, payload) after it, in one transaction. :class:`AttemptConflict` if the attempt is
    no longer in a state that may become ``new``."""
    async with db.reads() as s:
        session_id = await s.scalar(
            select(EidAttempt.session_id).where(EidAttempt.id == attempt_id)
        )
    if session_id is None:
        raise NotFound(f"no e-ID attempt {attempt_id!r}")
    async with db.transaction() as tx:
        await tx.hold(f"audit:{session_id}")
        row = await tx.session.get(EidAttempt, attempt_id, with_for_update=True)
        assert row is not None
        old = AttemptState(row.status)
        if new not in TRANSITIONS[old]:
            raise AttemptConflict(
                f'e-ID attempt {attempt_id} is "{old}" and cannot become "{new}"', old
            )
        row.status, row.updated_at = new.value, utcnow()
        if new == A.REFUSED and extra is not None and isinstance(extra.get("code"), str):
            row.outcome = extra["code"]
        record = _record(row)
        await append_in(
            tx.session, session_id, EVENTS[new], actor, {**record.facts(), **(extra or {})}
        )
        for kind, payload in also or []:
            await append_in(tx.session, session_id, kind, actor, payload)
    log.info("e-ID attempt %s of session %s: %s -> %s", attempt_id, session_id, old, new)
    return record


async def note(
    db: Database, record: AttemptRecord, kind: str, actor: str, extra: dict[str, Any]
) -> None:
    """A chain event about the attempt that changes nothing (a refused replay)."""
    async with db.transaction() as tx:
        await tx.hold(f"audit:{record.session_id}")
        await append_in(tx.session, record.session_id, kind, actor, {**record.facts(), **extra})
