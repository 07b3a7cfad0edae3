"""Who is connected where: clerks' work states, kiosks' sockets, and the server processes' leases.

A process renews its lease (``heartbeat_at``) every few seconds. A process whose lease has
run out is dead: any other process marks the sockets it held as dropped at the lease's last
renewal, so their grace period runs from there, and removes it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import CallSession, Clerk, ClerkPresence, ServerProcess, TerminalPresence
from storage.routing import (
    ACTIVE_STATES,
    CALL_STATES,
    CLERK_COLUMNS,
    ClerkSnap,
    SessionSnap,
    _presence_row,
    _reload_clerk,
    _rowcount,
    active_of_terminal_in,
    clerk_snap,
    db_now,
    token_hash,
)
from storage.state_log import state_entry
from storage.states import move_clerk

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- processes


async def register_process(db: Database, process_id: str, host: str) -> None:
    """Record a starting process and its first lease."""
    async with db.transaction() as tx:
        now = await db_now(tx.session)
        tx.session.add(
            ServerProcess(
                id=process_id, host=host, started_at=now, heartbeat_at=now, draining=False
            )
        )


async def heartbeat(db: Database, process_id: str, *, draining: bool = False) -> None:
    """Renew this process's lease (re-registering it if another process had given it up).

    On the lease's own connection (:meth:`Database.lease_transaction`), never behind clients."""
    async with db.lease_transaction() as s:
        now = await db_now(s)
        renewed = await s.execute(
            update(ServerProcess)
            .where(ServerProcess.id == process_id)
            .values(heartbeat_at=now, draining=draining)
        )
        if _rowcount(renewed) == 0:
            s.add(
                ServerProcess(
                    id=process_id, host="", started_at=now, heartbeat_at=now, draining=draining
                )
            )


async def expire_processes(db: Database, lease_s: float, process_id: str) -> list[str]:
    """Declare dead every other process whose lease ran out (their sockets count as dropped);
    returns the processes that hold a lease now, this one's included."""
    async with db.transaction() as tx:
        s = tx.session
        now = await db_now(s)
        cutoff = now - timedelta(seconds=lease_s)
        leases = (await s.execute(select(ServerProcess.id, ServerProcess.heartbeat_at))).all()
        dead = [(pid, last) for pid, last in leases if last < cutoff and pid != process_id]
        for pid, last in dead:
            await _drop_sockets_of(s, pid, last)
            await s.execute(delete(ServerProcess).where(ServerProcess.id == pid))
        # sockets held by a process with no lease at all (it never took one, or it is gone)
        leased = select(ServerProcess.id)
        for table in (ClerkPresence, TerminalPresence):
            await s.execute(
                update(table)
                .where(table.connected.is_(True), table.process_id.not_in(leased))
                .values(connected=False, disconnected_at=now)
            )
    if dead:
        log.warning("server processes gone (lease expired): %s", ", ".join(p for p, _ in dead))
    gone = {p for p, _ in dead}
    return [p for p, _ in leases if p not in gone]


async def forget_sockets_of(db: Database, process_id: str) -> None:
    """This process stops: its sockets count as dropped now, and its lease is given up."""
    async with db.transaction() as tx:
        now = await db_now(tx.session)
        await _drop_sockets_of(tx.session, process_id, now)
        await tx.session.execute(delete(ServerProcess).where(ServerProcess.id == process_id))


async def _drop_sockets_of(s: AsyncSession, process_id: str, at: datetime) -> None:
    for table in (ClerkPresence, TerminalPresence):
        await s.execute(
            update(table)
            .where(table.process_id == process_id, table.connected.is_(True))
            .values(connected=False, disconnected_at=at)
        )


# ---------------------------------------------------------------------- terminals


@dataclass(frozen=True)
class Attached:
    """A socket taken on: whether it resumed, the token for next time, the socket it replaces."""

    resumed: bool
    resume_token: str
    replaced_sid: str | None
    # the kiosk's active session, read in the same transaction: a handshake is one round
    # of the database, which a burst of reconnecting kiosks (a process lost) queues on
    session: SessionSnap | None = None


async def terminal_attach(
    db: Database, terminal_id: int, process_id: str, sid: str, resume_token: str | None
) -> Attached:
    """A kiosk's socket is up here; it resumes when it shows the token of its last socket."""
    new_token = secrets.token_urlsafe(24)
    async with db.transaction() as tx:
        s = tx.session
        row = await s.get(TerminalPresence, terminal_id)
        if row is None:
            row = TerminalPresence(terminal_id=terminal_id, connected=False)
            s.add(row)
        resumed = bool(
            resume_token and row.resume_hash and token_hash(resume_token) == row.resume_hash
        )
        # a token that worked stays valid: two reconnects racing each other (one timed out
        # on the client, then completed) both resume instead of the second ending the session
        token = resume_token if resumed and resume_token else new_token
        replaced = row.sid if row.connected and row.sid != sid else None
        row.process_id = process_id
        row.sid = sid
        row.connected = True
        row.disconnected_at = None
        row.resume_hash = token_hash(token)
        session = await active_of_terminal_in(s, terminal_id)
    return Attached(resumed, token, replaced, session)


async def terminal_detach(db: Database, terminal_id: int, sid: str) -> bool:
    """The kiosk's socket ``sid`` dropped: its grace period starts; False if it was replaced."""
    async with db.transaction() as tx:
        now = await db_now(tx.session)
        done = await tx.session.execute(
            update(TerminalPresence)
            .where(TerminalPresence.terminal_id == terminal_id, TerminalPresence.sid == sid)
            .values(connected=False, disconnected_at=now)
        )
    return _rowcount(done) == 1


async def terminal_connected(db: Database, terminal_id: int) -> bool:
    """Whether a socket of this kiosk is up on any process."""
    async with db.reads() as s:
        row = await s.get(TerminalPresence, terminal_id)
    return bool(row and row.connected)


async def sessions_of_gone_terminals(db: Database, grace_s: float) -> list[str]:
    """Active sessions whose kiosk has been gone longer than the grace period (or never had a
    socket on record, as left by an older server)."""
    async with db.reads() as s:
        now = await db_now(s)
        cutoff = now - timedelta(seconds=grace_s)
        rows = (
            await s.execute(
                select(CallSession.id)
                .outerjoin(
                    TerminalPresence, TerminalPresence.terminal_id == CallSession.terminal_id
                )
                .where(
                    CallSession.state.in_(ACTIVE_STATES),
                    or_(
                        TerminalPresence.terminal_id.is_(None) & (CallSession.created_at < cutoff),
                        (TerminalPresence.connected.is_(False))
                        & (TerminalPresence.disconnected_at < cutoff),
                    ),
                )
            )
        ).all()
    return [r[0] for r in rows]


# ---------------------------------------------------------------------- clerks


@dataclass(frozen=True)
class ClerkAttached:
    """A console's socket taken on."""

    clerk: ClerkSnap
    resumed: bool
    resume_token: str
    replaced_sid: str | None


async def clerk_attach(
    db: Database,
    clerk_id: int,
    departments: Collection[str],
    process_id: str,
    sid: str,
    resume_token: str | None,
    skills: Mapping[str, int] | None = None,
) -> ClerkAttached:
    """A clerk's console is up here; a clerk coming back keeps their state. ``skills``: the
    account's, as the matcher will read them (None: as they were)."""
    new_token = secrets.token_urlsafe(24)
    async with db.transaction() as tx:
        s = tx.session
        now = await db_now(s)
        row = await _presence_row(s, clerk_id)
        if row is None:
            row = ClerkPresence(
                clerk_id=clerk_id,
                state="away",
                state_since=now,
                idle_since=now,
                departments=sorted(departments),
                connected=False,
                version=0,
            )
            s.add(row)
            s.add(state_entry(clerk_id, "away", now))
        resumed = bool(
            resume_token and row.resume_hash and token_hash(resume_token) == row.resume_hash
        )
        token = resume_token if resumed and resume_token else new_token
        replaced = row.sid if row.connected and row.sid != sid else None
        if row.state == "offline":
            move_clerk(row, "away")
            row.state_since = now
            row.away_reason = None
            s.add(state_entry(clerk_id, "away", now))
        row.departments = sorted(departments)
        if skills is not None:
            row.skills = dict(skills)
        row.process_id = process_id
        row.sid = sid
        row.connected = True
        row.disconnected_at = None
        row.resume_hash = token_hash(token)
        row.version = (row.version or 0) + 1
        clerk = await _reload_clerk(s, clerk_id)
        assert clerk is not None
    return ClerkAttached(clerk, resumed, token, replaced)


async def clerk_detach(db: Database, clerk_id: int, sid: str) -> ClerkSnap | None:
    """The console's socket ``sid`` dropped; None if a newer socket had replaced it."""
    async with db.transaction() as tx:
        s = tx.session
        now = await db_now(s)
        done = await s.execute(
            update(ClerkPresence)
            .where(ClerkPresence.clerk_id == clerk_id, ClerkPresence.sid == sid)
            .values(connected=False, disconnected_at=now)
        )
        if _rowcount(done) != 1:
            return None
        return await _reload_clerk(s, clerk_id)


async def set_clerk_state(
    db: Database,
    clerk_id: int,
    state: str,
    allowed_from: Collection[str],
    *,
    reason: str | None = None,
) -> ClerkSnap | None:
    """Change the clerk's work state if it is one of ``allowed_from``; None otherwise.
    ``reason``: why they are away (another reason while away starts a new interval)."""
    async with db.transaction() as tx:
        s = tx.session
        now = await db_now(s)
        row = await _presence_row(s, clerk_id)
        if row is None or row.state not in allowed_from:
            return None
        reason = reason if state == "away" else None
        if row.state != state or row.away_reason != reason:
            if row.state != state:
                move_clerk(row, state)
                if state != "wrap_up":
                    row.wrap_up_session_id = None
                    row.wrap_up_deadline = None
            row.state_since = now
            row.away_reason = reason
            if state == "available":
                row.idle_since = now
            row.version = row.version + 1
            s.add(state_entry(clerk_id, state, now, reason=reason, session_id=row.session_id))
        return await _reload_clerk(s, clerk_id)


async def clerk(db: Database, clerk_id: int) -> ClerkSnap | None:
    """The clerk's presence as stored, or None if they never connected."""
    async with db.reads() as s:
        row = await s.get(ClerkPresence, clerk_id)
        return clerk_snap(row) if row else None


async def clerks(db: Database) -> list[tuple[ClerkSnap, Clerk]]:
    """Every clerk who ever connected, with their account row."""
    async with db.sessions() as s:
        rows = (
            await s.execute(
                select(ClerkPresence, Clerk).join(Clerk, Clerk.id == ClerkPresence.clerk_id)
            )
        ).all()
    return [(clerk_snap(p), c) for p, c in rows]


async def snapshots(db: Database) -> list[ClerkSnap]:
    """Every clerk's presence as plain rows: for readers that need no account fields (the
    queue positions read it several times a second)."""
    async with db.reads() as s:
        rows = (await s.execute(select(*CLERK_COLUMNS))).all()
    return [clerk_snap(r) for r in rows]


async def gone_clerks(db: Database, grace_s: float) -> list[int]:
    """Clerks whose console has been gone longer than the grace period and not signed off."""
    async with db.reads() as s:
        now = await db_now(s)
        cutoff = now - timedelta(seconds=grace_s)
        rows = (
            await s.execute(
                select(ClerkPresence.clerk_id).where(
                    ClerkPresence.connected.is_(False),
                    ClerkPresence.disconnected_at < cutoff,
                    ClerkPresence.state != "offline",
                )
            )
        ).all()
    return [r[0] for r in rows]


async def clerks_in_call_states(db: Database) -> list[tuple[int, str | None]]:
    """(clerk_id, session_id) for clerks whose presence still names a call."""
    async with db.reads() as s:
        rows = (
            await s.execute(
                select(ClerkPresence.clerk_id, ClerkPresence.session_id).where(
                    ClerkPresence.session_id.is_not(None)
                )
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


__all__ = ["CALL_STATES", "Attached", "ClerkAttached"]
