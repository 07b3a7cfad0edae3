"""The staff log: supervisor actions in one append-only hash chain."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.models import StaffEvent
from storage.staff_audit import StaffLog

STAFF = StaffEvent.__table__


async def test_actions_chain_and_verify(db: Database) -> None:
    log = StaffLog(db)
    await log.append("supervisor:sue", "overview.opened", {})
    await log.append("supervisor:sue", "replay.opened", {}, "a" * 32)
    await log.append("supervisor:ann", "figures.viewed", {"target_s": 60})
    events = await log.events()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert [e.kind for e in await log.events("a" * 32)] == ["replay.opened"]
    assert (await log.verify()).ok


async def test_rows_cannot_be_rewritten(db: Database) -> None:
    log = StaffLog(db)
    await log.append("supervisor:sue", "replay.opened", {}, "b" * 32)
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="staff_events is append-only"):
            await conn.execute(update(STAFF).values(actor="supervisor:nobody"))
        await conn.rollback()
        with pytest.raises(DBAPIError, match="staff_events is append-only"):
            await conn.execute(delete(STAFF))
        await conn.rollback()


async def test_an_edited_row_is_found(db: Database) -> None:
    log = StaffLog(db)
    for n in range(3):
        await log.append("supervisor:sue", "sessions.searched", {"n": n})
    async with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            await conn.execute(text("DROP TRIGGER staff_events_no_update"))
        else:
            await conn.execute(text("ALTER TABLE staff_events DISABLE TRIGGER USER"))
        # who watched: the one thing someone covering their tracks would change
        await conn.execute(update(STAFF).where(STAFF.c.seq == 2).values(actor="supervisor:ann"))
    report = await log.verify()
    assert not report.ok and report.first_break is not None
    assert (report.first_break.seq, report.first_break.reason) == (2, "hash mismatch")
