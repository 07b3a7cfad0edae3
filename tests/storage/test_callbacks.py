"""Callback tasks of record: made with the session's cancel in one transaction, taken once,
retried after no answer, closed with the outcome and the clerk, every change in the chain."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from signaling.catalogue import load_catalogue
from storage import callbacks, presence, routing, store
from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.callbacks import CallbackConflict, ClerkInCall, InvalidPhone, parse_phone
from storage.db import Database
from storage.models import Callback, ClerkPresence
from storage.verify import verify_session
from tests.signaling.test_router import TAX, dept_of, prepare


@pytest.fixture
async def terminal(db: Database) -> int:
    return (await prepare(db, load_catalogue(), 1))[0]


async def queued(db: Database, terminal: int) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=terminal, service_id=TAX,
        department_id=dept_of(load_catalogue(), TAX), language="zh-Hant", care_mode=False,
        priority=0, recall_of=None, ice_servers=[], early_offer=None, actor="terminal:1",
    )  # fmt: skip
    return session_id


async def request(db: Database, terminal: int, session_id: str) -> callbacks.CallbackSnap:
    requested = await callbacks.request(
        db, session_id, terminal_id=terminal, phone="9123 4567", region="HK",
        actor=f"terminal:{terminal}",
    )  # fmt: skip
    assert requested.ended.before.state == "queued"
    assert requested.ended.session.state == "cancelled"
    return requested.task


async def kinds(db: Database, session_id: str) -> list[str]:
    return [e.kind for e in await AuditLog(db).events(session_id)]


async def test_a_callback_cancels_the_waiting_session_in_the_same_transaction(
    db: Database, terminal: int, caplog: pytest.LogCaptureFixture
) -> None:
    session_id = await queued(db, terminal)
    with caplog.at_level(logging.INFO):
        task = await request(db, terminal, session_id)
    assert task.state == "open" and task.phone == "+85291234567" and task.attempts == 0
    assert task.department_id == dept_of(load_catalogue(), TAX) and task.language == "zh-Hant"
    assert task.reference.startswith("CB") and len(task.reference) == 8
    session = await routing.get(db, session_id)
    assert session is not None
    assert (session.state, session.end_reason) == ("cancelled", "callback")
    assert await kinds(db, session_id) == [
        "session.created", "session.cancelled", "callback.requested",
    ]  # fmt: skip
    events = await AuditLog(db).events(session_id)
    assert events[-1].payload["reference"] == task.reference
    # personal data: the number is in the task only, in no event and no log line
    assert all("9123" not in str(e.payload) for e in events)
    assert "9123" not in caplog.text and "91234567" not in caplog.text
    # a session that is no longer waiting cannot be turned into a second task
    with pytest.raises(CallbackConflict, match='is "cancelled": only a session still waiting'):
        await request(db, terminal, session_id)
    assert [c.reference for c in await callbacks.listed(db)] == [task.reference]


@pytest.mark.parametrize(
    ("number", "region", "reason", "words"),
    [
        ("", "HK", "empty", "none was entered"),
        ("9123-45x7", "HK", "characters", "only digits"),
        ("912", "HK", "too_short", "too short for a phone number of Hong Kong"),
        ("9", "CN", "too_short", "too short for a phone number of the mainland"),
        ("912345678901", "MO", "too_long", "too long for a phone number of Macau"),
        ("10000000", "HK", "invalid", "not a phone number in use in Hong Kong"),
        ("+1 202 555 0125", "HK", "other_region", "Hong Kong, Macau and the mainland only"),
    ],
)
async def test_a_bad_number_is_refused_with_a_sentence_and_nothing_saved(
    db: Database, terminal: int, number: str, region: str, reason: str, words: str
) -> None:
    session_id = await queued(db, terminal)
    with pytest.raises(InvalidPhone, match=words) as refused:
        await callbacks.request(
            db, session_id, terminal_id=terminal, phone=number, region=region, actor="t"
        )
    assert refused.value.reason == reason
    session = await routing.get(db, session_id)
    assert session is not None and session.state == "queued"
    assert await kinds(db, session_id) == ["session.created"]
    async with db.reads() as s:
        assert await s.scalar(select(func.count()).select_from(Callback)) == 0


def test_numbers_of_each_region_in_their_local_and_international_forms() -> None:
    assert parse_phone("6612 3456", "MO") == "+85366123456"
    assert parse_phone("138 0013 8000", "CN") == "+8613800138000"
    assert parse_phone("+853 6612 3456", "HK") == "+85366123456"
    assert parse_phone("2123 4567", "HK") == "+85221234567"
    with pytest.raises(InvalidPhone, match="unknown region 'US'"):
        parse_phone("91234567", "US")


async def test_taken_once_no_answer_returns_it_then_closed_with_outcome_and_clerk(
    db: Database, terminal: int, tmp_path: Path
) -> None:
    session_id = await queued(db, terminal)
    ref = (await request(db, terminal, session_id)).reference
    taken = await callbacks.take(db, ref, 1, "clerk:1")
    assert (taken.state, taken.taken_by) == ("taken", 1)
    with pytest.raises(CallbackConflict, match=f"Callback {ref} is already taken by another"):
        await callbacks.take(db, ref, 2, "clerk:2")
    with pytest.raises(CallbackConflict, match="not yours to record"):
        await callbacks.attempt(
            db, ref, 2, outcome="resolved", note="", max_attempts=3, actor="clerk:2"
        )
    again = await callbacks.attempt(
        db, ref, 1, outcome="no_answer", note="voicemail", max_attempts=3, actor="clerk:1"
    )
    assert (again.state, again.attempts, again.taken_by) == ("open", 1, None)
    assert [c.reference for c in await callbacks.listed(db, states=["open"])] == [ref]
    assert await callbacks.open_by_department(db) == {dept_of(load_catalogue(), TAX): 1}
    await callbacks.take(db, ref, 2, "clerk:2")
    closed = await callbacks.attempt(
        db, ref, 2, outcome="needs_visit", note="bring the lease", max_attempts=3,
        actor="clerk:2",
    )  # fmt: skip
    assert (closed.state, closed.outcome, closed.attempts) == ("closed", "needs_visit", 2)
    assert closed.taken_by == 2 and closed.note == "bring the lease"
    assert closed.closed_at is not None
    assert await callbacks.open_by_department(db) == {}
    with pytest.raises(CallbackConflict, match="already closed"):
        await callbacks.take(db, ref, 1, "clerk:1")
    events = await AuditLog(db).events(session_id)
    assert [e.kind for e in events][2:] == [
        "callback.requested", "callback.taken", "callback.attempted", "callback.taken",
        "callback.attempted", "callback.closed",
    ]  # fmt: skip
    assert events[-1].actor == "clerk:2"
    assert events[-1].payload == {
        "reference": ref, "clerk_id": 2, "outcome": "needs_visit", "attempts": 2,
    }  # fmt: skip
    assert events[4].payload["outcome"] == "no_answer" and events[4].payload["clerk_id"] == 1
    # the chain of the ended session, appended to after it ended, verifies
    report = await verify_session(db, FileBlobStore(tmp_path / "blobs"), session_id)
    assert report.problems == [] and report.events == 8


async def test_no_answer_at_the_last_attempt_closes_it_as_unreachable(
    db: Database, terminal: int
) -> None:
    ref = (await request(db, terminal, await queued(db, terminal))).reference
    for n in (1, 2):
        await callbacks.take(db, ref, 1, "clerk:1")
        done = await callbacks.attempt(
            db, ref, 1, outcome="no_answer", note="", max_attempts=2, actor="clerk:1"
        )
        assert done.attempts == n
    assert (done.state, done.outcome) == ("closed", "unreachable")


async def test_two_clerks_taking_at_once_one_gets_it(db: Database, terminal: int) -> None:
    ref = (await request(db, terminal, await queued(db, terminal))).reference
    results = await asyncio.gather(
        callbacks.take(db, ref, 1, "clerk:1"),
        callbacks.take(db, ref, 2, "clerk:2"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, callbacks.CallbackSnap)]
    lost = [r for r in results if isinstance(r, CallbackConflict)]
    assert len(won) == 1 and len(lost) == 1, results
    stored = await callbacks.get(db, ref)
    assert stored is not None and stored.taken_by == won[0].taken_by


async def test_a_clerk_in_a_call_cannot_take_one(db: Database, terminal: int) -> None:
    ref = (await request(db, terminal, await queued(db, terminal))).reference
    async with db.transaction() as tx:
        tx.session.add(ClerkPresence(clerk_id=1, state="busy", connected=True, departments=[]))
    with pytest.raises(
        ClerkInCall, match=f"You are in a call; finish it before taking callback {ref}"
    ):
        await callbacks.take(db, ref, 1, "clerk:1")
    stored = await callbacks.get(db, ref)
    assert stored is not None and (stored.state, stored.taken_by) == ("open", None)
    assert (await callbacks.take(db, ref, 2, "clerk:2")).taken_by == 2


async def test_a_task_its_clerk_left_holding_goes_back_to_the_line(
    db: Database, terminal: int, tmp_path: Path
) -> None:
    session_id = await queued(db, terminal)
    task = await request(db, terminal, session_id)
    await callbacks.take(db, task.reference, 1, "clerk:c1")
    assert await callbacks.release_taken(db, 2, reason="clerk_left", actor="clerk:c2") == []
    [back] = await callbacks.release_taken(db, 1, reason="clerk_left", actor="clerk:c1")
    assert (back.reference, back.state, back.taken_by) == (task.reference, "open", None)
    events = await AuditLog(db).events(session_id)
    assert events[-1].kind == "callback.released"
    assert events[-1].payload == {
        "reference": task.reference,
        "clerk_id": 1,
        "reason": "clerk_left",
    }
    # another clerk takes it up and closes it; nothing is released twice
    assert await callbacks.release_taken(db, 1, reason="clerk_left", actor="clerk:c1") == []
    await callbacks.take(db, task.reference, 2, "clerk:c2")
    closed = await callbacks.attempt(
        db, task.reference, 2, outcome="resolved", note="", max_attempts=3, actor="clerk:c2"
    )
    assert closed.state == "closed"
    report = await verify_session(db, FileBlobStore(tmp_path / "blobs"), session_id)
    assert report.problems == []


async def test_an_available_clerk_on_a_callback_is_not_rung_until_they_record_it(
    db: Database, terminal: int
) -> None:
    dept = dept_of(load_catalogue(), TAX)
    await presence.clerk_attach(db, 1, {dept}, "p", "s1", None)
    await presence.set_clerk_state(db, 1, "available", ("away",))
    task = await request(db, terminal, await queued(db, terminal))
    await callbacks.take(db, task.reference, 1, "clerk:c1")
    clerk = await presence.clerk(db, 1)
    assert clerk is not None and (clerk.state, clerk.away_reason) == ("away", "callback")
    # a call that comes meanwhile waits for them
    other = await queued(db, (await store.register_terminal(db, "k2"))[0].id)
    assert await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0) == []
    await callbacks.attempt(
        db, task.reference, 1, outcome="no_answer", note="", max_attempts=3, actor="clerk:c1"
    )
    clerk = await presence.clerk(db, 1)
    assert clerk is not None and (clerk.state, clerk.away_reason) == ("available", None)
    [(offered, _clerk)] = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0)
    assert offered.id == other
    # a clerk already away for a break stays on their break
    await routing.withdraw(
        db, other, 1, reason="declined", clerk_next="away", count_decline=False, actor="c"
    )
    await presence.set_clerk_state(db, 1, "away", ("away",))
    await callbacks.take(db, task.reference, 1, "clerk:c1")
    await callbacks.attempt(
        db, task.reference, 1, outcome="resolved", note="", max_attempts=3, actor="clerk:c1"
    )
    clerk = await presence.clerk(db, 1)
    assert clerk is not None and clerk.state == "away"
