"""``storage.rows``: what a record writes, and a PostgreSQL connection that a failed or
cancelled transition leaves behind (it goes back to the pool clean, or not at all)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from signaling.catalogue import load_catalogue
from storage import routing, rows, store
from storage.db import Database
from storage.routing import RoutingConflict
from storage.rows import PRESENCE, SESSIONS, Record
from tests import dbutil
from tests.signaling.test_router import TAX, dept_of, make_db, prepare


def test_a_record_writes_only_what_changed() -> None:
    row = Record(SESSIONS, {"id": "a", "state": "queued", "declined_by": [[1, "t"]], "step": 1})
    assert row.changes() == {}
    row.step = 1
    row.state = "offered"
    row.declined_by.append([2, "u"])  # changed in place: still seen
    assert row.changes() == {"state": "offered", "declined_by": [[1, "t"], [2, "u"]]}
    with pytest.raises(AttributeError, match="sessions has no column 'colour'"):
        row.colour = "red"


def test_a_new_record_has_every_column_and_a_written_one_writes_its_values() -> None:
    made = Record.made(SESSIONS, id="a", terminal_id=1, service_id="s", language="en")
    assert made.new and set(made.changes()) == set(SESSIONS.columns.keys())
    assert made.declined_by == [] and made.step == 1 and made.clerk_id is None
    with pytest.raises(AttributeError, match="no column 'colour'"):
        Record.made(SESSIONS, id="a", colour="red")
    # written whatever the row holds now, even a value that may be the same
    written = Record.written(PRESENCE, {"clerk_id": 3}, session_id=None, version=4)
    assert written.key == ("clerk_id", 3)
    assert written.changes() == {"session_id": None, "version": 4}


@pytest.fixture
async def pg(tmp_path: Path) -> AsyncIterator[tuple[Database, str, list[int]]]:
    db, url = await make_db(tmp_path, "postgresql")
    assert url is not None
    try:
        async with db:
            yield db, url, await prepare(db, load_catalogue(), 2)
    finally:
        await dbutil.drop_pg_database(url)


async def queued(db: Database, terminal: int) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=terminal, service_id=TAX,
        department_id=dept_of(load_catalogue(), TAX), language="en", care_mode=False,
        priority=0, recall_of=None, ice_servers=[], early_offer=None, actor="terminal:1",
    )  # fmt: skip
    return session_id


async def idle_in_transaction(url: str) -> int:
    """Connections to the test database left inside a transaction."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%'"
        )
        return int(found)
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_a_refused_transition_writes_nothing_and_leaves_no_transaction_open(
    pg: tuple[Database, str, list[int]],
) -> None:
    db, url, kiosks = pg
    session_id = await queued(db, kiosks[0])
    with pytest.raises(RoutingConflict):
        await routing.accept(db, 1, session_id, "clerk:c1")  # never offered to anyone
    assert await idle_in_transaction(url) == 0
    # an exception inside the block: the row was locked and changed, nothing is written
    with pytest.raises(RuntimeError, match="boom"):
        async with rows.transaction(db) as tx:
            found = await tx.session(session_id)
            assert found is not None
            found.row.step = 5
            tx.chain(found.row, "step.changed", "test", {"to": 5})
            raise RuntimeError("boom")
    assert await idle_in_transaction(url) == 0
    row = await store.get_session(db, session_id)
    assert (row.step, row.chain_seq) == (1, 1)
    # and the pool's connections serve the next transitions
    for step in range(2, 8):
        assert await routing.record(db, session_id, "note", "test", {"n": step}) is None
    assert (await store.get_session(db, session_id)).chain_seq == 7


@pytest.mark.postgres
async def test_a_transition_cancelled_while_it_waits_for_a_lock_leaves_the_pool_usable(
    pg: tuple[Database, str, list[int]],
) -> None:
    db, url, kiosks = pg
    session_id = await queued(db, kiosks[0])
    holder = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", session_id)
        waiting = asyncio.create_task(routing.record(db, session_id, "note", "test", {}))
        # the lock wait is PostgreSQL's state, told by no event: poll it
        while not await holder.fetchval(  # noqa: ASYNC110
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        ):
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await holder.execute("ROLLBACK")
    finally:
        await holder.close()
    # every connection the pool hands out works, and none holds the row or a transaction
    for _ in range(50):
        await routing.record(db, session_id, "note", "test", {})
    assert await idle_in_transaction(url) == 0
    assert (await store.get_session(db, session_id)).chain_seq == 51
