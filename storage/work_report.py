"""Occupancy and handling time per clerk and per service, from the clerks' state log.

A clerk's state from one log row lasts until their next row (or the end of the period, or
now). Talk is time busy (or away while still in the call: a clerk may press "away" during
a call and go on talking); wrap-up is time in wrap-up; away is time away outside a call, by
reason; on duty is every state but offline.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from storage.db import Database
from storage.errors import InvalidValue
from storage.models import CallSession, Clerk, ClerkStateLog


@dataclass
class ClerkWork:
    """One clerk's figures over the period, in seconds."""

    clerk_id: int
    username: str
    display_name: str
    on_duty_s: float = 0.0
    talk_s: float = 0.0
    wrap_up_s: float = 0.0
    away_s: dict[str, float] = field(default_factory=dict)
    calls: int = 0

    @property
    def occupancy(self) -> float | None:
        """(talk + wrap-up) / (on duty - away); None with no time available for calls."""
        available = self.on_duty_s - sum(self.away_s.values())
        if available <= 0:
            return None
        return (self.talk_s + self.wrap_up_s) / available


@dataclass
class ServiceWork:
    """One service's calls over the period, their talk and wrap-up in seconds."""

    service_id: str
    calls: int = 0
    talk_s: float = 0.0
    wrap_up_s: float = 0.0

    @property
    def average_talk_s(self) -> float:
        return self.talk_s / self.calls if self.calls else 0.0

    @property
    def average_wrap_up_s(self) -> float:
        return self.wrap_up_s / self.calls if self.calls else 0.0

    @property
    def average_handling_s(self) -> float:
        return self.average_talk_s + self.average_wrap_up_s


@dataclass(frozen=True)
class WorkReport:
    """The work report of ``since``..``until``."""

    since: datetime
    until: datetime
    clerks: list[ClerkWork]
    services: list[ServiceWork]


# the reason an away interval with none given is counted under (signed in, not yet available;
# an unanswered call parked the clerk)
NO_REASON = "none"


async def work_report(db: Database, since: datetime, until: datetime) -> WorkReport:
    """Each clerk's and each service's figures over ``since``..``until`` (until now at most)."""
    if until <= since:
        raise InvalidValue(
            f"the period ends ({until.isoformat()}) before it starts ({since.isoformat()});"
            " swap since and until"
        )
    async with db.reads() as s:
        now = datetime.now(UTC)
        end = min(until, now)
        # each clerk's state at ``since`` is their last row before it
        before = (
            select(ClerkStateLog.clerk_id, func.max(ClerkStateLog.started_at).label("at"))
            .where(ClerkStateLog.started_at <= since)
            .group_by(ClerkStateLog.clerk_id)
            .subquery()
        )
        opening = (
            await s.execute(
                select(ClerkStateLog).join(
                    before,
                    (before.c.clerk_id == ClerkStateLog.clerk_id)
                    & (before.c.at == ClerkStateLog.started_at),
                )
            )
        ).scalars()
        within = (
            await s.execute(
                select(ClerkStateLog).where(
                    ClerkStateLog.started_at > since, ClerkStateLog.started_at < end
                )
            )
        ).scalars()
        entries = sorted([*opening, *within], key=lambda e: (e.clerk_id, e.started_at, e.id))
        accounts = {
            c.id: c
            for c in (
                await s.execute(select(Clerk).where(Clerk.id.in_({e.clerk_id for e in entries})))
            ).scalars()
        }
        call_ids = {e.session_id for e in entries if e.session_id}
        services = (
            dict(
                (
                    await s.execute(
                        select(CallSession.id, CallSession.service_id).where(
                            CallSession.id.in_(call_ids)
                        )
                    )
                ).all()
            )
            if call_ids
            else {}
        )
    clerks: dict[int, ClerkWork] = {}
    per_service: dict[str, ServiceWork] = {}
    handled: dict[int, set[str]] = defaultdict(set)
    for i, entry in enumerate(entries):
        following = entries[i + 1] if i + 1 < len(entries) else None
        stop = (
            following.started_at
            if following is not None and following.clerk_id == entry.clerk_id
            else end
        )
        seconds = (min(stop, end) - max(entry.started_at, since)).total_seconds()
        if seconds <= 0 or entry.state == "offline":
            continue
        account = accounts.get(entry.clerk_id)
        work = clerks.get(entry.clerk_id)
        if work is None:
            work = clerks[entry.clerk_id] = ClerkWork(
                entry.clerk_id,
                account.username if account else str(entry.clerk_id),
                account.display_name if account else "",
            )
        work.on_duty_s += seconds
        talking = entry.state == "busy" or (entry.state == "away" and entry.session_id)
        service = services.get(entry.session_id or "")
        if talking:
            work.talk_s += seconds
        elif entry.state == "wrap_up":
            work.wrap_up_s += seconds
        elif entry.state == "away":
            reason = entry.reason or NO_REASON
            work.away_s[reason] = work.away_s.get(reason, 0.0) + seconds
        if (talking or entry.state == "wrap_up") and entry.session_id and service:
            figures = per_service.setdefault(service, ServiceWork(service))
            if entry.session_id not in handled[entry.clerk_id]:
                handled[entry.clerk_id].add(entry.session_id)
                work.calls += 1
                figures.calls += 1
            if talking:
                figures.talk_s += seconds
            else:
                figures.wrap_up_s += seconds
    return WorkReport(
        since,
        until,
        sorted(clerks.values(), key=lambda c: c.username),
        sorted(per_service.values(), key=lambda w: w.service_id),
    )
