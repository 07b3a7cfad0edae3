"""Complaint tickets of record, on SQLite and PostgreSQL: numbered per day with a check
character, one per ended session, the day's numbers never drawn twice when filed at once,
overdue when unanswered past the due date, and no change after closing; every change is in
the session's chain and the chain verifies."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from signaling.catalogue import load_catalogue
from signaling.complaints import numbers
from storage import complaints, routing
from storage.audit import AuditLog
from storage.blobs import FileBlobStore
from storage.complaints import ComplaintConflict, InvalidComplaint
from storage.db import Database
from storage.errors import NotFound
from storage.verify import verify_session
from tests.signaling.test_router import TAX, dept_of, prepare

KEY = "test-key"


async def ended(db: Database, terminal: int) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db, session_id=session_id, terminal_id=terminal, service_id=TAX,
        department_id=dept_of(load_catalogue(), TAX), language="zh-Hans", care_mode=False,
        priority=0, recall_of=None, ice_servers=[], early_offer=None, actor="terminal:1",
    )  # fmt: skip
    await routing.finish(db, session_id, state="cancelled", reason="cancelled", actor="terminal:1")
    return session_id


async def file(
    db: Database, terminal: int, session_id: str, *, due: date | None = None, text: str = "Slow."
) -> complaints.ComplaintSnap:
    return await complaints.file(
        db, session_id, terminal_id=terminal, department_id="taxation", category="waiting",
        text=text, phone="", region="HK", due_on=due or date.today() + timedelta(days=14),
        numbering=numbers.format_number,
        seal=lambda number: numbers.seal(KEY, number, "123456"), actor=f"terminal:{terminal}",
    )  # fmt: skip


async def test_tickets_are_numbered_once_each_and_audited(db: Database, tmp_path: Path) -> None:
    [terminal] = await prepare(db, load_catalogue(), 1)
    sessions = [await ended(db, terminal) for _ in range(4)]
    # filed at once: four different numbers of the day, each with a valid check character
    filed = await asyncio.gather(*(file(db, terminal, s) for s in sessions))
    assert sorted(t.serial for t in filed) == [1, 2, 3, 4]
    assert all(numbers.normalise(t.number) == t.number for t in filed)
    assert numbers.code_matches(KEY, filed[0].number, "123456", filed[0].code_hash)
    assert not numbers.code_matches(KEY, filed[0].number, "123457", filed[0].code_hash)
    assert not numbers.code_matches(KEY, filed[0].number, "123456", None)
    with pytest.raises(ComplaintConflict, match="filed already"):
        await file(db, terminal, sessions[0])
    with pytest.raises(NotFound):
        await file(db, terminal + 1, sessions[1])  # not this kiosk's session

    ticket = filed[0]
    await complaints.answer(db, ticket.number, "First answer.", 1, "supervisor:sue")
    amended = await complaints.answer(db, ticket.number, "Better answer.", 1, "supervisor:sue")
    assert (amended.state, amended.answer) == ("answered", "Better answer.")
    await complaints.close(db, ticket.number, 1, "supervisor:sue")
    with pytest.raises(ComplaintConflict, match='is "closed"; it cannot become "answered"'):
        await complaints.answer(db, ticket.number, "Too late.", 1, "supervisor:sue")
    with pytest.raises(ComplaintConflict, match="closed; it cannot be assigned"):
        await complaints.assign(db, ticket.number, 1, "supervisor:sue")
    kinds = [e.kind for e in await AuditLog(db).events(ticket.session_id)]
    assert kinds[-4:] == [
        "complaint.filed", "complaint.answered", "complaint.answered", "complaint.closed",
    ]  # fmt: skip
    report = await verify_session(db, FileBlobStore(tmp_path / "blobs"), ticket.session_id)
    assert report.ok, report


async def test_bad_entries_store_nothing_and_overdue_is_unanswered_past_due(db: Database) -> None:
    [terminal] = await prepare(db, load_catalogue(), 1)
    session_id = await ended(db, terminal)
    with pytest.raises(InvalidComplaint, match="shorten it to 500"):
        await file(db, terminal, session_id, text="x" * 501)
    assert await complaints.listed(db) == []
    late = await file(db, terminal, session_id, due=date(2026, 1, 2))
    today = date(2026, 1, 5)
    assert late.overdue(today) and not late.overdue(date(2026, 1, 2))
    assert [t.number for t in await complaints.listed(db, overdue_on=today)] == [late.number]
    await complaints.answer(db, late.number, "Answered late.", 1, "supervisor:sue")
    assert await complaints.listed(db, overdue_on=today) == []


def test_due_dates_count_working_days_in_the_kiosks_time_zone() -> None:
    # Friday 23:30 in Hong Kong (15:30 UTC): filed on Friday, 3 working days -> Wednesday
    friday = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    assert numbers.due_date(friday, 3, [], "Asia/Hong_Kong") == date(2026, 12, 9)
    # 16:30 UTC is already Saturday there: Monday, Tuesday and (a holiday) Thursday
    saturday = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    holiday = [date(2026, 12, 9)]
    assert numbers.due_date(saturday, 3, holiday, "Asia/Hong_Kong") == date(2026, 12, 10)
