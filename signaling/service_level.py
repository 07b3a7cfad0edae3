"""Service-level figures from the stored sessions: speed of answer, abandonment, target share.

Definitions (the contact-centre ones): a *request* is a session that entered the queue; it
is *answered* when a clerk accepted it (``answered_at``), *abandoned* when it ended before
that (the applicant cancelled, walked away or the kiosk dropped). ASA averages request to
answer over answered sessions; abandonment and the within-target share are taken over
answered + abandoned, so sessions still waiting do not count either way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from signaling.supervisor_messages import ServiceLevel, ServiceLevelRow
from storage.db import Database
from storage.models import CallSession

ABANDONED_STATES = frozenset({"cancelled", "failed", "ended"})


def _row(service_id: str | None, rows: list[CallSession], target_s: int) -> ServiceLevelRow:
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


async def service_level(
    db: Database, since: datetime, until: datetime, target_s: int
) -> ServiceLevel:
    """Figures for sessions requested in ``[since, until)``, per service and in total."""
    async with db.sessions() as session:
        rows = list(
            await session.scalars(
                select(CallSession).where(
                    CallSession.created_at >= since, CallSession.created_at < until
                )
            )
        )
    by_service: dict[str, list[CallSession]] = {}
    for row in rows:
        by_service.setdefault(row.service_id, []).append(row)
    return ServiceLevel(
        since=since,
        until=until,
        target_s=target_s,
        total=_row(None, rows, target_s),
        services=[_row(sid, by_service[sid], target_s) for sid in sorted(by_service)],
    )
