"""The hash-chained audit trail: appending, verifying and catching tampering."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from storage import store
from storage.audit import (
    GENESIS_HASH,
    AuditLog,
    ChainReport,
    NewEvent,
    append_many_in,
    canonical_event,
    event_hash,
)
from storage.db import Database
from storage.errors import ChainBroken, NotFound
from storage.models import CallSession, SessionEvent

EVENTS = SessionEvent.__table__


async def new_session(db: Database) -> str:
    await store.sync_catalogue(db, [("d", {"en": "D"})], [("s", "d", {"en": "S"}, [], False)])
    terminal, _ = await store.register_terminal(db, f"kiosk-{id(db)}")
    return (await store.create_session(db, terminal.id, "s", "en")).id


async def chain(db: Database, length: int = 4) -> tuple[AuditLog, str]:
    audit = AuditLog(db)
    session_id = await new_session(db)
    for n in range(1, length + 1):
        await audit.append(session_id, f"step.{n}", "server", {"n": n, "note": "申請"})
    return audit, session_id


async def tamper(db: Database, statement: Any) -> None:
    """Do what an attacker with database access would: switch the guard off, then write."""
    async with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            await conn.execute(text("DROP TRIGGER session_events_no_update"))
            await conn.execute(text("DROP TRIGGER session_events_no_delete"))
        else:
            await conn.execute(text("ALTER TABLE session_events DISABLE TRIGGER USER"))
        await conn.execute(statement)


def at(session_id: str, seq: int) -> Any:
    return (EVENTS.c.session_id == session_id) & (EVENTS.c.seq == seq)


def broken(report: ChainReport, seq: int, reason: str) -> None:
    assert not report.ok, report
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.reason) == (seq, reason), report


def test_canonical_event_is_stable_sorted_utf8_json() -> None:
    moment = datetime(2025, 3, 1, 20, 0, 0, 5, tzinfo=timezone(timedelta(hours=8)))
    data = canonical_event(
        "ab" * 16, 3, "call.offered", "clerk:陳", {"z": 1, "a": [1.5]}, moment, GENESIS_HASH
    )
    assert (
        data
        == (
            '{"actor":"clerk:陳","created_at":"2025-03-01T12:00:00.000005Z","kind":"call.offered",'
            f'"payload":{{"a":[1.5],"z":1}},"prev_hash":"{GENESIS_HASH}","seq":3,'
            f'"session_id":"{"ab" * 16}"}}'
        ).encode()
    )
    assert event_hash(
        "ab" * 16, 3, "call.offered", "clerk:陳", {"a": [1.5], "z": 1}, moment, GENESIS_HASH
    ) == (hashlib.sha256(data).hexdigest())


async def test_append_links_events_and_verifies(db: Database) -> None:
    audit, session_id = await chain(db)
    events = await audit.events(session_id)
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert events[2].payload == {"n": 3, "note": "申請"}
    assert all(e.created_at.tzinfo is UTC for e in events)
    report = await audit.verify(session_id)
    assert report == ChainReport(session_id, True, 4, None)
    report.raise_if_broken()


async def test_empty_and_unknown_sessions(db: Database) -> None:
    audit = AuditLog(db)
    session_id = await new_session(db)
    assert await audit.verify(session_id) == ChainReport(session_id, True, 0)
    with pytest.raises(NotFound, match="no session 'nope' to record 'x' for"):
        await audit.append("nope", "x", "server", {})


async def test_a_batch_appends_one_linked_event_to_each_session(db: Database) -> None:
    audit, first = await chain(db, length=2)
    fresh = []
    for n in range(2):
        terminal, _ = await store.register_terminal(db, f"kiosk-batch-{n}")
        fresh.append((await store.create_session(db, terminal.id, "s", "en")).id)
    batch = [NewEvent(sid, "call.offered", "server", {"clerk_id": 7}) for sid in [first, *fresh]]
    async with db.transaction() as tx:
        await append_many_in(tx.session, batch)
    for sid, length in [(first, 3), (fresh[0], 1), (fresh[1], 1)]:
        events = await audit.events(sid)
        assert [e.seq for e in events] == list(range(1, length + 1))
        assert events[-1].kind == "call.offered" and events[-1].payload == {"clerk_id": 7}
        assert (await audit.verify(sid)).ok and await audit.row_disagrees(sid) is None
    # the batch linked onto the existing chain: the next single append follows it
    await audit.append(first, "step.after", "server", {})
    assert (await audit.verify(first)) == ChainReport(first, True, 4, None)


async def test_a_batch_naming_an_unknown_session_writes_nothing(db: Database) -> None:
    audit, session_id = await chain(db, length=1)
    with pytest.raises(NotFound, match="no session 'nope'"):
        async with db.transaction() as tx:
            await append_many_in(
                tx.session,
                [
                    NewEvent(session_id, "call.offered", "server", {}),
                    NewEvent("nope", "call.offered", "server", {}),
                ],
            )
    assert len(await audit.events(session_id)) == 1


async def test_plain_update_and_delete_are_refused(db: Database) -> None:
    audit, session_id = await chain(db)
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="session_events is append-only"):
            await conn.execute(update(EVENTS).where(at(session_id, 2)).values(actor="mallory"))
        await conn.rollback()
        with pytest.raises(DBAPIError, match="session_events is append-only"):
            await conn.execute(delete(EVENTS).where(at(session_id, 2)))
        await conn.rollback()
    assert (await audit.verify(session_id)).ok


@pytest.mark.postgres
async def test_truncate_is_refused_on_postgresql(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip(reason="TRUNCATE exists on PostgreSQL only")
    audit, session_id = await chain(db)
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="session_events is append-only"):
            await conn.execute(text("TRUNCATE session_events"))
    assert (await audit.verify(session_id)).count == 4


@pytest.mark.parametrize(
    "change",
    [
        {"payload": {"n": 2, "note": "approved"}},
        {"kind": "step.two"},
        {"actor": "clerk:mallory"},
        {"created_at": datetime(2020, 1, 1, tzinfo=UTC)},
    ],
    ids=["payload", "kind", "actor", "created_at"],
)
async def test_edited_event_is_detected(db: Database, change: dict[str, Any]) -> None:
    audit, session_id = await chain(db)
    await tamper(db, update(EVENTS).where(at(session_id, 2)).values(**change))
    report = await audit.verify(session_id)
    broken(report, 2, "hash mismatch")
    assert report.first_break is not None
    assert report.first_break.found == (await audit.events(session_id))[1].hash
    with pytest.raises(ChainBroken, match=f"session {session_id} is broken at seq 2"):
        report.raise_if_broken()


async def test_edited_event_with_recomputed_hash_breaks_the_next_link(db: Database) -> None:
    audit, session_id = await chain(db)
    original = (await audit.events(session_id))[1]
    payload = {"n": 2, "note": "approved"}
    forged = event_hash(
        session_id,
        2,
        original.kind,
        original.actor,
        payload,
        original.created_at,
        original.prev_hash,
    )
    await tamper(db, update(EVENTS).where(at(session_id, 2)).values(payload=payload, hash=forged))
    report = await audit.verify(session_id)
    broken(report, 3, "prev_hash does not link")
    assert report.first_break is not None
    assert (report.first_break.expected, report.first_break.found) == (forged, original.hash)


async def test_deleted_middle_event_is_detected(db: Database) -> None:
    audit, session_id = await chain(db)
    await tamper(db, delete(EVENTS).where(at(session_id, 2)))
    report = await audit.verify(session_id)
    broken(report, 3, "sequence gap")
    assert report.count == 3
    assert report.first_break is not None
    assert (report.first_break.expected, report.first_break.found) == ("2", "3")


async def test_a_cut_off_tail_is_detected_by_the_sessions_row(db: Database) -> None:
    """The events left still link; the row kept the head of the last append."""
    audit, session_id = await chain(db)
    last = (await audit.events(session_id))[-1]
    await tamper(db, delete(EVENTS).where(at(session_id, 4)))
    assert (await audit.verify(session_id)).ok
    row = await audit.row_disagrees(session_id)
    assert row is not None and row.reason == "the session's row says the chain ends elsewhere"
    assert (row.seq, row.expected) == (4, f"4 events ending {last.hash[:16]}")
    assert row.found.startswith("3 events ending")


async def test_the_sessions_row_keeps_its_chains_head(db: Database) -> None:
    audit, session_id = await chain(db, length=3)
    async with db.sessions() as s:
        row = await s.get(CallSession, session_id)
    events = await audit.events(session_id)
    assert row is not None and (row.chain_seq, row.chain_hash) == (3, events[-1].hash)
    assert await audit.row_disagrees(session_id) is None


async def test_deleted_middle_event_with_renumbering_is_detected(db: Database) -> None:
    audit, session_id = await chain(db)
    await tamper(db, delete(EVENTS).where(at(session_id, 2)))
    for seq in (3, 4):
        async with db.engine.begin() as conn:
            await conn.execute(update(EVENTS).where(at(session_id, seq)).values(seq=seq - 1))
    broken(await audit.verify(session_id), 2, "hash mismatch")


async def test_reordered_events_are_detected(db: Database) -> None:
    audit, session_id = await chain(db)
    await tamper(db, update(EVENTS).where(at(session_id, 2)).values(seq=99))
    async with db.engine.begin() as conn:
        await conn.execute(update(EVENTS).where(at(session_id, 3)).values(seq=2))
        await conn.execute(update(EVENTS).where(at(session_id, 99)).values(seq=3))
    broken(await audit.verify(session_id), 2, "hash mismatch")


async def test_concurrent_appends_from_two_audit_logs_form_one_chain(db: Database) -> None:
    session_id = await new_session(db)
    first, second = AuditLog(db), AuditLog(db)
    await asyncio.gather(
        *(
            (first if n % 2 else second).append(session_id, "tick", "server", {"n": n})
            for n in range(50)
        )
    )
    events = await first.events(session_id)
    assert [e.seq for e in events] == list(range(1, 51))
    assert sorted(e.payload["n"] for e in events) == list(range(50))
    assert await second.verify(session_id) == ChainReport(session_id, True, 50)


async def test_two_database_handles_appending_at_once_stay_gapless(db: Database) -> None:
    # A second Database on the same URL stands in for another process: it shares no lock, so
    # the unique (session_id, seq) constraint and the retry must keep the chain whole.
    session_id = await new_session(db)
    async with Database(db.url) as other:
        ours, theirs = AuditLog(db), AuditLog(other)
        for n in range(10):
            await asyncio.gather(
                ours.append(session_id, "ours", "server", {"n": n}),
                theirs.append(session_id, "theirs", "server", {"n": n}),
            )
    report = await ours.verify(session_id)
    assert report == ChainReport(session_id, True, 20)
