"""Each department's line as the matcher reads it: the first few of each department at each
priority (on PostgreSQL through the index of migration 0122), and the department a session
keeps for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signaling.catalogue import load_catalogue
from storage import presence, routing, store
from storage.db import Database
from storage.errors import InvalidValue
from tests.signaling.test_router import TAX, dept_of, prepared_db

LINE = routing.HEAD_PER_DEPARTMENT + 10


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_and_kiosks(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Database, list[int]]]:
    async with prepared_db(tmp_path, str(request.param), LINE + 1) as prepared:
        yield prepared


async def queue(db: Database, terminal: int, *, priority: int = 0, service: str = TAX) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=terminal, service_id=service,
        department_id=dept_of(load_catalogue(), service), language="en",
        care_mode=priority == routing.PRIORITY_CARE, priority=priority, recall_of=None,
        ice_servers=[], early_offer=None, actor=f"terminal:{terminal}",
    )  # fmt: skip
    return session_id


async def test_a_priority_call_far_back_in_a_long_line_is_offered_first(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    first = [await queue(db, k) for k in kiosks[:LINE]]
    # behind more than the matcher reads of a department's line at one priority
    care = await queue(db, kiosks[LINE], priority=routing.PRIORITY_CARE)
    dept = dept_of(load_catalogue(), TAX)
    await presence.clerk_attach(db, 1, {dept}, "p", "s1", None)
    await presence.set_clerk_state(db, 1, "available", ("away",))
    await presence.clerk_attach(db, 2, {dept}, "p", "s2", None)
    await presence.set_clerk_state(db, 2, "available", ("away",))
    offered = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0)
    # care mode first, then the first to come
    assert [s.id for s, _ in offered] == [care, first[0]]


async def test_a_service_moved_to_another_department_takes_its_waiting_sessions_along(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    catalogue = load_catalogue()
    ended = await queue(db, kiosks[0])
    await routing.finish(db, ended, state="cancelled", reason="cancelled", actor="terminal:1")
    waiting = await queue(db, kiosks[1])
    other = next(d.id for d in catalogue.departments if d.id != dept_of(catalogue, TAX))
    await store.sync_catalogue(
        db,
        [(d.id, d.names.model_dump(by_alias=True)) for d in catalogue.departments],
        [
            (s.id, other if s.id == TAX else s.department_id, s.names.model_dump(by_alias=True),
             [], s.second_approval)
            for s in catalogue.services
        ],
    )  # fmt: skip
    assert (await store.get_session(db, waiting)).department_id == other
    assert (await store.get_session(db, ended)).department_id == dept_of(catalogue, TAX)
    # and the matcher finds it in its new department's line
    await presence.clerk_attach(db, 1, {other}, "p", "s1", None)
    await presence.set_clerk_state(db, 1, "available", ("away",))
    offered = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0)
    assert [s.id for s, _ in offered] == [waiting]


async def test_a_priority_the_matcher_does_not_read_is_refused(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    with pytest.raises(InvalidValue, match="priority 7"):
        await queue(db, kiosks[0], priority=7)
    assert await routing.active_of_terminal(db, kiosks[0]) is None


async def test_a_declined_call_waits_for_a_clerk_who_has_not_passed_on_it(
    db_and_kiosks: tuple[Database, list[int]],
) -> None:
    db, kiosks = db_and_kiosks
    dept = dept_of(load_catalogue(), TAX)
    first, second = await queue(db, kiosks[0]), await queue(db, kiosks[1])
    for clerk in (1, 2):
        await presence.clerk_attach(db, clerk, {dept}, "p", f"s{clerk}", None)
        await presence.set_clerk_state(db, clerk, "available", ("away",))
    offered = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0)
    assert [(s.id, c.clerk_id) for s, c in offered] == [(first, 1), (second, 2)]
    await routing.withdraw(
        db, first, 1, reason="declined", clerk_next="available", count_decline=True,
        actor="clerk:1",
    )  # fmt: skip
    # clerk 1 is free again, but clerk 2 (ringing) is on duty and has not passed on it
    assert await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0) == []
    # clerk 2 gone: nobody else can take it, so it goes back to the clerk who passed
    await presence.clerk_detach(db, 2, "s2")
    offered = await routing.claim_batch(db, offer_timeout_s=30.0, decline_pause_s=0.0)
    assert [(s.id, c.clerk_id) for s, c in offered] == [(first, 1)]
