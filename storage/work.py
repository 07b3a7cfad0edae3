"""A clerk's wrap-up after each call: filing its disposition, extending its time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from storage import rows
from storage.db import Database
from storage.errors import WrapUpRefused
from storage.routing import ClerkSnap, clerk_snap, locked_presence
from storage.rows import Record
from storage.state_log import enter_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Filed:
    """A wrap-up filed: the clerk after, and how long the wrap-up took."""

    clerk: ClerkSnap
    seconds: float
    overtime: bool


async def _wrap_up_of(
    tx: rows.RowTransaction, clerk_id: int, session_id: str, refusal: str
) -> tuple[rows.Locked, Record]:
    """The call and the clerk's own presence row (locked), the clerk in wrap-up for that
    call; :class:`WrapUpRefused` with ``refusal`` otherwise. The clerk's own row, not the
    call's clerk's: a call handed on (a transfer) has another clerk by then."""
    found = await tx.session(session_id)
    presence = await locked_presence(tx, clerk_id) if found is not None else None
    if (
        found is None
        or presence is None
        or presence.state != "wrap_up"
        or presence.wrap_up_session_id != session_id
        or presence.wrap_up_deadline is None
    ):
        raise WrapUpRefused(refusal)
    return found, presence


async def file_wrap_up(
    db: Database,
    clerk_id: int,
    session_id: str,
    *,
    code: str,
    note: str,
    away_reason: str | None,
    actor: str,
) -> Filed:
    """File the disposition of the clerk's wrap-up for ``session_id`` (a ``wrap_up.filed``
    event in its chain) and make them available, or away for ``away_reason``."""
    async with rows.transaction(db) as tx:
        found, presence = await _wrap_up_of(
            tx,
            clerk_id,
            session_id,
            f"You have no wrap-up for call {session_id} to file; its disposition was"
            " filed already, or the call was not yours",
        )
        now = found.now
        seconds = round((now - presence.state_since).total_seconds(), 1)
        overtime = presence.wrap_up_deadline is not None and now > presence.wrap_up_deadline
        then = "away" if away_reason else "available"
        enter_state(tx, presence, then, now, reason=away_reason)
        presence.away_reason = away_reason
        presence.wrap_up_session_id = None
        presence.wrap_up_deadline = None
        presence.version = presence.version + 1
        tx.chain(
            found.row,
            "wrap_up.filed",
            actor,
            {
                "clerk_id": clerk_id,
                "code": code,
                "note": note,
                "seconds": seconds,
                "overtime": overtime,
                "then": then,
                "away_reason": away_reason,
            },
        )
        log.info(
            "session %s: wrap-up filed by clerk %s (%s, %.1f s)",
            session_id,
            clerk_id,
            code,
            seconds,
        )
        return Filed(clerk_snap(presence), seconds, overtime)


async def extend_wrap_up(
    db: Database, clerk_id: int, session_id: str, *, extend_s: float, max_s: float, actor: str
) -> ClerkSnap:
    """Give the clerk's wrap-up ``extend_s`` more (a ``wrap_up.extended`` event), up to
    ``max_s`` from its start in all; :class:`WrapUpRefused` beyond that."""
    async with rows.transaction(db) as tx:
        found, presence = await _wrap_up_of(
            tx, clerk_id, session_id, f"You have no wrap-up for call {session_id} to extend"
        )
        now = found.now
        deadline = max(presence.wrap_up_deadline, now) + timedelta(seconds=extend_s)
        total = (deadline - presence.state_since).total_seconds()
        if total > max_s + 0.001:
            raise WrapUpRefused(
                f"A wrap-up may last at most {max_s:g} s in all and this one has"
                f" {(presence.wrap_up_deadline - presence.state_since).total_seconds():.0f} s"
                "; choose the disposition code and file it now"
            )
        presence.wrap_up_deadline = deadline
        presence.version = presence.version + 1
        tx.chain(
            found.row,
            "wrap_up.extended",
            actor,
            {"clerk_id": clerk_id, "by_s": extend_s, "total_s": round(total, 1)},
        )
        return clerk_snap(presence)
