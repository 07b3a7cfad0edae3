"""A call's media breaking and recovering within the session, of record in the store.

Each side reports what it receives (``interrupted`` when nothing has come for a while,
``failed`` when its peer connection is dead, ``connected`` when media flows). The first
report of a break opens it on the session's row (``media_down_since``, any process's sweeper
ends the call past the limit) and chains ``media.interrupted``; a ``failed`` report moves
the call to its next peer connection (``media.restarting``: the kiosk makes it, aiortc has
no ICE restart); media flowing again at every side that reported the break closes it
(``media.restored``, with how long it lasted and whose link broke). Reports about an older
peer connection than the current one are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, or_, select

from storage import rows
from storage.db import Database
from storage.models import CallSession
from storage.routing import CALL_STATES, db_now
from storage.rows import Record, RowTransaction
from storage.states import move_session

Side = Literal["terminal", "clerk"]
Link = Literal["terminal", "clerk", "network"]
# a side's report of the break reaching the server this much later than the other side's
# (allowing for how long each had seen nothing) came over the link that broke
LATE_REPORT = timedelta(seconds=2)
# both sides are told of a break and answer with how their media stands; a side that has
# said nothing this long after the break began cannot reach the server: its link is down
SILENT_AFTER = timedelta(seconds=3)
# one side receives again (or a side cut off is heard from again) and media is still not
# back this long after: the path is back, the connection is not coming back by itself (a
# new one is asked for; a connection that heals does within ~0.6 s of the path)
ONE_SIDE_BACK = timedelta(seconds=1.5)
# A new peer connection asked for is given this long to connect before another replaces it:
# ICE and DTLS take a second or more on a loaded machine or a long path, and with a short
# media_restart_s (1 s) the second was asked for before the first had connected.
NEW_CONNECTION = timedelta(seconds=3)


@dataclass(frozen=True)
class MediaOutcome:
    """What a report changed: ``kind`` is ``stale`` (an old peer connection's), ``connected``
    (the call's first media), ``flowing`` (nothing changed), ``interrupted`` (a break opened),
    ``restarting`` (a new peer connection is due) or ``restored`` (the break closed)."""

    kind: str
    attempt: int
    since: datetime | None = None
    link: Link | None = None
    gap_ms: int | None = None


def whose_link(brk: dict[str, Any], offline: set[Side], now: datetime | None = None) -> Link:
    """Whose link broke: a side whose socket dropped during the break, else the one side
    not heard from at all since it began (both are asked, see :data:`SILENT_AFTER`), else
    one whose report came late over it, else the network between them."""
    sides: list[Side] = ["terminal", "clerk"]
    gone = [side for side in sides if side in offline or brk.get("offline", {}).get(side)]
    if len(gone) == 1:
        return gone[0]
    opened = brk.get("opened")
    if now is not None and opened and now - datetime.fromisoformat(opened) > SILENT_AFTER:
        heard = set(brk.get("reports", {})) | set(brk.get("heard", []))
        silent = [side for side in sides if side not in heard]
        if len(silent) == 1:
            return silent[0]
    onsets = {
        side: datetime.fromisoformat(report["at"]) - timedelta(milliseconds=report["stalled_ms"])
        for side, report in brk.get("reports", {}).items()
    }
    if len(onsets) == 2:
        if onsets["terminal"] - onsets["clerk"] > LATE_REPORT:
            return "terminal"
        if onsets["clerk"] - onsets["terminal"] > LATE_REPORT:
            return "clerk"
    return "network"


async def report(
    db: Database,
    session_id: str,
    side: Side,
    actor: str,
    *,
    state: str,
    attempt: int,
    stalled_ms: int = 0,
    figures: dict[str, Any] | None = None,
) -> MediaOutcome | None:
    """Apply one side's media report; None when the session is not in a call."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None or found.row.state not in CALL_STATES:
            return None
        row, now = found.row, found.now
        current = row.media_attempt
        if attempt < current:
            return MediaOutcome("stale", current)
        brk = row.media_break
        if state == "connected":
            if row.state == "connecting":
                move_session(row, "in_call")
                row.connected_at = now
                row.version = row.version + 1
            if brk is None:
                tx.chain(row, "media.connected", actor, {"attempt": attempt} if attempt else {})
                return MediaOutcome("connected", current)
            if brk.get("never_connected"):
                # the call's first media, on a later peer connection: both sides are told
                # the wait is over (their screens said "reconnecting")
                since = row.media_down_since or now
                gap_ms = max(0, round((now - since).total_seconds() * 1000))
                row.media_break = None
                row.media_down_since = None
                tx.chain(row, "media.connected", actor, {"attempt": attempt, "after_ms": gap_ms})
                return MediaOutcome("restored", current, since, "network", gap_ms)
            back = set(brk.get("restored", [])) | {side}
            if not set(brk.get("reports", {})) <= back:
                # this side still receives: it is heard from, and the break stays open
                heard = sorted(set(brk.get("heard", [])) | {side})
                row.media_break = {
                    **brk,
                    "restored": sorted(back),
                    "heard": heard,
                    "back_at": brk.get("back_at") or now.isoformat(),
                }
                return MediaOutcome("flowing", current)
            since = row.media_down_since or now
            gap_ms = max(0, round((now - since).total_seconds() * 1000))
            link = whose_link(brk, set(), now)
            row.media_break = None
            row.media_down_since = None
            tx.chain(
                row, "media.restored", actor, {"gap_ms": gap_ms, "link": link, "attempt": current}
            )
            return MediaOutcome("restored", current, since, link, gap_ms)
        # interrupted or failed
        kind = "flowing"
        if brk is None:
            onset = now - timedelta(milliseconds=stalled_ms)
            restored_at = await tx.last_event_at(session_id, "media.restored")
            if restored_at is not None and onset < restored_at:
                # a stall that began before the last break closed: a report sent during that
                # break that arrived after it (TCP delivers it when the link is back), not a
                # new break (it opened one of about a second, and both screens said so)
                return MediaOutcome("stale", current)
            # not before the call's media first connected: a side's word cannot age a break
            # past what the store saw (a far-fetched stalled_ms would end the call at once)
            since = max(onset, row.connected_at or now)
            brk = {"reports": {}, "restored": [], "opened": now.isoformat()}
            row.media_down_since = since
            kind = "interrupted"
            payload: dict[str, Any] = {
                "reported_by": side,
                "state": state,
                "stalled_ms": stalled_ms,
                "attempt": attempt,
            }
            if figures:
                payload["figures"] = figures
            tx.chain(row, "media.interrupted", actor, payload)
        reports = dict(brk.get("reports", {}))
        silent = side not in reports and side not in brk.get("heard", [])
        opened = datetime.fromisoformat(brk["opened"]) if brk.get("opened") else now
        reports.setdefault(side, {"at": now.isoformat(), "stalled_ms": stalled_ms})
        was_back = side in brk.get("restored", [])
        restored = [s for s in brk.get("restored", []) if s != side]
        brk = {**brk, "reports": reports, "restored": restored}
        if silent and now - opened > SILENT_AFTER:
            # a side silent since the break began is heard again: its link is back, and so
            # is the path; media not back soon after will not come back by itself
            brk["back_at"] = brk.get("back_at") or now.isoformat()
        elif was_back and not restored:
            # the one side back is broken again; a side heard again stays heard (its answer
            # to the server's question, right behind its late report, cleared it: the new
            # peer connection then waited for media_restart_s)
            brk.pop("back_at", None)
        row.media_break = brk
        if state == "failed" and attempt == current:
            kind = "restarting"
            _restart(tx, row, now, actor, {"reported_by": side})
        return MediaOutcome(kind, row.media_attempt, row.media_down_since)


def _restart(
    tx: RowTransaction, row: Record, now: datetime, actor: str, why: dict[str, Any]
) -> None:
    """Move the call to its next peer connection (the kiosk makes it) and chain it."""
    current = row.media_attempt
    row.media_attempt = current + 1
    row.media_break = {
        **(row.media_break or {}),
        "restart_from": current,
        "restarted": now.isoformat(),
    }
    tx.chain(row, "media.restarting", actor, {"attempt": current + 1, **why})


def restart_due(brk: dict[str, Any], since: datetime, now: datetime, after_s: float) -> bool:
    """Whether a broken call is due a new peer connection: ``after_s`` since the break began
    or the last one was asked for, or :data:`ONE_SIDE_BACK` after a side was back; never
    within :data:`NEW_CONNECTION` of the last one asked for."""
    restarted = brk.get("restarted")
    last = max(since, datetime.fromisoformat(restarted or since.isoformat()))
    settle = NEW_CONNECTION if restarted else timedelta(0)
    if now - last >= max(timedelta(seconds=after_s), settle):
        return True
    back_at = brk.get("back_at")
    return back_at is not None and now - max(last, datetime.fromisoformat(back_at)) >= max(
        min(ONE_SIDE_BACK, timedelta(seconds=after_s)), settle
    )


async def stuck(db: Database, after_s: float) -> list[str]:
    """Calls due a new peer connection (see :func:`restart_due`), and calls whose first
    peer connection has not connected ``after_s`` after the answer; read without a lock: a
    call that is not due costs the sweeper's round no transaction of its own."""
    async with db.reads() as s:
        now = await db_now(s)
        # one round trip: this runs every sweeper round in every process
        rows = await s.execute(
            select(CallSession.id, CallSession.media_down_since, CallSession.media_break).where(
                CallSession.state.in_(CALL_STATES),
                or_(
                    CallSession.media_down_since.is_not(None),
                    and_(
                        CallSession.state == "connecting",
                        CallSession.answered_at < now - timedelta(seconds=after_s),
                    ),
                ),
            )
        )
        return [
            session_id
            for session_id, since, brk in rows
            if since is None or (brk is not None and restart_due(brk, since, now, after_s))
        ]


async def restart_if_stuck(
    db: Database, session_id: str, after_s: float, actor: str
) -> MediaOutcome | None:
    """A new peer connection for a call whose media has not come back for ``after_s`` since
    the break began or the last new one was asked for, or :data:`ONE_SIDE_BACK` after one
    side said its media flows again while the other still sees nothing; None when neither
    is due.

    A browser's ICE can stay dead after a cut although the path is back (Chromium gave up
    ~16 s in, 12 s after a 5 s cut ended, in 1 run of 10); a new peer connection connected
    in 0.2 s.
    """
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None:
            return None
        row, now = found.row, found.now
        brk, since = row.media_break, row.media_down_since
        if row.state == "connecting" and brk is None and since is None:
            return _never_connected(tx, row, now, after_s, actor)
        if row.state not in CALL_STATES or brk is None or since is None:
            return None
        if not restart_due(brk, since, now, after_s):
            return None  # healed, or replaced, since the sweeper read it
        _restart(tx, row, now, actor, {"reported_by": "server", "after_s": after_s})
        return MediaOutcome("restarting", row.media_attempt, since)


def _never_connected(
    tx: RowTransaction, row: Record, now: datetime, after_s: float, actor: str
) -> MediaOutcome | None:
    """The call's first peer connection has not connected ``after_s`` after the answer: a
    break since the answer (the call ends past media_recovery_s as any other) and a new peer
    connection. An ICE or DTLS flight lost on the way is retried only after seconds that
    double each time (OpenSSL's DTLS timer: 1, 2, 4, 8, 16 s); a new connection is quicker."""
    answered = row.answered_at
    if answered is None or now - answered < timedelta(seconds=after_s):
        return None
    waited_ms = round((now - answered).total_seconds() * 1000)
    row.media_down_since = answered
    row.media_break = {
        "reports": {},
        "restored": [],
        "opened": now.isoformat(),
        "never_connected": True,
    }
    tx.chain(
        row,
        "media.interrupted",
        actor,
        {
            "reported_by": "server",
            "state": "never_connected",
            "stalled_ms": waited_ms,
            "attempt": row.media_attempt,
        },
    )
    _restart(tx, row, now, actor, {"reported_by": "server", "after_s": after_s})
    return MediaOutcome("restarting", row.media_attempt, answered)


async def note_offline(db: Database, session_id: str, side: Side) -> None:
    """``side``'s socket came back while the call's media was broken: its link was down."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None or found.row.media_break is None:
            return
        row, now = found.row, found.now
        brk = row.media_break or {}
        row.media_break = {
            **brk,
            "offline": {**brk.get("offline", {}), side: True},
            # heard from again: its link is back, so is the path; media not back soon after
            # will not come back by itself (the reports it made meanwhile died with its socket)
            "back_at": brk.get("back_at") or now.isoformat(),
        }


@dataclass(frozen=True)
class BreakView:
    """A call's media as stored: its current peer connection, and the break if there is one."""

    attempt: int
    since: datetime | None
    brk: dict[str, Any]
    link: Link | None
    restarting: bool


async def view(db: Database, session_id: str) -> BreakView | None:
    """How the session's media stands, None when there is no such session."""
    async with db.reads() as s:
        found = (
            await s.execute(
                select(
                    CallSession.media_attempt,
                    CallSession.media_down_since,
                    CallSession.media_break,
                ).where(CallSession.id == session_id)
            )
        ).first()
    if found is None:
        return None
    attempt, since, brk = found
    if brk is None:
        return BreakView(attempt, None, {}, None, False)
    link = whose_link(brk, set(), datetime.now(UTC))
    return BreakView(attempt, since, brk, link, "restart_from" in brk)


async def overdue(db: Database, limit_s: float) -> list[str]:
    """Calls whose media has been broken longer than ``limit_s``."""
    async with db.reads() as s:
        now = await db_now(s)
        rows = await s.scalars(
            select(CallSession.id).where(
                CallSession.media_down_since < now - timedelta(seconds=limit_s),
                CallSession.state.in_(CALL_STATES),
            )
        )
        return list(rows)
