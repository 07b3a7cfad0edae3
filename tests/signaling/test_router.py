"""Routing rules: longest-idle clerk, department match, decline, timeout, cancel, no clerk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from signaling.catalogue import Catalogue, load_catalogue
from signaling.errors import IllegalTransition, InvalidMessage, NotYourSession, UnknownService
from signaling.messages import (
    ClerkState,
    Event,
    Message,
    PushPrompt,
    RateSession,
    Role,
    SessionState,
    SetStep,
)
from signaling.recorder import SessionRecorder
from signaling.router import Router
from signaling.state import LiveClerk, LiveSession
from storage import store
from storage.audit import AuditLog
from storage.db import Database, default_sqlite_url


@dataclass
class Outbox:
    """Collects what the router sends, per socket (stands in for socket.io transport)."""

    sent: list[tuple[Role, str, Event, Message]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    async def send(self, role: Role, sid: str, event: Event, message: Message) -> None:
        self.sent.append((role, sid, event, message))

    async def drop(self, role: Role, sid: str) -> None:
        self.dropped.append(sid)

    def to(self, sid: str, event: Event) -> list[Message]:
        return [m for _, s, e, m in self.sent if s == sid and e == event]


@dataclass
class Harness:
    router: Router
    outbox: Outbox
    db: Database
    catalogue: Catalogue
    terminal_ids: list[int]

    async def stored(self) -> None:
        """Let the recorder's background writes reach the store before reading it back."""
        await self.router.recorder.drain()

    async def clerk(
        self, clerk_id: int, departments: set[str], available: bool = True
    ) -> LiveClerk:
        live = LiveClerk(clerk_id, f"c{clerk_id}", f"Clerk {clerk_id}", frozenset(departments))
        live = await self.router.clerk_connected(live, f"clerk-sid-{clerk_id}")
        if available:
            await self.router.set_availability(clerk_id, True)
        return live


def dept_of(catalogue: Catalogue, service_id: str) -> str:
    return catalogue.service(service_id).department_id


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    catalogue = load_catalogue()
    async with Database(default_sqlite_url(tmp_path)) as db:
        await db.upgrade()
        await store.sync_catalogue(
            db,
            [(d.id, d.names.model_dump(by_alias=True)) for d in catalogue.departments],
            [
                (s.id, s.department_id, s.names.model_dump(by_alias=True), [], s.second_approval)
                for s in catalogue.services
            ],
        )
        ids = [(await store.register_terminal(db, f"k{i}"))[0].id for i in range(3)]
        # Real clerk rows: sessions reference the clerk who took them.
        clerk_ids = [
            (await store.create_clerk(db, f"c{i}", "password-123", f"Clerk {i}", [])).id
            for i in range(1, 5)
        ]
        assert clerk_ids == [1, 2, 3, 4]
        outbox = Outbox()
        router = Router(catalogue, SessionRecorder(db), outbox, 0.3, lambda _: [])
        try:
            yield Harness(router, outbox, db, catalogue, ids)
        finally:
            await router.close()


TAX = "tax-registration"


async def test_offer_goes_to_longest_idle_clerk_of_the_department(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await asyncio.sleep(0.01)
    await harness.clerk(2, {dept})
    await harness.clerk(3, {"some-other-department"})
    t = harness.terminal_ids[0]
    session = await harness.router.request_service(t, "k0", "t-sid-0", TAX, "en")
    assert session.state == SessionState.OFFERED
    assert session.clerk_id == 1
    assert harness.router.clerks[1].state == ClerkState.RINGING
    assert harness.outbox.to("clerk-sid-1", Event.CALL_OFFERED)
    assert not harness.outbox.to("clerk-sid-3", Event.CALL_OFFERED)


async def test_decline_offers_to_next_clerk(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await asyncio.sleep(0.01)
    await harness.clerk(2, {dept})
    session = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    await harness.router.decline(1, session.id)
    assert session.clerk_id == 2
    assert harness.router.clerks[1].state == ClerkState.AVAILABLE
    withdrawn = harness.outbox.to("clerk-sid-1", Event.CALL_WITHDRAWN)
    assert withdrawn and withdrawn[-1].reason == "declined"  # type: ignore[attr-defined]


async def test_unanswered_offer_times_out_parks_clerk_and_moves_on(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await asyncio.sleep(0.01)
    await harness.clerk(2, {dept})
    session = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    assert session.clerk_id == 1
    await asyncio.sleep(0.5)
    assert session.clerk_id == 2
    assert harness.router.clerks[1].state == ClerkState.AWAY
    await harness.stored()
    kinds = [e.kind for e in await AuditLog(harness.db).events(session.id)]
    assert "call.timeout" in kinds


async def test_no_eligible_clerk_keeps_waiting_with_position(harness: Harness) -> None:
    await harness.clerk(1, {"some-other-department"})
    a = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    b = await harness.router.request_service(harness.terminal_ids[1], "k1", "t1", TAX, "en")
    assert a.state == b.state == SessionState.QUEUED
    assert harness.outbox.to("t1", Event.QUEUE_STATUS)[-1].position == 2  # type: ignore[attr-defined]
    # The first one to leave moves the other up.
    await harness.router.cancel(harness.terminal_ids[0], a.id)
    assert harness.outbox.to("t1", Event.QUEUE_STATUS)[-1].position == 1  # type: ignore[attr-defined]
    # A clerk of the department becoming available gets it at once.
    await harness.clerk(2, {dept_of(harness.catalogue, TAX)})
    assert b.state == SessionState.OFFERED and b.clerk_id == 2


async def test_cancel_while_ringing_withdraws_offer(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    await harness.router.cancel(harness.terminal_ids[0], s.id)
    assert harness.router.clerks[1].state == ClerkState.AVAILABLE
    assert harness.outbox.to("clerk-sid-1", Event.CALL_WITHDRAWN)[-1].reason == "cancelled"  # type: ignore[attr-defined]
    with pytest.raises(NotYourSession, match="no longer offered"):
        await harness.router.accept(1, s.id)
    await harness.stored()
    row = await store.get_session(harness.db, s.id)
    assert row.state == "cancelled" and row.end_reason == "cancelled"


async def test_accept_then_hangup_frees_clerk(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    await harness.router.accept(1, s.id)
    assert s.state == SessionState.CONNECTING
    assert harness.outbox.to("t0", Event.CALL_ACCEPTED)
    with pytest.raises(IllegalTransition, match="hang up instead"):
        await harness.router.cancel(harness.terminal_ids[0], s.id)
    with pytest.raises(IllegalTransition, match="after the call ends"):
        await harness.router.set_availability(1, True)
    await harness.router.media_status(Role.TERMINAL, harness.terminal_ids[0], s.id, "connected")
    assert s.state == SessionState.IN_CALL
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    assert harness.router.clerks[1].state == ClerkState.AVAILABLE
    assert harness.outbox.to("t0", Event.CALL_ENDED)[-1].reason == "done"  # type: ignore[attr-defined]
    await harness.stored()
    report = await AuditLog(harness.db).verify(s.id)
    assert report.ok


async def test_other_members_cannot_touch_a_session(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await harness.clerk(2, {dept})
    s = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    other = 2 if s.clerk_id == 1 else 1
    with pytest.raises(NotYourSession):
        await harness.router.accept(other, s.id)
    await harness.router.accept(s.clerk_id or 0, s.id)
    with pytest.raises(NotYourSession, match="not yours"):
        harness.router.peer_sid(Role.CLERK, other, s.id)
    with pytest.raises(NotYourSession, match="not yours"):
        harness.router.peer_sid(Role.TERMINAL, harness.terminal_ids[1], s.id)
    with pytest.raises(NotYourSession):
        await harness.router.cancel(harness.terminal_ids[1], s.id)


async def test_one_active_session_per_terminal_and_unknown_service(harness: Harness) -> None:
    t = harness.terminal_ids[0]
    await harness.router.request_service(t, "k0", "t0", TAX, "en")
    with pytest.raises(IllegalTransition, match="already has session"):
        await harness.router.request_service(t, "k0", "t0", TAX, "en")
    with pytest.raises(UnknownService):
        await harness.router.request_service(harness.terminal_ids[1], "k1", "t1", "no-such", "en")


async def test_clerk_leaving_while_ringing_requeues_and_in_call_fails(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    s = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    await harness.router.clerk_disconnected(1, "clerk-sid-1")
    assert s.state == SessionState.QUEUED
    await harness.clerk(2, {dept})
    await harness.router.accept(2, s.id)
    await harness.router.clerk_disconnected(2, "clerk-sid-2")
    ended = harness.outbox.to("t0", Event.CALL_ENDED)[-1]
    assert ended.state == SessionState.FAILED and ended.reason == "clerk_left"  # type: ignore[attr-defined]


async def test_care_mode_goes_first_and_is_flagged_to_the_clerk(harness: Harness) -> None:
    t = harness.terminal_ids
    first = await harness.router.request_service(t[0], "k0", "t0", TAX, "en")
    cared = await harness.router.request_service(t[1], "k1", "t1", TAX, "zh-Hant", care_mode=True)
    assert harness.outbox.to("t1", Event.QUEUE_STATUS)[-1].position == 1  # type: ignore[attr-defined]
    assert harness.outbox.to("t0", Event.QUEUE_STATUS)[-1].position == 2  # type: ignore[attr-defined]
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    assert cared.state == SessionState.OFFERED and first.state == SessionState.QUEUED
    offer = harness.outbox.to("clerk-sid-1", Event.CALL_OFFERED)[-1]
    assert offer.care_mode is True  # type: ignore[attr-defined]
    await harness.stored()
    row = await store.get_session(harness.db, cared.id)
    assert row.care_mode is True


async def in_call(harness: Harness) -> LiveSession:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    await harness.router.accept(1, s.id)
    return s


async def test_prompts_and_steps_reach_only_the_sessions_terminal(harness: Harness) -> None:
    s = await in_call(harness)
    await harness.clerk(2, {dept_of(harness.catalogue, TAX)})
    sent = await harness.router.push_prompt(
        1, PushPrompt(session_id=s.id, kind="checklist", items=["Passport", "Business licence"])
    )
    received = harness.outbox.to("t0", Event.PROMPT)
    assert received == [sent] and sent.items == ["Passport", "Business licence"]
    with pytest.raises(InvalidMessage, match="at least one item"):
        await harness.router.push_prompt(1, PushPrompt(session_id=s.id, kind="checklist"))
    with pytest.raises(NotYourSession, match="not yours"):
        await harness.router.push_prompt(2, PushPrompt(session_id=s.id, kind="text", text="hi"))
    await harness.router.set_step(1, SetStep(session_id=s.id, step=3))
    assert harness.outbox.to("t0", Event.STEP)[-1].step == 3  # type: ignore[attr-defined]
    await harness.stored()
    kinds = [e.kind for e in await AuditLog(harness.db).events(s.id)]
    assert kinds.count("prompt.pushed") == 1 and "step.changed" in kinds


async def test_rating_once_after_the_call_by_its_own_terminal(harness: Harness) -> None:
    s = await in_call(harness)
    with pytest.raises(IllegalTransition, match="still going on"):
        await harness.router.rate(harness.terminal_ids[0], RateSession(session_id=s.id, rating=5))
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    with pytest.raises(NotYourSession):
        await harness.router.rate(harness.terminal_ids[1], RateSession(session_id=s.id, rating=1))
    await harness.router.rate(
        harness.terminal_ids[0], RateSession(session_id=s.id, rating=4, comment="很好，谢谢")
    )
    with pytest.raises(IllegalTransition, match="already been rated"):
        await harness.router.rate(harness.terminal_ids[0], RateSession(session_id=s.id, rating=5))
    await harness.stored()
    row = await store.get_session(harness.db, s.id)
    assert (row.rating, row.rating_comment) == (4, "很好，谢谢")
    await harness.stored()
    assert (await AuditLog(harness.db).verify(s.id)).ok


async def test_a_cancelled_request_cannot_be_rated(harness: Harness) -> None:
    s = await harness.router.request_service(harness.terminal_ids[0], "k0", "t0", TAX, "en")
    await harness.router.cancel(harness.terminal_ids[0], s.id)
    with pytest.raises(IllegalTransition, match="never reached a clerk"):
        await harness.router.rate(harness.terminal_ids[0], RateSession(session_id=s.id, rating=3))
