"""Finding sessions and putting one back together: summary, timeline, both recordings.

Everything comes from the store: the session row, its hash-chained events and the
``recording.segment`` events' files. The timeline's clock is the recording's ``t0`` (epoch
seconds, the same on both sides), so an event at ``t_s`` is that many seconds into either
video.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from signaling.recordings import SEGMENT_EVENT
from signaling.supervisor_messages import (
    RecordingSide,
    ReplayView,
    SessionSearch,
    SessionSummary,
    TimelineEvent,
)
from signaling.trail_check import TrailCheck
from storage.audit import AuditLog
from storage.db import Database
from storage.errors import NotFound
from storage.models import CallSession, Clerk, SessionEvent, Terminal
from storage.staff_audit import StaffLog
from storage.verify import blob_refs

SEARCH_LIMIT = 200
# payload keys later features use for the numbers supervisors search by
ACCEPTANCE_KEYS = ("acceptance_number", "acceptance_no")
DOCUMENT_KEYS = ("document_number",)


@dataclass(frozen=True)
class SearchFilter:
    """What a supervisor searches by; every field is optional and they combine with AND."""

    acceptance_number: str | None = None
    document_number: str | None = None
    clerk: str | None = None
    service_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None


def _first(payloads: list[dict[str, Any]], keys: tuple[str, ...]) -> str | None:
    for payload in payloads:
        # identity.result keeps the document read under "document"
        for source in (payload, payload.get("document"), payload.get("fields"), payload.get("eid")):
            if not isinstance(source, dict):
                continue
            for key in keys:
                value = source.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


def _decision(events: list[SessionEvent]) -> str | None:
    for event in reversed(events):
        if event.kind.startswith("decision") and isinstance(event.payload.get("outcome"), str):
            return str(event.payload["outcome"])
    return None


async def search_sessions(db: Database, wanted: SearchFilter) -> SessionSearch:
    """Sessions matching ``wanted``, newest first, at most :data:`SEARCH_LIMIT`."""
    query = (
        select(CallSession, Terminal.name, Clerk.username)
        .join(Terminal, Terminal.id == CallSession.terminal_id)
        .outerjoin(Clerk, Clerk.id == CallSession.clerk_id)
        .order_by(CallSession.created_at.desc())
    )
    if wanted.clerk:
        query = query.where(Clerk.username == wanted.clerk)
    if wanted.service_id:
        query = query.where(CallSession.service_id == wanted.service_id)
    if wanted.since:
        query = query.where(CallSession.created_at >= wanted.since)
    if wanted.until:
        query = query.where(CallSession.created_at < wanted.until)
    by_number = wanted.acceptance_number or wanted.document_number
    found: list[SessionSummary] = []
    async with db.sessions() as session:
        rows = (await session.execute(query)).all()
        for row, terminal_name, clerk_name in rows:
            events = list(
                await session.scalars(
                    select(SessionEvent)
                    .where(SessionEvent.session_id == row.id)
                    .order_by(SessionEvent.seq)
                )
            )
            summary = _summary(row, terminal_name, clerk_name, events)
            if wanted.acceptance_number and summary.acceptance_number != wanted.acceptance_number:
                continue
            payloads = [e.payload for e in events if e.kind.startswith("identity")]
            if wanted.document_number and _first(payloads, DOCUMENT_KEYS) != wanted.document_number:
                continue
            if wanted.outcome and wanted.outcome not in (summary.state, summary.decision):
                continue
            found.append(summary)
            if len(found) > SEARCH_LIMIT or (by_number and found):
                break
    return SessionSearch(sessions=found[:SEARCH_LIMIT], truncated=len(found) > SEARCH_LIMIT)


def _summary(
    row: CallSession, terminal_name: str, clerk_name: str | None, events: list[SessionEvent]
) -> SessionSummary:
    return SessionSummary(
        id=row.id,
        service_id=row.service_id,
        terminal_name=terminal_name,
        clerk=clerk_name,
        language=row.language,
        state=row.state,
        end_reason=row.end_reason,
        created_at=row.created_at,
        ended_at=row.ended_at,
        care_mode=row.care_mode,
        rating=row.rating,
        recorded=any(e.kind == SEGMENT_EVENT for e in events),
        acceptance_number=_first([e.payload for e in events], ACCEPTANCE_KEYS),
        decision=_decision(events),
    )


async def replay_view(
    db: Database, session_id: str, base_url: str, trail: TrailCheck | None = None
) -> ReplayView:
    """The replay of one session; raises :class:`~storage.errors.NotFound` for an unknown id.

    With ``trail`` the chain badge also holds the chain against the signed checkpoints.
    """
    found = await search_by_id(db, session_id)
    audit = AuditLog(db)
    events = await audit.events(session_id)
    chain = await audit.verify(session_id)
    segments = [e.payload for e in events if e.kind == SEGMENT_EVENT]
    t0 = float(segments[0]["t0"]) if segments else None
    timeline = [
        TimelineEvent(
            seq=e.seq,
            kind=e.kind,
            actor=e.actor,
            created_at=e.created_at,
            t_s=round(e.created_at.timestamp() - t0, 3) if t0 is not None else None,
            payload=e.payload,
            files=[digest for _, digest in blob_refs(e.kind, e.payload)],
        )
        for e in events
    ]
    recordings = []
    for side in ("applicant", "clerk", "document"):
        mine = [s for s in segments if s["side"] == side]
        if mine:
            recordings.append(
                RecordingSide(
                    side=side,
                    segments=len(mine),
                    start_s=min(s["start_ms"] for s in mine) / 1000,
                    end_s=max(s["end_ms"] for s in mine) / 1000,
                    url=f"{base_url}/api/supervisor/sessions/{session_id}/recording/{side}.webm",
                )
            )
    watched = [
        f"{e.actor} {e.created_at.isoformat(timespec='seconds')}"
        for e in await StaffLog(db).events(session_id)
        if e.kind == "replay.opened"
    ]
    problem = None
    if chain.first_break is not None:
        b = chain.first_break
        problem = f"event {b.seq}: {b.reason} (expected {b.expected}, found {b.found})"
    elif trail is not None and (held := await trail.problems(session_id, events)):
        problem = str(held[0])
    return ReplayView(
        session=found,
        t0=t0,
        events=timeline,
        recordings=recordings,
        chain_ok=problem is None,
        chain_problem=problem,
        watched_by=watched,
    )


async def search_by_id(db: Database, session_id: str) -> SessionSummary:
    """One session's summary; raises :class:`~storage.errors.NotFound`."""
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(CallSession, Terminal.name, Clerk.username)
                .join(Terminal, Terminal.id == CallSession.terminal_id)
                .outerjoin(Clerk, Clerk.id == CallSession.clerk_id)
                .where(CallSession.id == session_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"no session {session_id!r}; search for it by number, clerk or date")
        events = list(
            await session.scalars(
                select(SessionEvent)
                .where(SessionEvent.session_id == session_id)
                .order_by(SessionEvent.seq)
            )
        )
    return _summary(row[0], row[1], row[2], events)
