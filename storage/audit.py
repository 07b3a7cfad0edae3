"""The audit trail: each session's events form a SHA-256 hash chain that :meth:`verify` checks.

Event ``n`` stores ``prev_hash`` (event ``n-1``'s hash, or :data:`GENESIS_HASH`) and
``hash = sha256(canonical_event(...))`` over its own fields. Editing, deleting or reordering
a stored event breaks the chain at that point. Rewriting every later hash as well is only
caught by comparing the head hash against a copy kept elsewhere; dropping the tail is caught
by the session's row, which keeps the head (``chain_seq``, ``chain_hash``) of every append.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.errors import ChainBroken, ChainMoved, NotFound, StorageError
from storage.models import CallSession, SessionEvent, utcnow

log = logging.getLogger(__name__)

_EVENTS = cast(Table, SessionEvent.__table__)
EVENT_COLUMNS = (
    "session_id",
    "seq",
    "kind",
    "actor",
    "payload",
    "created_at",
    "prev_hash",
    "hash",
)

GENESIS_HASH = "0" * 64


def _utc_iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} cannot be hashed; pass UTC")
    # Fixed shape (always microseconds, always Z) so equal instants hash equally.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_event(
    session_id: str,
    seq: int,
    kind: str,
    actor: str,
    payload: dict[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> bytes:
    """The exact bytes an event's hash covers; use it to re-derive hashes outside vcounter."""
    document = {
        "session_id": session_id,
        "seq": seq,
        "kind": kind,
        "actor": actor,
        "payload": payload,
        "created_at": _utc_iso(created_at),
        "prev_hash": prev_hash,
    }
    # allow_nan=False: NaN is not JSON and PostgreSQL would refuse to store it anyway.
    text = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def event_hash(
    session_id: str,
    seq: int,
    kind: str,
    actor: str,
    payload: dict[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> str:
    """SHA-256 hex of :func:`canonical_event`; what ``SessionEvent.hash`` must equal."""
    canonical = canonical_event(session_id, seq, kind, actor, payload, created_at, prev_hash)
    return hashlib.sha256(canonical).hexdigest()


def _stored_hash(event: SessionEvent) -> str:
    return event_hash(
        event.session_id,
        event.seq,
        event.kind,
        event.actor,
        event.payload,
        event.created_at,
        event.prev_hash,
    )


@dataclass(frozen=True)
class ChainBreak:
    """Where and why a chain stops verifying; ``expected``/``found`` are hashes or seqs."""

    seq: int
    event_id: int
    reason: str
    expected: str
    found: str


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :meth:`AuditLog.verify`: ``ok`` or the first break found."""

    session_id: str
    ok: bool
    count: int
    first_break: ChainBreak | None = None

    def raise_if_broken(self) -> None:
        """Raise :class:`ChainBroken` describing the first break; use where a break must stop work."""
        if self.first_break is None:
            return
        b = self.first_break
        raise ChainBroken(
            f"audit chain of session {self.session_id} is broken at seq {b.seq} (event id"
            f" {b.event_id}): {b.reason}, expected {b.expected} but found {b.found};"
            " the session_events table was changed outside vcounter, restore it from backup"
        )


class AuditLog:
    """Appends and checks hash-chained session events; any number may share one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(
        self,
        session_id: str,
        kind: str,
        actor: str,
        payload: dict[str, Any],
        *,
        after_seq: int | None = None,
    ) -> SessionEvent:
        """Add the next event to ``session_id``'s chain; raises :class:`NotFound` if no such session.

        With ``after_seq``, append only if the chain still ends at that seq (the state the
        caller decided on), else raise :class:`ChainMoved`: of two racing decisions one wins,
        in this process (the lock) and across processes (the unique seq).
        """
        # The lock lives on the Database so every AuditLog of this process shares it; the
        # unique (session_id, seq) constraint catches writers in other processes.
        async with self.db.lock(f"audit:{session_id}"):
            try:
                return await self._append_once(session_id, kind, actor, payload, after_seq)
            except IntegrityError as exc:
                if after_seq is not None:
                    raise ChainMoved(
                        f"session {session_id} changed while {kind!r} was being recorded;"
                        " reload it and decide again"
                    ) from exc
                log.warning(
                    "session %s: audit append collided with another writer; retrying", session_id
                )
            try:
                return await self._append_once(session_id, kind, actor, payload)
            except IntegrityError as exc:
                raise StorageError(
                    f"could not append {kind!r} to session {session_id}: another writer keeps"
                    " taking the same sequence number; check that only vcounter writes events"
                ) from exc

    async def _append_once(
        self,
        session_id: str,
        kind: str,
        actor: str,
        payload: dict[str, Any],
        after_seq: int | None = None,
    ) -> SessionEvent:
        async with self.db.sessions() as db_session, db_session.begin():
            return await append_in(
                db_session, session_id, kind, actor, payload, after_seq=after_seq
            )

    async def events(self, session_id: str) -> list[SessionEvent]:
        """The session's events in chain order (empty for an unknown session)."""
        async with self.db.sessions() as db_session:
            result = await db_session.scalars(
                select(SessionEvent)
                .where(SessionEvent.session_id == session_id)
                .order_by(SessionEvent.seq)
            )
            return list(result)

    async def verify(self, session_id: str) -> ChainReport:
        """Recompute the session's chain from the stored rows and report the first break."""
        events = await self.events(session_id)
        prev_hash = GENESIS_HASH
        for expected_seq, event in enumerate(events, start=1):
            found_break = _check(event, expected_seq, prev_hash)
            if found_break is not None:
                log.warning(
                    "session %s: audit chain broken at seq %d: %s",
                    session_id,
                    found_break.seq,
                    found_break.reason,
                )
                return ChainReport(session_id, False, len(events), found_break)
            prev_hash = event.hash
        return ChainReport(session_id, True, len(events))

    async def row_disagrees(
        self, session_id: str, events: Sequence[SessionEvent] | None = None
    ) -> ChainBreak | None:
        """The session's row against its stored ``events`` (read here when not given): the
        row keeps the head of every append, so a tail cut off (or events added behind
        vcounter's back) shows here."""
        if events is None:
            events = await self.events(session_id)
        async with self.db.sessions() as db_session:
            head = (
                await db_session.execute(
                    select(CallSession.chain_seq, CallSession.chain_hash).where(
                        CallSession.id == session_id
                    )
                )
            ).first()
        last = events[-1].hash if events else GENESIS_HASH
        if head is None or (head.chain_seq, head.chain_hash) == (len(events), last):
            return None
        return ChainBreak(
            head.chain_seq,
            events[-1].id if events else 0,
            "the session's row says the chain ends elsewhere",
            f"{head.chain_seq} events ending {head.chain_hash[:16]}",
            f"{len(events)} events ending {last[:16]}",
        )


def _check(event: SessionEvent, expected_seq: int, prev_hash: str) -> ChainBreak | None:
    # Content first: an edited row is the most specific finding. Then order and linkage,
    # which is what a deleted, inserted or renumbered row breaks.
    try:
        recomputed = _stored_hash(event)
    except (TypeError, ValueError) as exc:
        # e.g. a payload edited to hold NaN: no honest append could have stored it
        return ChainBreak(event.seq, event.id, "unhashable content", event.hash, str(exc))
    if recomputed != event.hash:
        return ChainBreak(event.seq, event.id, "hash mismatch", recomputed, event.hash)
    if event.seq != expected_seq:
        return ChainBreak(event.seq, event.id, "sequence gap", str(expected_seq), str(event.seq))
    if event.prev_hash != prev_hash:
        return ChainBreak(
            event.seq, event.id, "prev_hash does not link", prev_hash, event.prev_hash
        )
    return None


async def append_in(
    db_session: AsyncSession,
    session_id: str,
    kind: str,
    actor: str,
    payload: dict[str, Any],
    *,
    after_seq: int | None = None,
    row: CallSession | None = None,
    first: bool = False,
) -> SessionEvent:
    """Add the next event to ``session_id``'s chain inside the caller's open transaction.

    The caller holds the process lock ``audit:{session_id}`` until it commits (see
    :meth:`storage.db.Database.transaction`), so the event commits with the state change it
    records or not at all. ``row``: the session's row, read FOR UPDATE in this transaction
    (or just added, with ``first``): the chain's head is read from it and kept on it, no
    statement of its own. ``first``: the session is new in this transaction, its chain empty.
    """
    if first:
        seq, prev_hash = 1, GENESIS_HASH
    elif row is not None:
        seq, prev_hash = row.chain_seq + 1, row.chain_hash
    else:
        seq, prev_hash = await _next_link(db_session, session_id, kind)
    if after_seq is not None and seq != after_seq + 1:
        raise ChainMoved(
            f"session {session_id} changed while {kind!r} was being recorded (it now"
            f" ends at event {seq - 1}, not {after_seq}); reload it and decide again"
        )
    event = link_event(session_id, seq, kind, actor, payload, utcnow(), prev_hash)
    if row is not None:
        row.chain_seq, row.chain_hash = seq, event.hash
    else:
        await db_session.execute(
            update(CallSession)
            .where(CallSession.id == session_id)
            .values(chain_seq=seq, chain_hash=event.hash)
        )
    await insert_events(db_session, [event])
    return event


async def insert_events(db_session: AsyncSession, events: Sequence[SessionEvent]) -> None:
    """Write linked events with a plain INSERT (pending changes of the transaction, such as
    the session's row, are flushed first by the session): nobody reads an event back in the
    transaction that writes it, and the unit of work's bookkeeping for each cost more CPU
    than the statement (under load, a tenth of a server's time)."""
    if not events:
        return
    await db_session.execute(
        insert(_EVENTS),
        [{c: getattr(e, c) for c in EVENT_COLUMNS} for e in events],
    )


async def _next_link(db_session: AsyncSession, session_id: str, kind: str) -> tuple[int, str]:
    """The next event's ``seq`` and the hash it follows, from the session's row, locked."""
    # The head is a column of the locked row itself: PostgreSQL returns the row's newest
    # version after waiting for its lock, where a read of the events table in the same
    # statement would see the snapshot from before the wait. FOR UPDATE serialises
    # appenders in other processes; SQLite ignores it (its single writer lock plus the unique
    # constraint on (session_id, seq) do that job).
    head = (
        await db_session.execute(
            select(CallSession.chain_seq, CallSession.chain_hash)
            .where(CallSession.id == session_id)
            .with_for_update()
        )
    ).first()
    if head is None:
        raise NotFound(
            f"no session {session_id!r} to record {kind!r} for; create it first"
            " with store.create_session"
        )
    return head.chain_seq + 1, head.chain_hash


def link_event(
    session_id: str,
    seq: int,
    kind: str,
    actor: str,
    payload: dict[str, Any],
    created_at: datetime,
    prev_hash: str,
) -> SessionEvent:
    """The event row at ``seq`` after ``prev_hash``, with its own hash."""
    return SessionEvent(
        session_id=session_id,
        seq=seq,
        kind=kind,
        actor=actor,
        payload=payload,
        created_at=created_at,
        prev_hash=prev_hash,
        hash=event_hash(session_id, seq, kind, actor, payload, created_at, prev_hash),
    )


@dataclass(frozen=True)
class NewEvent:
    """One event to append with :func:`append_many_in`."""

    session_id: str
    kind: str
    actor: str
    payload: dict[str, Any]


def link_many(
    events: list[NewEvent], heads: dict[str, tuple[int, str]], created_at: datetime
) -> list[SessionEvent]:
    """Each event linked after its session's head ``(seq, hash)`` (one event per session)."""
    assert len({e.session_id for e in events}) == len(events), "one event per session"
    return [
        link_event(e.session_id, heads[e.session_id][0] + 1, e.kind, e.actor, e.payload,
                created_at, heads[e.session_id][1])
        for e in events
    ]  # fmt: skip


async def append_many_in(db_session: AsyncSession, events: list[NewEvent]) -> None:
    """Append one event to each of several sessions' chains in three round trips.

    The caller holds each session's ``audit:`` lock, as for :func:`append_in`. (The router's
    offers take the heads from the rows its batch locks and write them with its own update:
    see ``storage.routing``.)
    """
    if not events:
        return
    ids = sorted({e.session_id for e in events})
    # sorted, so two batches lock rows in the same order and cannot deadlock each other
    heads: dict[str, tuple[int, str]] = {
        r.id: (r.chain_seq, r.chain_hash)
        for r in await db_session.execute(
            select(CallSession.id, CallSession.chain_seq, CallSession.chain_hash)
            .where(CallSession.id.in_(ids))
            .order_by(CallSession.id)
            .with_for_update()
        )
    }
    missing = [i for i in ids if i not in heads]
    if missing:
        raise NotFound(f"no session {missing[0]!r} to record an event for; create it first")
    linked = link_many(events, heads, utcnow())
    await insert_events(db_session, linked)
    await db_session.execute(
        update(CallSession)
        .where(CallSession.id.in_(ids))
        .values(
            chain_seq=case({e.session_id: e.seq for e in linked}, value=CallSession.id),
            chain_hash=case({e.session_id: e.hash for e in linked}, value=CallSession.id),
        )
        .execution_options(synchronize_session=False)
    )
    await db_session.flush()
