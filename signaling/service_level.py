"""Service-level figures from the stored sessions: speed of answer, abandonment, target share.

Definitions (the contact-centre ones): a *request* is a session that entered the queue; it
is *answered* when a clerk accepted it (``answered_at``), *abandoned* when it ended before
that (the applicant cancelled, walked away or the kiosk dropped). ASA averages request to
answer over answered sessions; abandonment and the within-target share are taken over
answered + abandoned, so sessions still waiting do not count either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, select

from signaling.supervisor_messages import ServiceLevel, ServiceLevelRow
from storage.db import Database
from storage.models import CallSession

ABANDONED_STATES = frozenset({"cancelled", "failed", "ended"})


def summarise(service_id: str | None, rows: Sequence[Row[Any]], target_s: int) -> ServiceLevelRow:
    """The figures of ``rows`` (sessions of one service, or of any, with ``service_id`` None)."""
    waits = [
        (r.answered_at - r.created_at).total_seconds() for r in rows if r.answered_at is not None
    ]
    abandoned = sum(1 for r in rows if r.answered_at is None and r.state in ABANDONED_STATES)
    decided = len(waits) + abandoned
    return ServiceLevelRow(
        service_id=service_id,
        requests=len(rows),
        answered=len(waits),
        abandoned=abandoned,
        asa_s=round(sum(waits) / len(waits), 2) if waits else None,
        abandonment_rate=round(abandoned / decided, 4) if decided else None,
        within_target_rate=(
            round(sum(1 for w in waits if w <= target_s) / decided, 4) if decided else None
        ),
    )


async def sessions_between(db: Database, since: datetime, until: datetime) -> list[Row[Any]]:
    """What the figures need of every session requested in ``[since, until)``: its service,
    state, request and answer times (a wallboard reads this often; whole rows cost more)."""
    async with db.reads() as session:
        result = await session.execute(
            select(
                CallSession.service_id,
                CallSession.state,
                CallSession.created_at,
                CallSession.answered_at,
            ).where(CallSession.created_at >= since, CallSession.created_at < until)
        )
        return [cast("Row[Any]", r) for r in result.all()]


async def service_level(
    db: Database, since: datetime, until: datetime, target_s: int
) -> ServiceLevel:
    """Figures for sessions requested in ``[since, until)``, per service and in total."""
    rows = await sessions_between(db, since, until)
    by_service: dict[str, list[Row[Any]]] = {}
    for row in rows:
        by_service.setdefault(row.service_id, []).append(row)
    return ServiceLevel(
        since=since,
        until=until,
        target_s=target_s,
        total=summarise(None, rows, target_s),
        services=[summarise(sid, by_service[sid], target_s) for sid in sorted(by_service)],
    )
