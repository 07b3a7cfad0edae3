"""A clerk hands a call on (storage.routing.transfer): the session waits again in its old place
in the line, for a department or kept a while for a named clerk, and the chain says who."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from signaling.catalogue import load_catalogue
from storage import presence, routing, store
from storage.audit import AuditLog
from storage.db import Database
from storage.models import CallSession
from storage.routing import TransferRefused
from tests.signaling.test_router import TAX, dept_of, prepared_db

TAXATION = dept_of(load_catalogue(), TAX)
# a service of another department, and that department
HOUSING = "social-insurance-enquiry"
OTHER = dept_of(load_catalogue(), HOUSING)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_and_kiosks(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Database, list[int]]]:
    async with prepared_db(tmp_path, str(request.param), 3) as prepared:
        yield prepared


async def queue(db: Database, terminal: int, service: str = TAX) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=terminal, service_id=service,
        department_id=dept_of(load_catalogue(), service), language="en", care_mode=False,
        priority=0, recall_of=None, ice_servers=[], early_offer=None,
        actor=f"terminal:{terminal}",
    )  # fmt: skip
    return session_id


async def on_duty(db: Database, clerk: int, *departments: str) -> None:
    await presence.clerk_attach(db, clerk, set(departments), "p", f"s{clerk}", None)
    await presence.set_clerk_state(db, clerk, "available", ("away",))


async def offers(db: Database) -> list[tuple[str, int]]:
    made = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=30.0)
    return [(s.id, c.clerk_id) for s, c in made]


async def in_call_with_clerk_1(db: Database, terminal: int) -> str:
    """A session of ``terminal`` answered by clerk 1 (taxation)."""
    session_id = await queue(db, terminal)
    await on_duty(db, 1, TAXATION)
    assert await offers(db) == [(session_id, 1)]
    await routing.accept(db, 1, session_id, "clerk:c1")
    return session_id


async def test_a_transferred_call_keeps_its_place_ahead_of_one_queued_after_it(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    first = await in_call_with_clerk_1(db, kiosks[0])
    enqueued = (await routing.get(db, first)).enqueued_at  # type: ignore[union-attr]
    # queued for the other department after the first applicant, still waiting
    later = await queue(db, kiosks[1], HOUSING)

    moved = await routing.transfer(
        db, first, 1, department_id=OTHER, to_clerk_id=None, reserve_s=60.0, actor="clerk:c1"
    )
    assert moved.session.state == "queued" and moved.session.department_id == OTHER
    assert moved.session.enqueued_at == enqueued and moved.session.transfers == 1
    # the clerk is freed as by a hang-up
    assert moved.clerk is not None and moved.clerk.state == "available"
    assert moved.clerk.session_id is None

    # the other department's clerk gets the transferred call first: it came first
    await on_duty(db, 2, OTHER)
    assert await offers(db) == [(first, 2)]
    taken = await routing.accept(db, 2, first, "clerk:c2")
    assert taken.session.department_id == OTHER and taken.session.transfers == 1
    assert (await routing.get(db, later)).state == "queued"  # type: ignore[union-attr]

    events = await AuditLog(db).events(first)
    kinds = [e.kind for e in events]
    assert kinds[-4:] == [
        "transfer.requested", "call.offered", "call.accepted", "transfer.completed"
    ]  # fmt: skip
    assert kinds.count("call.accepted") == 2
    requested = events[-4].payload
    assert requested == {
        "kind": "blind", "from_clerk_id": 1, "to_department": OTHER, "to_clerk_id": None,
        "to_clerk": None, "reserved_until": None,
    }  # fmt: skip
    assert events[-1].payload == {"from_clerk_id": 1, "to_clerk_id": 2}
    assert (await AuditLog(db).verify(first)).ok
    row = await store.get_session(db, first)
    assert row.clerk_id == 2 and row.transferred_from is None and row.state == "connecting"


async def test_a_call_transferred_to_a_named_clerk_waits_for_them_then_for_their_department(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    session_id = await in_call_with_clerk_1(db, kiosks[0])
    # clerk 2 free longest: the matcher would ring them first, were the call not kept for 3
    await on_duty(db, 2, TAXATION)
    await on_duty(db, 3, TAXATION)
    moved = await routing.transfer(
        db, session_id, 1, department_id=None, to_clerk_id=3, reserve_s=60.0, actor="clerk:c1"
    )
    assert moved.session.reserved_for == 3 and moved.session.department_id == TAXATION
    assert await offers(db) == [(session_id, 3)]
    # clerk 3 passes on it: it stays kept for them (clerk 2 is not rung) until the time is up
    await routing.withdraw(
        db, session_id, 3, reason="declined", clerk_next="available", count_decline=True,
        actor="clerk:c3",
    )  # fmt: skip
    assert await offers(db) == []
    assert (await routing.get(db, session_id)).reserved_for == 3  # type: ignore[union-attr]
    async with db.transaction() as tx:
        await tx.session.execute(
            update(CallSession)
            .where(CallSession.id == session_id)
            .values(reserved_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    # the reservation ran out: the department's clerks may take it
    assert await offers(db) == [(session_id, 2)]
    await routing.accept(db, 2, session_id, "clerk:c2")
    events = await AuditLog(db).events(session_id)
    requested = next(e for e in events if e.kind == "transfer.requested")
    assert requested.payload["to_clerk_id"] == 3 and requested.payload["reserved_until"]
    assert requested.payload["to_clerk"] == "c3"
    assert events[-1].kind == "transfer.completed"
    assert events[-1].payload == {"from_clerk_id": 1, "to_clerk_id": 2}
    assert (await AuditLog(db).verify(session_id)).ok


@pytest.mark.parametrize(
    ("department", "clerk", "message"),
    [
        (None, None, "Name a department or a clerk"),
        (None, 1, "to yourself"),
        ("no-such-department", None, "no department 'no-such-department'"),
        (None, 99, "no clerk 99"),
        (None, 3, "c3 is not signed in"),
        (None, 2, f"c2 does not serve department '{TAXATION}'"),
    ],
)
async def test_a_transfer_the_rules_refuse_changes_nothing(
    db_and_kiosks: tuple[Database, list[int]],
    department: str | None,
    clerk: int | None,
    message: str,
) -> None:
    db, kiosks = db_and_kiosks
    session_id = await in_call_with_clerk_1(db, kiosks[0])
    await on_duty(db, 2, OTHER)  # signed in, but for another department
    before = await routing.get(db, session_id)
    with pytest.raises(TransferRefused, match=message):
        await routing.transfer(
            db, session_id, 1, department_id=department, to_clerk_id=clerk, reserve_s=60.0,
            actor="clerk:c1",
        )  # fmt: skip
    assert await routing.get(db, session_id) == before
    assert (await presence.clerk(db, 1)).state == "busy"  # type: ignore[union-attr]


async def test_only_the_clerk_in_the_call_can_transfer_it(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    waiting = await queue(db, kiosks[1], HOUSING)
    with pytest.raises(TransferRefused, match="not a call of yours in progress"):
        await routing.transfer(
            db, waiting, 1, department_id=OTHER, to_clerk_id=None, reserve_s=60.0,
            actor="clerk:c1",
        )  # fmt: skip
    session_id = await in_call_with_clerk_1(db, kiosks[0])
    await on_duty(db, 2, TAXATION)
    with pytest.raises(TransferRefused, match="not a call of yours in progress"):
        await routing.transfer(
            db, session_id, 2, department_id=OTHER, to_clerk_id=None, reserve_s=60.0,
            actor="clerk:c2",
        )  # fmt: skip
    assert (await routing.get(db, session_id)).clerk_id == 1  # type: ignore[union-attr]


async def test_a_warm_transfer_hands_the_call_over_after_the_consultation(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    session_id = await in_call_with_clerk_1(db, kiosks[0])
    await on_duty(db, 2, TAXATION)
    started = await routing.consult_start(
        db, session_id, 1, 2, department_id=None, actor="clerk:c1"
    )
    assert started.consulted is not None and started.consulted.state == "consulting"
    assert started.session.consult_state == "ringing" and started.session.clerk_id == 1
    # consulting, clerk 2 is never rung: a call queued now waits
    waiting = await queue(db, kiosks[1])
    assert await offers(db) == []
    # nor can the call be handed over before clerk 2 took the consultation up
    with pytest.raises(TransferRefused, match="taken the consultation up"):
        await routing.consult_hand_over(db, session_id, 1, actor="clerk:c1")
    talking = await routing.consult_answer(db, session_id, 2, accept=True, actor="clerk:c2")
    assert talking.session.consult_state == "talking"

    done = await routing.consult_hand_over(db, session_id, 1, actor="clerk:c1")
    assert done.session.clerk_id == 2 and done.session.state == "connecting"
    assert done.session.consult_clerk_id is None and done.session.transfers == 1
    assert done.taker.state == "busy" and done.taker.session_id == session_id
    assert done.clerk is not None and done.clerk.state == "available"
    row = await store.get_session(db, session_id)
    assert row.media_attempt == 1  # the kiosk makes a new peer connection for clerk 2
    # clerk 1 is free again and takes the waiting call
    assert await offers(db) == [(waiting, 1)]

    events = await AuditLog(db).events(session_id)
    kinds = [e.kind for e in events]
    assert kinds[-5:] == [
        "transfer.requested", "consult.started", "consult.ended", "call.accepted",
        "transfer.completed",
    ]  # fmt: skip
    assert events[-5].payload["kind"] == "warm" and events[-5].payload["to_clerk"] == "c2"
    assert events[-3].payload == {"outcome": "handed_over", "from_clerk_id": 1, "to_clerk_id": 2}
    assert events[-2].payload["clerk_id"] == 2
    assert events[-1].payload == {"kind": "warm", "from_clerk_id": 1, "to_clerk_id": 2}
    assert (await AuditLog(db).verify(session_id)).ok


async def test_a_consultation_declined_or_taken_back_leaves_the_call_with_its_clerk(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    session_id = await in_call_with_clerk_1(db, kiosks[0])
    await on_duty(db, 2, TAXATION)
    with pytest.raises(TransferRefused, match="consult yourself"):
        await routing.consult_start(db, session_id, 1, 1, department_id=None, actor="clerk:c1")
    with pytest.raises(TransferRefused, match="c3 is not signed in"):
        await routing.consult_start(db, session_id, 1, 3, department_id=None, actor="clerk:c1")

    await routing.consult_start(db, session_id, 1, 2, department_id=None, actor="clerk:c1")
    with pytest.raises(TransferRefused, match="already being discussed"):
        await routing.consult_start(db, session_id, 1, 2, department_id=None, actor="clerk:c1")
    with pytest.raises(TransferRefused, match="end that consultation first"):
        await routing.transfer(
            db, session_id, 1, department_id=OTHER, to_clerk_id=None, reserve_s=60.0,
            actor="clerk:c1",
        )  # fmt: skip
    declined = await routing.consult_answer(db, session_id, 2, accept=False, actor="clerk:c2")
    assert declined.consulted is not None and declined.consulted.state == "available"
    assert declined.session.consult_clerk_id is None and declined.session.clerk_id == 1

    await routing.consult_start(db, session_id, 1, 2, department_id=None, actor="clerk:c1")
    await routing.consult_answer(db, session_id, 2, accept=True, actor="clerk:c2")
    back = await routing.consult_end(db, session_id, 1, outcome="taken_back", actor="clerk:c1")
    assert back.consulted is not None and back.consulted.state == "available"
    assert back.session.clerk_id == 1 and back.session.state == "connecting"
    assert (await presence.clerk(db, 1)).state == "busy"  # type: ignore[union-attr]

    events = await AuditLog(db).events(session_id)
    ended = [e.payload["outcome"] for e in events if e.kind == "consult.ended"]
    assert ended == ["declined", "taken_back"]
    assert not [e for e in events if e.kind == "transfer.completed"]
    assert (await AuditLog(db).verify(session_id)).ok


async def test_only_the_calls_clerk_takes_it_back_and_only_the_consulted_clerk_leaves(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    session_id = await in_call_with_clerk_1(db, kiosks[0])
    await on_duty(db, 2, TAXATION)
    await routing.consult_start(db, session_id, 1, 2, department_id=None, actor="clerk:c1")
    await routing.consult_answer(db, session_id, 2, accept=True, actor="clerk:c2")
    with pytest.raises(TransferRefused, match="not yours to end that way"):
        await routing.consult_end(db, session_id, 2, outcome="taken_back", actor="clerk:c2")
    with pytest.raises(TransferRefused, match="not yours to end that way"):
        await routing.consult_end(db, session_id, 1, outcome="left", actor="clerk:c1")
    with pytest.raises(TransferRefused, match="Nobody is asking you"):
        await routing.consult_answer(db, session_id, 1, accept=True, actor="clerk:c1")
    left = await routing.consult_end(db, session_id, 2, outcome="left", actor="clerk:c2")
    assert left.session.consult_clerk_id is None and left.session.clerk_id == 1
    assert left.consulted is not None and left.consulted.state == "available"
