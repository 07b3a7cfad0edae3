"""The reminder before the due date and the lapse after it: each recorded once, even with two
processes sweeping the same store at once, on SQLite and PostgreSQL; after a lapse the
application can only be returned or rejected."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from signaling.appointment_desk import Clock
from signaling.paperwork.messages import ReprintRequest
from signaling.paperwork.to_follow import FollowRules, FollowSweep
from signaling.paperwork.to_follow_routes import FOLLOW_SWEEP
from storage.audit import AuditLog
from storage.db import Database
from terminal_client.errors import PaperworkRefused
from terminal_client.to_follow import FollowClient
from tests.sign.conftest import Counter, sign
from tests.to_follow.conftest import FOLLOWS, MONDAY, recheck, second_kiosk, set_clock


async def kinds_of(counter: Counter, kind: str) -> list[dict[str, object]]:
    events = await AuditLog(counter.server.db).events(counter.session_id)
    return [e.payload for e in events if e.kind == kind]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.timeout(120)
async def test_reminder_and_lapse_once_each_with_two_processes(counter: Counter) -> None:
    server = counter.server
    set_clock(server, MONDAY)
    status, _ = await counter.as_clerk(
        "POST", f"/api/sessions/{counter.session_id}/to-follow", {"material_id": FOLLOWS}
    )
    assert status == 201
    number = (await sign(counter))["acceptance_number"]
    # this process's sweep, and another process's: its own engine, locks and clock
    one = server.app[FOLLOW_SWEEP]
    clock = Clock()
    async with Database(server.settings.db_url) as db:
        two = FollowSweep(db, FollowRules.of(server.settings), clock, 60.0)

        async def both_at(days: int, hours: int = 0) -> None:
            moment = MONDAY + timedelta(days=days, hours=hours)
            set_clock(server, moment)
            clock.set(moment)
            await asyncio.gather(one.sweep(), two.sweep(), one.sweep(), two.sweep())

        await both_at(3)  # Thursday: due Monday 14th, reminders two days before
        assert await kinds_of(counter, "material.reminder_sent") == []
        await both_at(5)  # Saturday: two days left
        await both_at(5, 6)
        reminders = await kinds_of(counter, "material.reminder_sent")
        assert reminders == [
            {"material_id": FOLLOWS, "due_on": "2026-12-14", "days_left": 2,
             "to": "department:taxation"},
        ]  # fmt: skip
        await both_at(7, 12)  # the due day itself: still in time
        assert await kinds_of(counter, "material.lapsed") == []
        await both_at(8)  # Tuesday: lapsed
        await both_at(9)
        assert await kinds_of(counter, "material.lapsed") == [
            {"material_id": FOLLOWS, "due_on": "2026-12-14"}
        ]
        assert len(await kinds_of(counter, "material.reminder_sent")) == 1

    # lapsed: approval refused with a sentence, nothing can be brought, return still works
    decision = f"/api/sessions/{counter.session_id}/decision"
    status, refused = await counter.as_clerk(
        "POST", decision, {"outcome": "approved", "reason": "ok"}
    )
    assert status == 409 and refused["code"] == "material_lapsed"
    assert "did not come by its due date; it can only be returned or rejected" in refused["message"]
    token, _ = await second_kiosk(server)
    with pytest.raises(PaperworkRefused) as late:
        await FollowClient(server.url, token).lookup(ReprintRequest.model_validate(recheck(number)))
    assert late.value.code == "material_lapsed" and "2026-12-14" in str(late.value)
    status, view = await counter.as_clerk(
        "POST", decision, {"outcome": "returned", "reason": "the premises proof did not come"}
    )
    assert status == 200 and view["state"] == "returned"
    assert view["to_follow"][0]["state"] == "lapsed" and view["to_follow"][0]["reminded"]
