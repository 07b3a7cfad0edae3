"""A clerk's work states through the router and the store: wrap-up after each call with a
disposition, away with a reason; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from signaling.errors import ConfigError, IllegalTransition, InvalidMessage
from signaling.messages import (
    ClerkState,
    ClerkStatus,
    Event,
    ExtendWrapUp,
    FileWrapUp,
    MediaStatus,
    QueueStatus,
    Role,
    SessionState,
    TransferCall,
)
from signaling.rooms import clerk_room, terminal_room
from signaling.settings import load_settings
from storage import presence, routing
from storage.audit import AuditLog
from storage.errors import WrapUpRefused
from storage.models import ClerkPresence, ClerkStateLog
from storage.routing import SessionSnap
from storage.staff_audit import StaffLog
from tests.signaling.test_router import (
    TAX,
    Harness,
    dept_of,
    last,
    running_harness,
    wait_until,
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def harness(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The router of tests/signaling/test_router.py with a 60 s wrap-up extendable to 120 s."""
    async with running_harness(
        tmp_path, str(request.param), wrap_up_s=60.0, wrap_up_extend_s=30.0, wrap_up_max_s=120.0
    ) as running:
        yield running


async def in_call(harness: Harness, index: int = 0) -> SessionSnap:
    """Clerk 1 (of TAX's department) in a call with kiosk ``index``."""
    s = await harness.request(index)
    assert s.clerk_id == 1
    await harness.router.accept(1, s.id)
    await harness.router.media_status(
        Role.TERMINAL, harness.terminal_ids[index], MediaStatus(session_id=s.id, state="connected")
    )
    return await harness.session(s.id)


def status(harness: Harness) -> ClerkStatus:
    sent = last(harness.outbox, clerk_room(1), Event.CLERK_STATUS)
    assert isinstance(sent, ClerkStatus)
    return sent


async def test_after_a_hang_up_the_clerk_is_in_wrap_up_and_not_rung_until_filed(
    harness: Harness,
) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await in_call(harness)
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    shown = status(harness)
    assert shown.state == ClerkState.WRAP_UP and shown.wrap_up is not None
    assert shown.wrap_up.session_id == s.id
    assert 55 <= shown.wrap_up.remaining_s <= 60
    assert [c.id for c in shown.wrap_up.codes][:2] == ["resolved", "return-filed"]
    # a kiosk asks meanwhile: nobody free, it waits
    waiting = await harness.request(1)
    assert waiting.state == SessionState.QUEUED
    # ...but is told a clerk is on duty: the one in wrap-up
    place = last(harness.outbox, terminal_room(harness.terminal_ids[1]), Event.QUEUE_STATUS)
    assert isinstance(place, QueueStatus) and place.clerks_on_duty == 1
    # nor can the clerk make themselves available without filing
    with pytest.raises(IllegalTransition, match="choose the call's disposition code"):
        await harness.router.set_availability(1, True)
    with pytest.raises(InvalidMessage, match="choose one of resolved, return-filed"):
        await harness.router.file_wrap_up(1, FileWrapUp(session_id=s.id, code="no-such-code"))
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    await harness.router.file_wrap_up(
        1, FileWrapUp(session_id=s.id, code="needs-documents", note="  bring the lease  ")
    )
    await harness.settle()
    events = await AuditLog(harness.db).events(s.id)
    filed = [e for e in events if e.kind == "wrap_up.filed"]
    assert len(filed) == 1
    assert filed[0].actor == "clerk:c1"
    assert filed[0].payload["code"] == "needs-documents"
    assert filed[0].payload["note"] == "bring the lease"
    assert filed[0].payload["clerk_id"] == 1 and filed[0].payload["then"] == "available"
    assert filed[0].payload["seconds"] >= 0 and filed[0].payload["overtime"] is False
    assert (await AuditLog(harness.db).verify(s.id)).ok
    # available again: the waiting call rings at once
    fresh = await harness.session(waiting.id)
    assert fresh.state == SessionState.OFFERED and fresh.clerk_id == 1
    with pytest.raises(IllegalTransition, match="no wrap-up for call"):
        await harness.router.file_wrap_up(1, FileWrapUp(session_id=s.id, code="resolved"))
    # every state on the way is in the clerk's state log, written with the change
    async with harness.db.reads() as read:
        logged = (
            await read.execute(
                select(ClerkStateLog.state, ClerkStateLog.session_id)
                .where(ClerkStateLog.clerk_id == 1)
                .order_by(ClerkStateLog.started_at)
            )
        ).all()
    assert [tuple(r) for r in logged] == [
        ("away", None),
        ("available", None),
        ("ringing", s.id),
        ("busy", s.id),
        ("wrap_up", s.id),
        ("available", None),
        ("ringing", waiting.id),
    ]


async def test_a_call_ended_by_the_kiosk_or_lost_also_ends_in_wrap_up(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await in_call(harness)
    await harness.router.hangup(Role.TERMINAL, harness.terminal_ids[0], s.id, "done")
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    await harness.router.file_wrap_up(1, FileWrapUp(session_id=s.id, code="resolved"))
    assert await harness.state_of(1) == ClerkState.AVAILABLE
    lost = await in_call(harness, 1)
    await harness.router.terminal_disconnected(harness.terminal_ids[1], "t-sid-1")

    async def failed() -> bool:
        return (await harness.session(lost.id)).state == SessionState.FAILED

    await wait_until(failed, "the call was lost when the kiosk did not come back")
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    assert status(harness).wrap_up is not None
    assert status(harness).wrap_up.session_id == lost.id  # type: ignore[union-attr]


async def test_wrap_up_is_extended_up_to_its_longest_and_no_further(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await in_call(harness)
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    first = await presence.clerk(harness.db, 1)
    assert first is not None and first.wrap_up_deadline is not None
    await harness.router.extend_wrap_up(1, ExtendWrapUp(session_id=s.id))
    await harness.router.extend_wrap_up(1, ExtendWrapUp(session_id=s.id))
    after = await presence.clerk(harness.db, 1)
    assert after is not None and after.wrap_up_deadline is not None
    assert (after.wrap_up_deadline - after.state_since).total_seconds() == pytest.approx(120, abs=1)
    with pytest.raises(WrapUpRefused, match="at most 120 s in all"):
        await harness.router.extend_wrap_up(1, ExtendWrapUp(session_id=s.id))
    kinds = [e.kind for e in await AuditLog(harness.db).events(s.id)]
    assert kinds.count("wrap_up.extended") == 2
    assert status(harness).wrap_up is not None


async def test_stepping_away_needs_a_known_reason_which_is_kept_and_shown(
    harness: Harness,
) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    with pytest.raises(InvalidMessage, match="give a reason, one of break, meal, training"):
        await harness.router.set_availability(1, False)
    with pytest.raises(InvalidMessage, match="'nap' is not an away reason; choose one of"):
        await harness.router.set_availability(1, False, "nap")
    assert await harness.state_of(1) == ClerkState.AVAILABLE
    await harness.router.set_availability(1, False, "meal")
    stored = await presence.clerk(harness.db, 1)
    assert stored is not None and stored.state == ClerkState.AWAY
    assert stored.away_reason == "meal"
    shown = status(harness)
    assert shown.state == ClerkState.AWAY and shown.away_reason == "meal"
    assert shown.away_reasons == ["break", "meal", "training", "meeting"]
    # the same reason again changes nothing; another is another away
    await harness.router.set_availability(1, False, "meal")
    await harness.router.set_availability(1, False, "break")
    staff = [(e.actor, e.kind, e.payload) for e in await StaffLog(harness.db).events()]
    assert staff == [
        ("clerk:c1", "clerk.away", {"reason": "meal"}),
        ("clerk:c1", "clerk.away", {"reason": "break"}),
    ]
    await harness.router.set_availability(1, True)
    stored = await presence.clerk(harness.db, 1)
    assert stored is not None and stored.away_reason is None


async def test_filing_with_a_break_goes_away_for_that_reason(harness: Harness) -> None:
    """A clerk who steps away during a call still files its disposition, then is away."""
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await in_call(harness)
    await harness.router.set_availability(1, False, "training")
    await harness.router.hangup(Role.TERMINAL, harness.terminal_ids[0], s.id, "done")
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    assert status(harness).away_reason == "training"
    with pytest.raises(InvalidMessage, match="not an away reason"):
        await harness.router.file_wrap_up(
            1, FileWrapUp(session_id=s.id, code="resolved", away_reason="nap")
        )
    await harness.router.file_wrap_up(
        1, FileWrapUp(session_id=s.id, code="resolved", away_reason="training")
    )
    stored = await presence.clerk(harness.db, 1)
    assert stored is not None and stored.state == ClerkState.AWAY
    assert stored.away_reason == "training"
    filed = [e for e in await AuditLog(harness.db).events(s.id) if e.kind == "wrap_up.filed"]
    assert filed[0].payload["then"] == "away" and filed[0].payload["away_reason"] == "training"


async def test_a_clerk_whose_console_is_lost_in_wrap_up_is_signed_off(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await in_call(harness)
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    await harness.router.clerk_disconnected(1, "clerk-sid-1")

    async def signed_off() -> bool:
        return await harness.state_of(1) == ClerkState.OFFLINE

    await wait_until(signed_off, "the clerk was signed off after the grace period")
    kinds = [e.kind for e in await AuditLog(harness.db).events(s.id)]
    assert "wrap_up.filed" not in kinds


async def test_a_clerk_who_signs_out_in_wrap_up_is_offline(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await in_call(harness)
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    await harness.router.clerk_disconnected(1, "clerk-sid-1", left=True)
    stored = await presence.clerk(harness.db, 1)
    assert stored is not None and stored.state == ClerkState.OFFLINE
    assert stored.wrap_up_session_id is None and stored.wrap_up_deadline is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"wrap_up_s": 400.0}, "wrap_up_max_s (300) is shorter than wrap_up_s (400)"),
        ({"away_reasons": ["Nap Time"]}, "'Nap Time' is not a reason id"),
        ({"away_reasons": []}, "away_reasons"),
    ],
)
def test_work_state_settings_that_cannot_work_are_refused_by_name(
    overrides: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_settings(**overrides)


async def test_the_wait_estimate_counts_each_calls_wrap_up_with_its_talk(
    harness: Harness,
) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    s = await in_call(harness)
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    # the clerk spent 40 s in wrap-up: their wrap-up started then
    wrapping = await presence.clerk(harness.db, 1)
    assert wrapping is not None and wrapping.state == ClerkState.WRAP_UP
    async with harness.db.transaction() as tx:
        await tx.session.execute(
            update(ClerkPresence)
            .where(ClerkPresence.clerk_id == 1)
            .values(state_since=wrapping.state_since - timedelta(seconds=40))
        )
    talk = await routing.recent_handling_s(harness.db)
    await harness.router.file_wrap_up(1, FileWrapUp(session_id=s.id, code="resolved"))
    [handled] = (await routing.recent_handling_s(harness.db))[dept]
    assert handled == pytest.approx(talk[dept][0] + 40, abs=1)


async def test_a_call_handed_on_leaves_its_first_clerk_in_wrap_up_to_file_as_after_a_hang_up(
    harness: Harness,
) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    s = await in_call(harness)
    await harness.router.transfer(1, TransferCall(session_id=s.id, department_id=dept))
    assert await harness.state_of(1) == ClerkState.WRAP_UP
    # the call waits for another clerk; a second clerk takes it up meanwhile
    await harness.clerk(2, {dept})
    await harness.settle()
    moved = await harness.session(s.id)
    assert moved.state == SessionState.OFFERED and moved.clerk_id == 2
    # the first clerk's wrap-up is theirs to extend and file, whoever has the call now
    await harness.router.extend_wrap_up(1, ExtendWrapUp(session_id=s.id))
    await harness.router.file_wrap_up(1, FileWrapUp(session_id=s.id, code="referred"))
    assert await harness.state_of(1) == ClerkState.AVAILABLE
    assert (await harness.session(s.id)).clerk_id == 2
    kinds = [(e.kind, e.payload.get("clerk_id")) for e in await AuditLog(harness.db).events(s.id)]
    assert [k for k, _ in kinds].index("transfer.requested") < kinds.index(("wrap_up.filed", 1))
    assert ("wrap_up.extended", 1) in kinds
    assert (await AuditLog(harness.db).verify(s.id)).ok
