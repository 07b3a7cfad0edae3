"""Routing of record: the queue, offers and calls, changed by conditional updates in the store.

Every function here is one transaction that checks the state it expects *in the database*,
changes the session row (and the clerk's presence row when the clerk is part of the change)
and appends the chain event, or changes nothing. Any number of processes may call them at
once: a state that moved on under a caller makes its conditional update match no row, and
the partial unique indexes of migration 0107 refuse a second active call for one clerk or
kiosk whatever the callers believed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BindParameter,
    CursorResult,
    Row,
    Select,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage import rows
from storage.db import Database
from storage.errors import DuplicateEntry, InvalidValue, NotFound, StorageError
from storage.models import CallSession, Clerk, ClerkPresence, Department, Service, SessionEvent
from storage.rows import PRESENCE, SESSIONS, Record
from storage.skills import DEFAULT_RULE, REQUIREMENTS, Need, SkillRule, fit
from storage.state_log import enter_state, state_record
from storage.states import CLERK_TRANSITIONS, SESSION_TRANSITIONS, move_session

log = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "offered", "connecting", "in_call")
WAITING_STATES = ("queued", "offered")
CALL_STATES = ("connecting", "in_call")
# a call that failed (lost, not hung up) gives the applicant the front of the queue when they
# call again within this window (once)
RECALL_WINDOW = timedelta(minutes=15)

# how many of each department's waiting sessions a routing attempt looks at: enough to pass
# over those every free clerk has declined
HEAD_PER_DEPARTMENT = 25
# how many offers one routing transaction makes at most: enough that a hall's clerks coming
# free together are rung at once, few enough that the rows it locks are soon free again
CLAIM_BATCH = 32

PRIORITY_RECALL = 2
PRIORITY_CARE = 1
# a booked applicant at their slot time (signaling/appointment_desk.py)
PRIORITY_APPOINTMENT = 3
PRIORITIES = [PRIORITY_APPOINTMENT, PRIORITY_RECALL, PRIORITY_CARE, 0]
# each priority's head start as a share of the ceiling: a recall and an appointment the
# whole of it, care mode half
HEAD_START_SHARE = {PRIORITY_APPOINTMENT: 1.0, PRIORITY_RECALL: 1.0, PRIORITY_CARE: 0.5, 0: 0.0}
# the head start of the highest priority, the most any call waits behind calls that came
# after it (settings.aging_ceiling_s); a lower priority gets its share
AGING_CEILING_S = 300.0


def rank_time(enqueued_at: datetime, priority: int, ceiling_s: float = AGING_CEILING_S) -> datetime:
    """A session's place in line: when it was queued, less its priority's head start.

    Waiting ages every call alike, so one queued at ``t`` is behind only calls that came
    before ``t + ceiling_s``: a stream of priority calls cannot keep it waiting longer."""
    return enqueued_at - timedelta(seconds=ceiling_s * HEAD_START_SHARE[priority])


class RoutingConflict(StorageError):
    """The state moved on before this change could commit (taken, withdrawn, ended)."""

    code = "conflict"


class TransferRefused(StorageError):
    """A transfer the rules refuse; the message names the rule and what to do instead."""

    code = "transfer_refused"


class AlreadyActive(StorageError):
    """The kiosk already has an active session."""

    code = "illegal_transition"


@dataclass(frozen=True)
class SessionSnap:
    """A session row as committed: what messages about the change are built from."""

    id: str
    terminal_id: int
    service_id: str
    department_id: str
    clerk_id: int | None
    language: str
    state: str
    care_mode: bool
    priority: int
    created_at: datetime
    enqueued_at: datetime | None
    answered_at: datetime | None
    offer_deadline: datetime | None
    version: int
    step: int
    early_offer: str | None
    offer_shown_to: int | None
    ice_servers: list[dict[str, Any]]
    end_reason: str | None
    recall_of: str | None
    # (clerk_id, when) for each clerk who passed on the call
    declined_by: tuple[tuple[int, datetime], ...] = ()
    # how often a clerk handed it on; while a transfer waits to be taken up, by whom, and the
    # clerk it is kept for until when (see :func:`transfer`)
    transfers: int = 0
    transferred_from: int | None = None
    reserved_for: int | None = None
    reserved_until: datetime | None = None
    # a warm transfer's consultation: the clerk consulted, and "ringing" or "talking"
    consult_clerk_id: int | None = None
    consult_state: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def in_call(self) -> bool:
        return self.state in CALL_STATES

    def reserved_at(self, now: datetime) -> int | None:
        """The clerk the session is kept for at ``now`` (a transfer to them), or None."""
        if self.reserved_for is None or self.reserved_until is None or self.reserved_until <= now:
            return None
        return self.reserved_for

    def waited_s(self, now: datetime) -> float:
        start = self.enqueued_at or self.created_at
        end = self.answered_at or now
        return max(0.0, (end - start).total_seconds())


def snap(row: CallSession | Row[Any] | Record | SimpleNamespace, department_id: str) -> SessionSnap:
    """An immutable copy of ``row`` (an ORM row, or a plain one of :data:`SNAP_COLUMNS`)."""
    return SessionSnap(
        id=row.id,
        terminal_id=row.terminal_id,
        service_id=row.service_id,
        department_id=department_id,
        clerk_id=row.clerk_id,
        language=row.language,
        state=row.state,
        care_mode=row.care_mode,
        priority=row.priority,
        created_at=row.created_at,
        enqueued_at=row.enqueued_at,
        answered_at=row.answered_at,
        offer_deadline=row.offer_deadline,
        version=row.version,
        step=row.step,
        early_offer=row.early_offer,
        offer_shown_to=row.offer_shown_to,
        ice_servers=list(row.ice_servers or []),
        end_reason=row.end_reason,
        recall_of=row.recall_of,
        declined_by=tuple(
            (int(item[0]), datetime.fromisoformat(str(item[1]))) for item in row.declined_by or []
        ),
        transfers=row.transfers or 0,
        transferred_from=row.transferred_from,
        reserved_for=row.reserved_for,
        reserved_until=row.reserved_until,
        consult_clerk_id=row.consult_clerk_id,
        consult_state=row.consult_state,
    )


# What a SessionSnap is made of, to read as plain rows: building ORM objects (identity map,
# change tracking) for a queue of thousands, several times a second, was most of a
# process's time under load.
SNAP_COLUMNS = (
    CallSession.id,
    CallSession.terminal_id,
    CallSession.service_id,
    CallSession.clerk_id,
    CallSession.language,
    CallSession.state,
    CallSession.care_mode,
    CallSession.priority,
    CallSession.created_at,
    CallSession.enqueued_at,
    CallSession.answered_at,
    CallSession.offer_deadline,
    CallSession.version,
    CallSession.step,
    CallSession.early_offer,
    CallSession.offer_shown_to,
    CallSession.ice_servers,
    CallSession.end_reason,
    CallSession.recall_of,
    CallSession.declined_by,
    CallSession.transfers,
    CallSession.transferred_from,
    CallSession.reserved_for,
    CallSession.reserved_until,
    CallSession.consult_clerk_id,
    CallSession.consult_state,
    # a transfer gives the session another department than its service's
    func.coalesce(CallSession.department_id, Service.department_id).label("department_id"),
)


@dataclass(frozen=True)
class ClerkSnap:
    """A clerk's presence row as committed."""

    clerk_id: int
    state: str
    session_id: str | None
    departments: frozenset[str]
    connected: bool
    version: int
    state_since: datetime
    idle_since: datetime
    sid: str | None
    process_id: str | None
    disconnected_at: datetime | None
    skills: dict[str, int]
    away_reason: str | None = None
    wrap_up_session_id: str | None = None
    wrap_up_deadline: datetime | None = None


def clerk_snap(row: ClerkPresence | Row[Any] | Record | SimpleNamespace) -> ClerkSnap:
    """An immutable copy of ``row`` (an ORM row, or a plain one of :data:`CLERK_COLUMNS`)."""
    return ClerkSnap(
        clerk_id=row.clerk_id,
        state=row.state,
        session_id=row.session_id,
        departments=frozenset(row.departments or []),
        connected=row.connected,
        version=row.version,
        state_since=row.state_since,
        idle_since=row.idle_since,
        sid=row.sid,
        process_id=row.process_id,
        disconnected_at=row.disconnected_at,
        skills=dict(row.skills or {}),
        away_reason=row.away_reason,
        wrap_up_session_id=row.wrap_up_session_id,
        wrap_up_deadline=row.wrap_up_deadline,
    )


CLERK_COLUMNS: tuple[Any, ...] = (
    ClerkPresence.clerk_id,
    ClerkPresence.state,
    ClerkPresence.session_id,
    ClerkPresence.departments,
    ClerkPresence.connected,
    ClerkPresence.version,
    ClerkPresence.state_since,
    ClerkPresence.idle_since,
    ClerkPresence.sid,
    ClerkPresence.process_id,
    ClerkPresence.disconnected_at,
    ClerkPresence.skills,
    ClerkPresence.away_reason,
    ClerkPresence.wrap_up_session_id,
    ClerkPresence.wrap_up_deadline,
)


# The hot reads, built once. Building a statement (coercing its 20-odd columns, then its
# cache key) cost about half of each read's CPU (0.35 of 0.6 ms on PostgreSQL), more than the
# round trip; a statement object reused with bound parameters keeps its cache key.
_BY_SESSION: BindParameter[str] = bindparam("session_id")
_GET = (
    select(*SNAP_COLUMNS)
    .join(Service, Service.id == CallSession.service_id)
    .where(CallSession.id == _BY_SESSION)
)
_PRESENCE_ROWS: dict[bool, Select[Any]] = {}


def _presence_row_statement(lock: bool) -> Select[Any]:
    statement = _PRESENCE_ROWS.get(lock)
    if statement is None:
        statement = select(ClerkPresence).where(ClerkPresence.clerk_id == bindparam("clerk_id"))
        if lock:
            statement = statement.with_for_update()
        _PRESENCE_ROWS[lock] = statement
    return statement


# The matcher's reads and its lock, built once (see _GET), each as SQLAlchemy Core (SQLite)
# and as PostgreSQL's text for storage.rows (asyncpg): a routing round through the ORM was
# two thirds of a call's database CPU (5.5 of 9.2 ms, one offer a round).
_CLERK_NAMES = ", ".join(c.key for c in CLERK_COLUMNS)
# the clerks free to ring, with the database clock: under load every clerk freed is rung at
# once, so a round reads one or two rows, or none
_FREE = rows.Query(
    core=select(*CLERK_COLUMNS).where(
        ClerkPresence.connected.is_(True), ClerkPresence.state == "available"
    ),
    pg=(
        f"SELECT {_CLERK_NAMES}, clock_timestamp() AS now FROM clerk_presence"
        " WHERE connected AND state = 'available'"
    ),
)
# every clerk on duty (in wrap-up too: free again soon): only the decline rule needs them (whether someone who has not passed
# on a call will be free), so only a round with a declined call at a head reads them; read
# on every round they were 200 rows decoded (departments as JSON) dozens of times a second
_ON_DUTY = rows.Query(
    core=select(ClerkPresence.clerk_id, ClerkPresence.departments, ClerkPresence.skills).where(
        ClerkPresence.connected.is_(True),
        ClerkPresence.state.in_(("available", "ringing", "busy", "wrap_up")),
    ),
    pg=(
        "SELECT clerk_id, departments, skills FROM clerk_presence"
        " WHERE connected AND state IN ('available', 'ringing', 'busy', 'wrap_up')"
    ),
)
_HEAD_ORDER = (CallSession.rank_at, CallSession.id)
_DEPARTMENT = func.coalesce(CallSession.department_id, Service.department_id)
_RANKED = (
    select(
        *SNAP_COLUMNS,
        CallSession.chain_seq,
        CallSession.chain_hash,
        CallSession.rank_at,
        func.row_number().over(partition_by=_DEPARTMENT, order_by=_HEAD_ORDER).label("place"),
    )
    .join(Service, Service.id == CallSession.service_id)
    .where(
        CallSession.state == "queued",
        _DEPARTMENT.in_(bindparam("departments", expanding=True)),
    )
    .subquery()
)
_SNAP_NAMES = ", ".join(f"s.{c.key}" for c in SNAP_COLUMNS)
# the head of each department's line: a call waits only for clerks of its department, so
# reading a few per department finds every possible pair without reading the queue
_HEADS = rows.Query(
    core=select(_RANKED)
    .where(_RANKED.c.place <= HEAD_PER_DEPARTMENT)
    .order_by(_RANKED.c.rank_at, _RANKED.c.id),
    # on PostgreSQL the first few of each department's line (index ix_sessions_queued_line):
    # ranking every queued session, joined to its service, was half of PostgreSQL's CPU
    # under load
    pg=(
        f"SELECT {_SNAP_NAMES}, s.chain_seq, s.chain_hash, s.rank_at"
        " FROM unnest($1::varchar[]) AS d(department_id)"
        " CROSS JOIN LATERAL (SELECT * FROM sessions"
        " WHERE department_id = d.department_id AND state = 'queued'"
        f" ORDER BY rank_at, id LIMIT {HEAD_PER_DEPARTMENT}) s"
        " ORDER BY s.rank_at, s.id"
    ),
    params=("departments",),
)
# The sessions and clerks of a plan, locked in one statement; another router may be
# offering some of them now: pass them by rather than wait (so two rounds never deadlock).
# A session no longer queued is not returned; a clerk comes back with their state (one no
# longer available is passed over, their session waits). SQLite's writers take turns:
# what the round read holds.
_LOCK_PLAN = rows.Query(
    core=None,
    pg=(
        "WITH h AS (SELECT id, chain_seq, chain_hash, version FROM sessions"
        " WHERE id = ANY($1::varchar[]) AND state = 'queued' ORDER BY id"
        " FOR UPDATE SKIP LOCKED),"
        " c AS (SELECT clerk_id, version, state, connected FROM clerk_presence"
        " WHERE clerk_id = ANY($2::int[]) ORDER BY clerk_id FOR UPDATE SKIP LOCKED)"
        " SELECT id, NULL::int AS clerk_id, chain_seq, chain_hash, version, NULL AS state,"
        " NULL::boolean AS connected FROM h"
        " UNION ALL SELECT NULL, clerk_id, NULL, NULL, version, state, connected FROM c"
    ),
    params=("sessions", "clerks"),
)


def token_hash(token: str) -> str:
    """What the store keeps of a resume token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _clock(db_session: AsyncSession) -> list[Any]:
    """The database's clock as a column to read along with a statement: PostgreSQL's, which
    every process shares; none on SQLite (one process: its own clock is the clock)."""
    if db_session.get_bind().dialect.name == "postgresql":
        return [func.clock_timestamp()]
    return []


def _clock_value(read: Sequence[Any]) -> datetime:
    """Now, from what :func:`_clock`'s columns read (nothing on SQLite)."""
    if read:
        assert isinstance(read[0], datetime)
        return read[0].astimezone(UTC)
    return datetime.now(UTC)


async def db_now(db_session: AsyncSession) -> datetime:
    """Now by the database's clock, which every process shares (PostgreSQL), or this one's."""
    clock = _clock(db_session)
    return _clock_value([await db_session.scalar(select(*clock))] if clock else [])


def _rowcount(result: Any) -> int:
    return cast("CursorResult[Any]", result).rowcount


async def _presence_row(
    db_session: AsyncSession, clerk_id: int, *, lock: bool = True
) -> ClerkPresence | None:
    postgres = db_session.get_bind().dialect.name == "postgresql"
    statement = _presence_row_statement(lock and postgres)
    return cast("ClerkPresence | None", await db_session.scalar(statement, {"clerk_id": clerk_id}))


async def _reload_clerk(db_session: AsyncSession, clerk_id: int) -> ClerkSnap | None:
    await db_session.flush()
    row = await _presence_row(db_session, clerk_id, lock=False)
    if row is None:
        return None
    await db_session.refresh(row)
    return clerk_snap(row)


# ---------------------------------------------------------------------- reading


async def get(db: Database, session_id: str) -> SessionSnap | None:
    """The session as stored now, or None."""
    async with db.reads() as db_session:
        found = (await db_session.execute(_GET, {"session_id": session_id})).first()
    return snap(found, found.department_id) if found else None


async def active_of_terminal(db: Database, terminal_id: int) -> SessionSnap | None:
    """The kiosk's active session (at most one: a unique index says so), or None."""
    async with db.reads() as db_session:
        return await active_of_terminal_in(db_session, terminal_id)


async def active_of_terminal_in(db_session: AsyncSession, terminal_id: int) -> SessionSnap | None:
    """:func:`active_of_terminal` inside the caller's open session or transaction."""
    found = (
        await db_session.execute(
            select(*SNAP_COLUMNS)
            .join(Service, Service.id == CallSession.service_id)
            .where(
                CallSession.terminal_id == terminal_id,
                CallSession.state.in_(ACTIVE_STATES),
            )
        )
    ).first()
    return snap(found, found.department_id) if found else None


async def active_sessions(db: Database) -> list[SessionSnap]:
    """Every active session, in queue order (its rank: first come, less a priority's head
    start)."""
    async with db.reads() as db_session:
        rows = (
            await db_session.execute(
                select(*SNAP_COLUMNS)
                .join(Service, Service.id == CallSession.service_id)
                .where(CallSession.state.in_(ACTIVE_STATES))
                .order_by(*_HEAD_ORDER)
            )
        ).all()
    return [snap(r, r.department_id) for r in rows]


class QueueEntry(NamedTuple):
    """An active session as queue positions need it: no SDP, ICE servers or declines (a
    tuple: thousands are read every round of positions)."""

    id: str
    terminal_id: int
    service_id: str
    department_id: str
    state: str
    answered_at: datetime | None
    version: int

    @property
    def in_call(self) -> bool:
        return self.state in CALL_STATES


async def queue_entries(db: Database) -> list[QueueEntry]:
    """Every active session, in queue order, without its payloads: read every round of
    positions by every process, where a waiting kiosk's early SDP offer (kilobytes) and its
    JSON columns were most of what was read and decoded."""
    async with db.reads() as db_session:
        rows = (
            await db_session.execute(
                select(
                    CallSession.id,
                    CallSession.terminal_id,
                    CallSession.service_id,
                    _DEPARTMENT.label("department_id"),
                    CallSession.state,
                    CallSession.answered_at,
                    CallSession.version,
                )
                .join(Service, Service.id == CallSession.service_id)
                .where(CallSession.state.in_(ACTIVE_STATES))
                .order_by(*_HEAD_ORDER)
            )
        ).all()
    return [QueueEntry._make(r) for r in rows]


async def recent_handling_s(db: Database, limit: int = 400) -> dict[str, list[float]]:
    """How long the most recent answered calls kept their clerk, per department, newest
    first: the talk, and the wrap-up after it once filed (a clerk in wrap-up takes no call)."""
    async with db.reads() as db_session:
        rows = (
            await db_session.execute(
                select(
                    Service.department_id,
                    CallSession.answered_at,
                    CallSession.ended_at,
                    SessionEvent.payload,
                )
                .join(Service, Service.id == CallSession.service_id)
                .outerjoin(
                    SessionEvent,
                    (SessionEvent.session_id == CallSession.id)
                    & (SessionEvent.kind == "wrap_up.filed"),
                )
                .where(
                    CallSession.answered_at.is_not(None),
                    CallSession.ended_at.is_not(None),
                    CallSession.state == "ended",
                )
                .order_by(CallSession.ended_at.desc())
                .limit(limit)
            )
        ).all()
    lengths: dict[str, list[float]] = {}
    for dept, answered, ended, filed in rows:
        if answered is not None and ended is not None:
            talk = max(0.0, (ended - answered).total_seconds())
            wrap_up = float(filed.get("seconds") or 0) if isinstance(filed, dict) else 0.0
            lengths.setdefault(dept, []).append(talk + max(0.0, wrap_up))
    return lengths


async def recall_allowed(db: Database, terminal_id: int, lost_session_id: str) -> bool:
    """True when ``lost_session_id`` is this kiosk's call lost lately and not yet recalled."""
    async with db.sessions() as db_session:
        row = await db_session.get(CallSession, lost_session_id)
        if row is None or row.terminal_id != terminal_id or row.ended_at is None:
            return False
        if row.state != "failed" or row.answered_at is None:
            return False  # only a call that was answered and then lost, not one hung up
        ended_at = row.ended_at
        if await db_now(db_session) - ended_at > RECALL_WINDOW:
            return False
        taken = await db_session.scalar(
            select(CallSession.id).where(CallSession.recall_of == lost_session_id).limit(1)
        )
    return taken is None


# ---------------------------------------------------------------------- changes


async def open_session(
    db: Database,
    *,
    session_id: str,
    terminal_id: int,
    service_id: str,
    department_id: str,
    language: str,
    care_mode: bool,
    priority: int,
    recall_of: str | None,
    ice_servers: list[dict[str, Any]],
    early_offer: str | None,
    actor: str,
    aging_ceiling_s: float = AGING_CEILING_S,
    events: Sequence[tuple[str, dict[str, Any]]] = (),
) -> SessionSnap:
    """Queue a new session with its first chain event (and ``events`` after it: an
    appointment's check-in); :class:`AlreadyActive` if the kiosk has one. Its place in line
    is :func:`rank_time`."""
    if priority not in PRIORITIES:
        # the matcher reads each line at the priorities it knows: another would never ring
        raise InvalidValue(f"priority {priority} is not one of {PRIORITIES}")
    try:
        async with rows.transaction(db) as tx:
            await tx.hold(f"audit:{session_id}")
            now = await tx.clock()
            row = Record.made(
                SESSIONS,
                id=session_id,
                terminal_id=terminal_id,
                service_id=service_id,
                department_id=department_id,
                language=language,
                state="queued",
                care_mode=care_mode,
                priority=priority,
                recall_of=recall_of,
                created_at=now,
                enqueued_at=now,
                rank_at=rank_time(now, priority, aging_ceiling_s),
                version=1,
                declined_by=[],
                ice_servers=ice_servers,
                early_offer=early_offer,
                step=1,
            )
            tx.add(row)
            payload: dict[str, Any] = {
                "service_id": service_id,
                "language": language,
                "terminal_id": terminal_id,
                "care_mode": care_mode,
            }
            if recall_of:
                payload["recall_of"] = recall_of
            # the row and its first event go in one write (the head set on the row before it)
            tx.chain(row, "session.created", actor, payload, first=True)
            for kind, details in events:
                tx.chain(row, kind, actor, details)
            # every column was set above (the clock is the database's): no read-back needed
            return snap(row, department_id)
    except DuplicateEntry as exc:
        raise AlreadyActive(
            "This terminal already has an active session; cancel it or hang up before asking"
            " for another service"
        ) from exc


@dataclass(frozen=True)
class Candidate:
    """A clerk as the matcher sees them."""

    clerk_id: int
    departments: frozenset[str]
    idle_since: datetime
    skills: dict[str, int]


# a named clerk's reserved call: they are rung whatever their levels
_ANY_LEVEL: Mapping[str, int] = dict.fromkeys(REQUIREMENTS, 0)


def pick_clerk(
    session: SessionSnap,
    free: Sequence[Candidate],
    on_duty: Sequence[Candidate],
    now: datetime,
    decline_pause_s: float,
    rule: SkillRule = DEFAULT_RULE,
) -> Candidate | None:
    """The clerk to offer ``session`` to: the best match at the levels its wait wants (the
    longest idle on a tie) who has not passed on it. A clerk who passed comes back, after a
    pause, only when nobody else on duty could ever take it. A call transferred to a named
    clerk rings only them, at whatever level, until its reservation runs out.

    ``free`` is in idle order; ``on_duty`` is read only for a call someone passed on."""
    need = Need(session.service_id, session.department_id, session.language, session.care_mode)
    wanted = rule.wanted_at(session.waited_s(now))
    reserved = session.reserved_at(now)
    if reserved is not None:
        # transferred to a named clerk: only they are rung (again after the decline pause if
        # they passed) until the reservation runs out; then anyone of the department
        free = [c for c in free if c.clerk_id == reserved]
        on_duty = [c for c in on_duty if c.clerk_id == reserved]
        wanted = _ANY_LEVEL
    declined = dict(session.declined_by)
    best: Candidate | None = None
    best_score = -1
    rested: Candidate | None = None
    rested_score = -1
    for clerk in free:
        score = fit(clerk.skills, clerk.departments, need, wanted)
        if score is None:
            continue
        passed_at = declined.get(clerk.clerk_id)
        if passed_at is None:
            if score > best_score:
                best, best_score = clerk, score
        elif (now - passed_at).total_seconds() >= decline_pause_s and score > rested_score:
            rested, rested_score = clerk, score
    if best is not None or rested is None:
        return best
    widest = wanted if reserved is not None else rule.widest
    if any(
        c.clerk_id not in declined and fit(c.skills, c.departments, need, widest) is not None
        for c in on_duty
    ):
        return None  # someone who has not passed on it will be free: wait for them
    return rested


async def claim_batch(
    db: Database,
    *,
    offer_timeout_s: float,
    decline_pause_s: float,
    departments: Collection[str] | None = None,
    limit: int = CLAIM_BATCH,
    rules: Mapping[str, SkillRule] | None = None,
) -> list[tuple[SessionSnap, ClerkSnap]]:
    """Offer waiting sessions to available clerks who can take them, up to ``limit`` pairs in
    one transaction, in queue order; an empty list when no pair is left.

    Callers loop until it is empty. A lost race (another process claimed a session or a
    clerk first) raises :class:`RoutingConflict`, and the caller tries again.
    """
    try:
        async with rows.transaction(db) as tx:
            return await _claim_in(
                tx, offer_timeout_s, decline_pause_s, departments, limit, rules or {}
            )
    except (DuplicateEntry, RoutingConflict) as exc:
        log.info("routing attempt lost a race (%s); trying again", type(exc).__name__)
        raise RoutingConflict("the session or the clerk was claimed by another router") from exc


def _up_to_first_missing(
    plan: list[tuple[SessionSnap, Candidate]],
    kept: Callable[[tuple[SessionSnap, Candidate]], bool],
) -> tuple[list[tuple[SessionSnap, Candidate]], bool]:
    """The plan (in queue order) up to its first pair not ``kept``, and whether any was cut:
    first come, first served holds only if nobody overtakes a session passed by."""
    for i, pair in enumerate(plan):
        if not kept(pair):
            return plan[:i], True
    return plan, False


def _nothing_or_retry(cut: bool) -> list[tuple[SessionSnap, ClerkSnap]]:
    """No offer this round: an empty round, or, when a session ahead in line was only held
    by another router or writer for a moment, a conflict the caller retries shortly."""
    if cut:
        raise RoutingConflict("a session ahead in line is being routed elsewhere")
    return []


async def _claim_in(
    tx: rows.RowTransaction,
    offer_timeout_s: float,
    decline_pause_s: float,
    departments: Collection[str] | None,
    limit: int,
    rules: Mapping[str, SkillRule],
) -> list[tuple[SessionSnap, ClerkSnap]]:
    # A fixed number of statements per batch: one offer per transaction (a dozen round trips
    # each) made routing the bottleneck, with clerks idle and a queue. On PostgreSQL the
    # clerks and the heads of the line are read before any transaction (under load most
    # rounds find nobody free, and a BEGIN and a COMMIT around one read were two of its
    # three round trips); the plan's rows are then locked, and written, in one statement each.
    available = await tx.fetch(_FREE)
    if not available:
        return []
    clerks = {r["clerk_id"]: r for r in available}
    free = [
        Candidate(
            r["clerk_id"], frozenset(r["departments"] or []), r["idle_since"], r["skills"] or {}
        )
        for r in sorted(available, key=lambda r: r["idle_since"])
    ]
    now = available[0]["now"].astimezone(UTC) if "now" in available[0] else await tx.clock()
    wanted = set().union(*(c.departments for c in free))
    if departments is not None:
        wanted &= set(departments)
    if not wanted:
        return []
    heads_read = await tx.fetch(_HEADS, departments=sorted(wanted))
    on_duty: list[Candidate] = []
    if any(row["declined_by"] for row in heads_read):
        on_duty = [
            Candidate(r["clerk_id"], frozenset(r["departments"] or []), now, r["skills"] or {})
            for r in await tx.fetch(_ON_DUTY)
        ]
    # the plan: queue order, each to the clerk the rules pick among those still free
    plan: list[tuple[SessionSnap, Candidate]] = []
    taken: set[int] = set()
    cut = False  # a session ahead in line was passed by: nothing behind it goes this round
    for row in heads_read:
        if len(plan) >= limit or len(taken) == len(free):
            break
        if tx.db.lock(f"audit:{row['id']}").locked():
            # its chain is being written here now (a cancel, or another router's offer
            # that may yet fail): offering those behind it would serve them first
            cut = True
            break
        head = snap(SimpleNamespace(**row), row["department_id"])
        choice = pick_clerk(
            head,
            [c for c in free if c.clerk_id not in taken],
            on_duty,
            now,
            decline_pause_s,
            rules.get(head.service_id, DEFAULT_RULE),
        )
        if choice is not None:
            # taken now, while it is free (acquiring a free lock does not yield): waiting
            # for it later, holding row locks, could deadlock with its holder
            await tx.hold(f"audit:{row['id']}")
            plan.append((head, choice))
            taken.add(choice.clerk_id)
    if not plan:
        return _nothing_or_retry(cut)
    # each chain's head (seq, hash) and each row's version: on PostgreSQL from the rows
    # locked here (a locked row reads as its newest version), on SQLite from the reads above
    if tx.locks_rows:
        locked = await tx.fetch(
            _LOCK_PLAN,
            lock=True,
            sessions=[w.id for w, _ in plan],
            clerks=sorted(c.clerk_id for _, c in plan),
        )
        sessions = {
            r["id"]: (r["chain_seq"], r["chain_hash"], r["version"]) for r in locked if r["id"]
        }
        held = {r["clerk_id"]: r for r in locked if r["clerk_id"] is not None}
    else:
        heads_of = {r["id"]: r for r in heads_read}
        sessions = {
            w.id: (heads_of[w.id]["chain_seq"], heads_of[w.id]["chain_hash"], w.version)
            for w, _ in plan
        }
        held = {c.clerk_id: clerks[c.clerk_id] for _, c in plan}
    # a session or a clerk another router holds now: nobody behind it is offered this round
    plan, passed = _up_to_first_missing(
        plan, lambda pair: pair[0].id in sessions and pair[1].clerk_id in held
    )
    cut = cut or passed
    if not plan:
        return _nothing_or_retry(cut)
    # a clerk no longer available (another router rang them first): their session waits
    # for the next round
    plan = [
        (w, c)
        for w, c in plan
        if held[c.clerk_id]["state"] == "available" and held[c.clerk_id]["connected"]
    ]
    deadline = now + timedelta(seconds=offer_timeout_s)
    # the two changes below are the moves available -> ringing and queued -> offered of
    # the tables in storage/states.py
    assert "ringing" in CLERK_TRANSITIONS["available"]
    assert "offered" in SESSION_TRANSITIONS["queued"]
    made: list[tuple[SessionSnap, ClerkSnap]] = []
    for waiting, choice in plan:
        chain_seq, chain_hash, version = sessions[waiting.id]
        offered = Record.written(
            SESSIONS,
            {"id": waiting.id, "chain_seq": chain_seq, "chain_hash": chain_hash},
            state="offered",
            clerk_id=choice.clerk_id,
            offered_at=now,
            offer_deadline=deadline,
            offer_shown_to=None,
            version=version + 1,
        )
        tx.add(offered)
        tx.chain(offered, "call.offered", "server", {"clerk_id": choice.clerk_id})
        clerk_version = held[choice.clerk_id]["version"] + 1
        tx.add(
            Record.written(
                PRESENCE,
                {"clerk_id": choice.clerk_id},
                state="ringing",
                session_id=waiting.id,
                state_since=now,
                version=clerk_version,
            )
        )
        tx.add(state_record(choice.clerk_id, "ringing", now, session_id=waiting.id))
        session = replace(
            waiting,
            state="offered",
            clerk_id=choice.clerk_id,
            offer_deadline=deadline,
            offer_shown_to=None,
            version=version + 1,
        )
        clerk = replace(
            clerk_snap(SimpleNamespace(**clerks[choice.clerk_id])),
            state="ringing",
            session_id=waiting.id,
            state_since=now,
            version=clerk_version,
        )
        made.append((session, clerk))
    return made


async def mark_offer_shown(db: Database, session_id: str, clerk_id: int) -> None:
    """Remember that the ringing clerk already has the kiosk's offer (no event: not a state)."""
    async with db.transaction() as tx:
        await tx.session.execute(
            update(CallSession)
            .where(CallSession.id == session_id, CallSession.clerk_id == clerk_id)
            .values(offer_shown_to=clerk_id)
        )


async def hold_early_offer(
    db: Database, session_id: str, terminal_id: int, sdp: str
) -> SessionSnap | None:
    """Keep a waiting kiosk's offer for whoever accepts; None when the session is not waiting."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None or found.row.terminal_id != terminal_id:
            return None
        row = found.row
        if row.state not in WAITING_STATES:
            return None
        row.early_offer = sdp
        if row.state == "offered":
            row.offer_shown_to = row.clerk_id
        return snap(row, found.department_id)


@dataclass(frozen=True)
class Accepted:
    """A call the clerk took: the session after, and the kiosk's offer to hand over."""

    session: SessionSnap
    clerk: ClerkSnap
    early_offer: str | None
    offer_already_shown: bool
    waited_s: float


async def accept(db: Database, clerk_id: int, session_id: str, actor: str) -> Accepted:
    """The ringing clerk takes the call; :class:`RoutingConflict` if it is no longer theirs."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if found is None:
            raise RoutingConflict(f"Call {session_id} does not exist")
        row, dept, now, presence = found.row, found.department_id, found.now, found.clerk
        if row.state != "offered" or row.clerk_id != clerk_id:
            raise RoutingConflict(
                f"Call {session_id} is no longer offered to you (cancelled, timed out or taken)"
            )
        if row.offer_deadline is not None and row.offer_deadline < now:
            raise RoutingConflict(f"Call {session_id} rang out before you answered")
        if presence is None or presence.state != "ringing" or presence.session_id != session_id:
            raise RoutingConflict(f"Call {session_id} is not ringing at your console")
        early, shown = row.early_offer, row.offer_shown_to == clerk_id
        waited = round(snap(row, dept).waited_s(now), 3)
        move_session(row, "connecting")
        row.answered_at = now
        row.step = 2
        row.early_offer = None
        row.offer_deadline = None
        row.version = row.version + 1
        enter_state(tx, presence, "busy", now, session_id=session_id)
        presence.version = presence.version + 1
        tx.chain(row, "call.accepted", actor, {"clerk_id": clerk_id, "waited_s": waited})
        if row.transferred_from is not None:
            tx.chain(
                row,
                "transfer.completed",
                actor,
                {"from_clerk_id": row.transferred_from, "to_clerk_id": clerk_id},
            )
            row.transferred_from = None
            row.reserved_for = None
            row.reserved_until = None
        return Accepted(snap(row, dept), clerk_snap(presence), early, shown, waited)


async def withdraw(
    db: Database,
    session_id: str,
    clerk_id: int,
    *,
    reason: str,
    clerk_next: str,
    count_decline: bool,
    actor: str,
) -> tuple[SessionSnap, ClerkSnap | None] | None:
    """Take a ringing offer back and put the session back in its place; None if it is no
    longer ringing for ``clerk_id``."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if found is None:
            return None
        row, dept, now, presence = found.row, found.department_id, found.now, found.clerk
        if row.state != "offered" or row.clerk_id != clerk_id:
            return None
        declined = list(row.declined_by or [])
        if count_decline:
            declined = [d for d in declined if int(d[0]) != clerk_id]
            declined.append([clerk_id, now.isoformat()])
        move_session(row, "queued")
        row.clerk_id = None
        row.offer_deadline = None
        row.offer_shown_to = None
        row.declined_by = declined
        row.version = row.version + 1
        if presence is not None and presence.session_id == session_id:
            presence.session_id = None
            if presence.state == "ringing":
                enter_state(tx, presence, clerk_next, now)
            presence.version = presence.version + 1
        tx.chain(row, f"call.{reason}", actor, {"clerk_id": clerk_id})
        return snap(row, dept), clerk_snap(presence) if presence is not None else None


async def expired_offers(db: Database) -> list[tuple[str, int]]:
    """``(session_id, clerk_id)`` of offers whose deadline has passed."""
    async with db.reads() as db_session:
        # the clock in the statement itself: this runs several times a second under load
        clock = _clock(db_session)
        now = clock[0] if clock else datetime.now(UTC)
        rows = (
            await db_session.execute(
                select(CallSession.id, CallSession.clerk_id).where(
                    CallSession.state == "offered", CallSession.offer_deadline < now
                )
            )
        ).all()
    return [(r[0], r[1]) for r in rows if r[1] is not None]


def release_clerk(
    tx: rows.RowTransaction,
    presence: Record | None,
    session_id: str,
    now: datetime,
    clerk_next: str | None,
    *,
    in_call: bool,
    wrap_up_s: float,
) -> None:
    """The clerk's side of a call that is over for them (ended, or handed on by a transfer):
    free of ``session_id``; a clerk who was ``in_call`` goes to wrap-up for ``wrap_up_s`` (0:
    none) unless ``clerk_next`` says where, anyone else to ``clerk_next`` (available unless
    said). Each state entered is in the clerk's state log."""
    if presence is None or presence.session_id != session_id:
        return
    presence.session_id = None
    talked = in_call and presence.state in ("busy", "away")
    if talked and wrap_up_s > 0 and clerk_next is None:
        # the away reason of a clerk who stepped away during the call is kept: the
        # console offers it as where to go once the disposition is filed
        enter_state(tx, presence, "wrap_up", now, session_id=session_id)
        presence.wrap_up_session_id = session_id
        presence.wrap_up_deadline = now + timedelta(seconds=wrap_up_s)
    elif presence.state in ("ringing", "busy"):
        enter_state(tx, presence, clerk_next or "available", now)
    elif presence.state == "away" and in_call:
        # stepped away during the call: their talk ended here, their away starts
        presence.state_since = now
        tx.add(state_record(presence.clerk_id, "away", now, reason=presence.away_reason))
    presence.version = presence.version + 1


class Finished(NamedTuple):
    """A session ended: as stored now, its clerk's presence if it had one, and as it was."""

    session: SessionSnap
    clerk: ClerkSnap | None
    before: SessionSnap


async def finish(
    db: Database,
    session_id: str,
    *,
    state: str,
    reason: str,
    actor: str,
    allowed_from: Collection[str] = ACTIVE_STATES,
    clerk_next: str | None = None,
    cancel_if_waiting: bool = False,
    terminal_id: int | None = None,
    clerk_id: int | None = None,
    wrap_up_s: float = 0.0,
) -> Finished | None:
    """End the session as ``state`` (ended, failed, cancelled; ``cancelled`` whatever
    ``state`` says if ``cancel_if_waiting`` and it is still waiting) and free its clerk; None
    if it is not in one of ``allowed_from`` any more, or not ``terminal_id``'s or
    ``clerk_id``'s. A clerk who was in the call goes to wrap-up for ``wrap_up_s`` (0: none)
    unless ``clerk_next`` says where."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if found is None:
            return None
        row, dept, now, presence = found.row, found.department_id, found.now, found.clerk
        if row.state not in allowed_from:
            return None
        if terminal_id is not None and row.terminal_id != terminal_id:
            return None
        if clerk_id is not None and row.clerk_id != clerk_id:
            return None
        before = snap(row, dept)
        if cancel_if_waiting and row.state in WAITING_STATES:
            state = "cancelled"
        move_session(row, state)
        row.ended_at = now
        row.end_reason = reason
        row.early_offer = None
        row.offer_deadline = None
        row.version = row.version + 1
        release_clerk(
            tx,
            presence,
            session_id,
            now,
            clerk_next,
            in_call=before.state in CALL_STATES,
            wrap_up_s=wrap_up_s,
        )
        kind = "session.cancelled" if state == "cancelled" else f"session.{state}"
        tx.chain(row, kind, actor, {"reason": reason})
        clerk = clerk_snap(presence) if presence is not None else None
        return Finished(snap(row, dept), clerk, before)


async def set_step(
    db: Database, session_id: str, step: int, actor: str
) -> tuple[int, SessionSnap] | None:
    """Move a call to another of the seven steps; None when it is not in a call."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None or found.row.state not in CALL_STATES:
            return None
        row = found.row
        previous = row.step
        row.step = step
        row.version = row.version + 1
        tx.chain(row, "step.changed", actor, {"from": previous, "to": step})
        return previous, snap(row, found.department_id)


async def record(
    db: Database, session_id: str, kind: str, actor: str, payload: dict[str, Any]
) -> None:
    """An event that changes no routing state (a prompt pushed), in its own transaction."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None:
            raise NotFound(f"no session {session_id!r} to record {kind!r} for")
        tx.chain(found.row, kind, actor, payload)


@dataclass(frozen=True)
class Transferred:
    """A call handed on: the session waiting again, the clerk who handed it on (freed), the
    session as it was, and the clerk it is kept for (None: anyone of its department)."""

    session: SessionSnap
    clerk: ClerkSnap | None
    before: SessionSnap
    to_clerk_id: int | None


async def transfer(
    db: Database,
    session_id: str,
    from_clerk_id: int,
    *,
    department_id: str | None,
    to_clerk_id: int | None,
    reserve_s: float,
    actor: str,
    kind: str = "blind",
    clerk_next: str | None = None,
    wrap_up_s: float = 0.0,
) -> Transferred:
    """Hand ``from_clerk_id``'s call on to a department (its own if None) or a named clerk
    (kept for them ``reserve_s``, then their department's): the session waits again with its
    ``enqueued_at`` (its place) and everything it gathered; the clerk is freed as by a hang-up.
    :class:`TransferRefused` says why not."""
    if department_id is None and to_clerk_id is None:
        raise TransferRefused("Name a department or a clerk to transfer the call to")
    if to_clerk_id is not None and to_clerk_id == from_clerk_id:
        raise TransferRefused("You cannot transfer a call to yourself; choose another clerk")
    serves: frozenset[str] = frozenset()
    username = ""
    async with db.reads() as db_session:
        if department_id is not None and await db_session.get(Department, department_id) is None:
            known = sorted(await db_session.scalars(select(Department.id)))
            raise TransferRefused(
                f"There is no department {department_id!r} to transfer to;"
                f" choose one of {', '.join(known)}"
            )
        if to_clerk_id is not None:
            account = await db_session.get(Clerk, to_clerk_id)
            if account is None or account.disabled:
                raise TransferRefused(
                    f"There is no clerk {to_clerk_id} to transfer to; choose a signed-in clerk"
                )
            username = account.username
            target = await _presence_row(db_session, to_clerk_id, lock=False)
            if target is None or not target.connected or target.state == "offline":
                raise TransferRefused(
                    f"Clerk {username} is not signed in; choose a clerk on duty or transfer"
                    " to the department"
                )
            serves = frozenset(target.departments or [])
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if (
            found is None
            or found.row.state not in CALL_STATES
            or found.row.clerk_id != from_clerk_id
        ):
            raise TransferRefused(
                f"Session {session_id} is not a call of yours in progress; nothing to transfer"
            )
        row, dept, now, presence = found.row, found.department_id, found.now, found.clerk
        if row.consult_clerk_id is not None:
            raise TransferRefused(
                "This call is being discussed with another clerk; end that consultation first"
            )
        to_department = department_id or dept
        if to_clerk_id is not None and to_department not in serves:
            raise TransferRefused(
                f"Clerk {username} does not serve department {to_department!r};"
                " choose a clerk of that department"
            )
        before = snap(row, dept)
        move_session(row, "queued")
        row.clerk_id = None
        row.department_id = to_department
        # answered again by whoever takes it up; enqueued_at stays: its place in the line
        row.answered_at = None
        row.early_offer = None
        row.offer_deadline = None
        row.offer_shown_to = None
        # the clerk who handed it on is rung again only when nobody else could take it
        row.declined_by = [[from_clerk_id, now.isoformat()]]
        row.media_attempt = 0
        row.media_down_since = None
        row.media_break = None
        row.transfers = (row.transfers or 0) + 1
        row.transferred_from = from_clerk_id
        row.reserved_for = to_clerk_id
        row.reserved_until = now + timedelta(seconds=reserve_s) if to_clerk_id is not None else None
        row.version = row.version + 1
        tx.chain(
            row,
            "transfer.requested",
            actor,
            {
                "kind": kind,
                "from_clerk_id": from_clerk_id,
                "to_department": to_department,
                "to_clerk_id": to_clerk_id,
                "to_clerk": username or None,
                "reserved_until": row.reserved_until.isoformat() if row.reserved_until else None,
            },
        )
        release_clerk(tx, presence, session_id, now, clerk_next, in_call=True, wrap_up_s=wrap_up_s)
        clerk = clerk_snap(presence) if presence is not None else None
        return Transferred(snap(row, to_department), clerk, before, to_clerk_id)


# ---------------------------------------------------------------------- warm transfers

CONSULT_RINGING = "ringing"
CONSULT_TALKING = "talking"

# one clerk's presence row, locked (PostgreSQL); SQLite's writers take turns
_PRESENCE_LOCKED = rows.Query(
    core=select(*CLERK_COLUMNS).where(ClerkPresence.clerk_id == bindparam("clerk_id")),
    pg=f"SELECT {_CLERK_NAMES} FROM clerk_presence WHERE clerk_id = $1 FOR UPDATE",
    params=("clerk_id",),
)


@dataclass(frozen=True)
class Consulted:
    """A consultation changed: the session after, as it was, and the consulted clerk's
    presence after (None when the consultation had nobody to free)."""

    session: SessionSnap
    before: SessionSnap
    consulted: ClerkSnap | None


async def locked_presence(tx: rows.RowTransaction, clerk_id: int) -> Record | None:
    """A clerk's presence, locked, as a row to change (it is written on exit): one who is
    not the session's clerk (a consulted colleague, the clerk of a call handed on)."""
    found = await tx.fetch(_PRESENCE_LOCKED, lock=True, clerk_id=clerk_id)
    if not found:
        return None
    values = {c.key: found[0][c.key] for c in CLERK_COLUMNS}
    values["departments"] = list(values["departments"] or [])
    row = Record(PRESENCE, values)
    tx.add(row)
    return row


def _free_consulted(tx: rows.RowTransaction, row: Record | None, now: datetime) -> None:
    """The consulted clerk is free again (available), unless they left meanwhile."""
    if row is None or row.state != "consulting":
        return
    enter_state(tx, row, "available", now)
    row.version = row.version + 1


async def consult_start(
    db: Database,
    session_id: str,
    from_clerk_id: int,
    to_clerk_id: int,
    *,
    department_id: str | None,
    actor: str,
) -> Consulted:
    """The clerk of a call asks a free clerk about it first (a warm transfer): the session
    stays in the call with its clerk; the consulted clerk is "consulting" (the matcher never
    rings them) until the consultation ends. :class:`TransferRefused` says why not."""
    if to_clerk_id == from_clerk_id:
        raise TransferRefused("You cannot consult yourself about a call; choose another clerk")
    async with db.reads() as db_session:
        account = await db_session.get(Clerk, to_clerk_id)
        if account is None or account.disabled:
            raise TransferRefused(f"There is no clerk {to_clerk_id} to consult; choose another")
        if department_id is not None and await db_session.get(Department, department_id) is None:
            raise TransferRefused(f"There is no department {department_id!r} to transfer to")
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if (
            found is None
            or found.row.state not in CALL_STATES
            or found.row.clerk_id != from_clerk_id
        ):
            raise TransferRefused(
                f"Session {session_id} is not a call of yours in progress; nothing to transfer"
            )
        row, dept, now = found.row, found.department_id, found.now
        if row.consult_clerk_id is not None:
            raise TransferRefused(
                "This call is already being discussed with another clerk; end that first"
            )
        to_department = department_id or dept
        consulted = await locked_presence(tx, to_clerk_id)
        if consulted is None or not consulted.connected or consulted.state == "offline":
            raise TransferRefused(
                f"Clerk {account.username} is not signed in; choose a clerk on duty"
            )
        if consulted.state != "available":
            raise TransferRefused(
                f"Clerk {account.username} is not free now ({consulted.state}); choose a free"
                " clerk or transfer without consulting"
            )
        if to_department not in (consulted.departments or []):
            raise TransferRefused(
                f"Clerk {account.username} does not serve department {to_department!r};"
                " choose a clerk of that department"
            )
        before = snap(row, dept)
        enter_state(tx, consulted, "consulting", now, session_id=session_id)
        consulted.version = consulted.version + 1
        row.consult_clerk_id = to_clerk_id
        row.consult_state = CONSULT_RINGING
        row.consult_department = to_department
        row.version = row.version + 1
        tx.chain(
            row,
            "transfer.requested",
            actor,
            {
                "kind": "warm",
                "from_clerk_id": from_clerk_id,
                "to_department": to_department,
                "to_clerk_id": to_clerk_id,
                "to_clerk": account.username,
            },
        )
        return Consulted(snap(row, dept), before, clerk_snap(consulted))


async def consult_answer(
    db: Database, session_id: str, clerk_id: int, *, accept: bool, actor: str
) -> Consulted:
    """The consulted clerk takes the consultation up (the two consoles connect) or declines
    it (the call goes on with its clerk). :class:`TransferRefused` if it is not theirs."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if (
            found is None
            or found.row.consult_clerk_id != clerk_id
            or found.row.consult_state != CONSULT_RINGING
        ):
            raise TransferRefused(f"Nobody is asking you about session {session_id} now")
        row, dept, now = found.row, found.department_id, found.now
        before = snap(row, dept)
        consulted = await locked_presence(tx, clerk_id)
        row.version = row.version + 1
        if accept:
            row.consult_state = CONSULT_TALKING
            tx.chain(
                row,
                "consult.started",
                actor,
                {"from_clerk_id": row.clerk_id, "to_clerk_id": clerk_id},
            )
        else:
            _close_consult(tx, row, consulted, now, "declined", actor)
        return Consulted(snap(row, dept), before, clerk_snap(consulted) if consulted else None)


def _clear_consult(row: Record) -> None:
    row.consult_clerk_id = None
    row.consult_state = None
    row.consult_department = None


def _close_consult(
    tx: rows.RowTransaction,
    row: Record,
    consulted: Record | None,
    now: datetime,
    outcome: str,
    actor: str,
) -> None:
    """The consultation about ``row``'s call ends with ``outcome``: the consulted clerk is
    free again and the chain says so (the call goes on with its own clerk)."""
    consulted_id = row.consult_clerk_id
    _clear_consult(row)
    _free_consulted(tx, consulted, now)
    tx.chain(
        row,
        "consult.ended",
        actor,
        {"outcome": outcome, "from_clerk_id": row.clerk_id, "to_clerk_id": consulted_id},
    )


async def consult_end(
    db: Database, session_id: str, clerk_id: int, *, outcome: str, actor: str
) -> Consulted:
    """A clerk ends the consultation (``taken_back`` by the call's clerk, ``left`` by the
    consulted one): the call goes on with its clerk, the consulted clerk is free."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if found is None or found.row.consult_clerk_id is None:
            raise TransferRefused(f"Session {session_id} has no consultation to end")
        row, dept, now = found.row, found.department_id, found.now
        # the call's clerk takes it back; the consulted clerk leaves
        if clerk_id != (row.consult_clerk_id if outcome == "left" else row.clerk_id):
            raise TransferRefused(
                f"The consultation about session {session_id} is not yours to end that way"
            )
        before = snap(row, dept)
        consulted = await locked_presence(tx, int(row.consult_clerk_id))
        _close_consult(tx, row, consulted, now, outcome, actor)
        row.version = row.version + 1
        return Consulted(snap(row, dept), before, clerk_snap(consulted) if consulted else None)


@dataclass(frozen=True)
class HandedOver:
    """A warm transfer done: the session in the call with its new clerk (a new peer
    connection, ``media_attempt``), the clerk who handed it over (freed) and the new one."""

    session: SessionSnap
    before: SessionSnap
    clerk: ClerkSnap | None
    taker: ClerkSnap
    attempt: int


async def consult_hand_over(
    db: Database,
    session_id: str,
    from_clerk_id: int,
    *,
    actor: str,
    clerk_next: str | None = None,
    wrap_up_s: float = 0.0,
) -> HandedOver:
    """The call's clerk hands the call to the clerk they are talking to: that clerk is in the
    call from now (busy), the kiosk makes a new peer connection for them; the first clerk is
    freed as by a hang-up."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id, clerk=True)
        if (
            found is None
            or found.row.clerk_id != from_clerk_id
            or found.row.state not in CALL_STATES
            or found.row.consult_state != CONSULT_TALKING
        ):
            raise TransferRefused(
                f"Session {session_id} is not a call of yours with a consultation under way;"
                " the other clerk must have taken the consultation up first"
            )
        row, dept, now, presence = found.row, found.department_id, found.now, found.clerk
        before = snap(row, dept)
        taker_id = int(row.consult_clerk_id)
        taker = await locked_presence(tx, taker_id)
        if taker is None or taker.state != "consulting" or not taker.connected:
            raise TransferRefused("The other clerk has left; take the call back")
        to_department = row.consult_department or dept
        release_clerk(tx, presence, session_id, now, clerk_next, in_call=True, wrap_up_s=wrap_up_s)
        enter_state(tx, taker, "busy", now, session_id=session_id)
        taker.session_id = session_id
        taker.version = taker.version + 1
        row.clerk_id = taker_id
        row.department_id = to_department
        row.answered_at = now
        row.media_attempt = (row.media_attempt or 0) + 1
        row.media_down_since = None
        row.media_break = None
        row.transfers = (row.transfers or 0) + 1
        _clear_consult(row)
        row.version = row.version + 1
        tx.chain(
            row,
            "consult.ended",
            actor,
            {"outcome": "handed_over", "from_clerk_id": from_clerk_id, "to_clerk_id": taker_id},
        )
        tx.chain(row, "call.accepted", actor, {"clerk_id": taker_id, "waited_s": 0.0})
        tx.chain(
            row,
            "transfer.completed",
            actor,
            {"kind": "warm", "from_clerk_id": from_clerk_id, "to_clerk_id": taker_id},
        )
        return HandedOver(
            snap(row, to_department),
            before,
            clerk_snap(presence) if presence is not None else None,
            clerk_snap(taker),
            row.media_attempt,
        )


async def consult_of(db: Database, clerk_id: int) -> str | None:
    """The session ``clerk_id`` is being consulted about, or None."""
    async with db.reads() as db_session:
        found = await db_session.scalar(
            select(CallSession.id).where(
                CallSession.consult_clerk_id == clerk_id,
                CallSession.state.in_(ACTIVE_STATES),
            )
        )
    return str(found) if found else None


async def release_consult(
    db: Database, session_id: str, outcome: str, actor: str
) -> Consulted | None:
    """A session that ended (or was handed on) with a consultation still open: the consulted
    clerk is freed and the chain says so; None when there was none."""
    async with rows.transaction(db) as tx:
        found = await tx.session(session_id)
        if found is None or found.row.consult_clerk_id is None:
            return None
        row, dept, now = found.row, found.department_id, found.now
        before = snap(row, dept)
        consulted = await locked_presence(tx, int(row.consult_clerk_id))
        _close_consult(tx, row, consulted, now, outcome, actor)
        row.version = row.version + 1
        return Consulted(snap(row, dept), before, clerk_snap(consulted) if consulted else None)
