"""The work report from a scripted day of state changes: on duty, talk, wrap-up, away by
reason, calls, occupancy per clerk; calls and average times per service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage import routing, store
from storage.db import Database
from storage.errors import InvalidValue
from storage.state_log import state_entry
from storage.work_report import work_report

NINE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NAMES = {"zh-Hant": "x", "zh-Hans": "x", "en": "x"}


def at(minutes: float) -> datetime:
    return NINE + timedelta(minutes=minutes)


async def call(db: Database, terminal_id: int, service_id: str) -> str:
    session_id = uuid.uuid4().hex
    await routing.open_session(
        db,
        session_id=session_id,
        terminal_id=terminal_id,
        service_id=service_id,
        department_id="tax",
        language="en",
        care_mode=False,
        priority=0,
        recall_of=None,
        ice_servers=[],
        early_offer=None,
        actor="terminal:k",
    )
    return session_id


async def test_the_report_adds_up_a_scripted_day(db: Database) -> None:
    await store.sync_catalogue(
        db,
        [("tax", NAMES)],
        [("filing", "tax", NAMES, [], False), ("invoices", "tax", NAMES, [], False)],
    )
    ann = (await store.create_clerk(db, "ann", "password-123", "Ann", ["tax"])).id
    bob = (await store.create_clerk(db, "bob", "password-123", "Bob", ["tax"])).id
    kiosks = [(await store.register_terminal(db, f"k{i}"))[0].id for i in range(3)]
    first = await call(db, kiosks[0], "filing")
    second = await call(db, kiosks[1], "invoices")
    third = await call(db, kiosks[2], "filing")
    script = [
        # ann: signs in at 8:50 (before the period), available at 9:00
        (ann, "away", -10, None, None),
        (ann, "available", 0, None, None),
        (ann, "ringing", 5, None, first),
        (ann, "busy", 6, None, first),  # talk 10 min
        (ann, "wrap_up", 16, None, first),  # wrap-up 2 min
        (ann, "away", 18, "meal", None),  # meal 30 min
        (ann, "available", 48, None, None),
        (ann, "ringing", 50, None, second),
        (ann, "busy", 51, None, second),  # talk 4 min, then away during the call: 2 min more
        (ann, "away", 55, "break", second),
        (ann, "wrap_up", 57, None, second),  # wrap-up 1 min
        (ann, "away", 58, "break", None),  # break 2 min
        (ann, "offline", 60, None, None),
        # bob: one call that runs past the end of the period (10:00)
        (bob, "away", 30, None, None),
        (bob, "available", 40, None, None),
        (bob, "busy", 50, None, third),
        (bob, "wrap_up", 70, None, third),
        (bob, "available", 75, None, None),
    ]
    async with db.transaction() as tx:
        for clerk_id, state, minutes, reason, session_id in script:
            tx.session.add(
                state_entry(clerk_id, state, at(minutes), reason=reason, session_id=session_id)
            )
    report = await work_report(db, at(0), at(60))
    a, b = report.clerks
    assert (a.username, b.username) == ("ann", "bob")
    assert a.on_duty_s == 60 * 60
    assert a.talk_s == (10 + 4 + 2) * 60
    assert a.wrap_up_s == (2 + 1) * 60
    assert a.away_s == {"meal": 30 * 60, "break": 2 * 60}
    assert a.calls == 2
    assert a.occupancy == pytest.approx((16 + 3) / (60 - 32))
    assert b.on_duty_s == 30 * 60
    assert b.talk_s == 10 * 60 and b.wrap_up_s == 0
    assert b.away_s == {"none": 10 * 60}
    assert b.calls == 1 and b.occupancy == pytest.approx(10 / 20)
    filing, invoices = report.services
    assert (filing.service_id, filing.calls) == ("filing", 2)
    assert filing.average_talk_s == (10 + 10) * 60 / 2
    assert filing.average_wrap_up_s == 2 * 60 / 2
    assert filing.average_handling_s == (20 + 2) * 60 / 2
    assert (invoices.service_id, invoices.calls) == ("invoices", 1)
    assert invoices.average_talk_s == 6 * 60 and invoices.average_wrap_up_s == 60
    # a later period sees bob's call go on, and its wrap-up
    later = await work_report(db, at(60), at(120))
    (b,) = later.clerks
    assert b.talk_s == 10 * 60 and b.wrap_up_s == 5 * 60 and b.on_duty_s == 60 * 60
    assert later.services[0].calls == 1


async def test_a_period_that_ends_before_it_starts_is_refused(db: Database) -> None:
    with pytest.raises(InvalidValue, match="swap since and until"):
        await work_report(db, at(60), at(0))
