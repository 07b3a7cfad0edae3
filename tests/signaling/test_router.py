"""Routing rules against the store: longest-idle clerk, department, decline, time-out, cancel,
grace periods, recalls, positions; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import update

from signaling.catalogue import Catalogue, load_catalogue
from signaling.errors import IllegalTransition, InvalidMessage, NotYourSession, UnknownService
from signaling.fanout import QueueNotifier
from signaling.messages import (
    CallbacksChanged,
    CallEnded,
    CallOffered,
    CallWithdrawn,
    ClerkState,
    Event,
    MediaStatus,
    Message,
    PushPrompt,
    QueueStatus,
    RateSession,
    Role,
    SessionDescription,
    SessionState,
    SetStep,
)
from signaling.rooms import clerk_room, terminal_room
from signaling.router import Router
from signaling.sweeper import Sweeper
from storage import callbacks, media_breaks, presence, routing, store
from storage.audit import AuditLog
from storage.db import Database, default_sqlite_url
from storage.models import CallSession
from storage.routing import SessionSnap
from tests import dbutil
from tests.dbutil import counted


@dataclass
class Outbox:
    """Collects what the router sends, per room or socket (stands in for socket.io)."""

    sent: list[tuple[Role, str, Event, Message]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    local: dict[str, str] = field(default_factory=dict)

    async def to_room(self, role: Role, room: str, event: Event, message: Message) -> None:
        self.sent.append((role, room, event, message))

    async def to_local(self, role: Role, sid: str, event: Event, message: Message) -> None:
        self.sent.append((role, self.local.get(sid, sid), event, message))

    async def drop(self, role: Role, sid: str) -> None:
        self.dropped.append(sid)

    def to(self, room: str, event: Event) -> list[Message]:
        return [m for _, r, e, m in self.sent if r == room and e == event]


@dataclass
class Harness:
    router: Router
    notifier: QueueNotifier
    sweeper: Sweeper
    outbox: Outbox
    db: Database
    catalogue: Catalogue
    terminal_ids: list[int]

    async def settle(self) -> None:
        """Let the matcher finish and send every kiosk its place."""
        await self.router.settle()
        await self.notifier.flush()

    async def clerk(self, clerk_id: int, departments: set[str], available: bool = True) -> None:
        await self.router.clerk_connected(
            clerk_id, f"c{clerk_id}", f"Clerk {clerk_id}", frozenset(departments),
            f"clerk-sid-{clerk_id}", None,
        )  # fmt: skip
        if available:
            await self.router.set_availability(clerk_id, True)
        await self.settle()

    async def request(self, index: int, service: str = "", care: bool = False) -> SessionSnap:
        t = self.terminal_ids[index]
        sid = f"t-sid-{index}"
        self.outbox.local[sid] = terminal_room(t)
        if t not in self.router.local_terminals:
            await self.router.terminal_connected(t, f"k{index}", sid, None)
        s = await self.router.request_service(t, f"k{index}", sid, service or TAX, "en", care)
        await self.settle()
        return await self.session(s.id)

    async def session(self, session_id: str) -> SessionSnap:
        found = await routing.get(self.db, session_id)
        assert found is not None
        return found

    async def state_of(self, clerk_id: int) -> str:
        found = await presence.clerk(self.db, clerk_id)
        assert found is not None
        return found.state


def dept_of(catalogue: Catalogue, service_id: str) -> str:
    return catalogue.service(service_id).department_id


async def make_db(tmp_path: Path, backend: str) -> tuple[Database, str | None]:
    if backend == "postgresql":
        dbutil.require_postgres()
        url = await dbutil.create_pg_database()
        return Database(url), url
    return Database(default_sqlite_url(tmp_path)), None


async def prepare(db: Database, catalogue: Catalogue, terminals: int) -> list[int]:
    await db.upgrade()
    await store.sync_catalogue(
        db,
        [(d.id, d.names.model_dump(by_alias=True)) for d in catalogue.departments],
        [
            (s.id, s.department_id, s.names.model_dump(by_alias=True), [], s.second_approval)
            for s in catalogue.services
        ],
    )
    ids = [(await store.register_terminal(db, f"k{i}"))[0].id for i in range(terminals)]
    # Real clerk rows: sessions reference the clerk who took them.
    for i in range(1, 4):
        await store.create_clerk(db, f"c{i}", "password-123", f"Clerk {i}", [])
    return ids


@asynccontextmanager
async def prepared_db(
    tmp_path: Path, backend: str, terminals: int
) -> AsyncIterator[tuple[Database, list[int]]]:
    """A fresh, open database of ``backend`` with the catalogue, ``terminals`` kiosks and three
    clerks (:func:`prepare`); a PostgreSQL one is dropped afterwards."""
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            yield db, await prepare(db, load_catalogue(), terminals)
    finally:
        if url is not None:
            await dbutil.drop_pg_database(url)


def make_router(db: Database, catalogue: Catalogue, outbox: Outbox, **kw: float) -> Router:
    """A router of its own; ``kw``: its settings (offer_timeout_s 30 s, decline_pause_s 0 s
    unless given, wrap_up_s...)."""
    return Router(
        catalogue,
        db,
        outbox,
        kw.pop("offer_timeout_s", 30.0),
        lambda _: [],
        decline_pause_s=kw.pop("decline_pause_s", 0.0),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def harness(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with running_harness(tmp_path, str(request.param)) as running:
        yield running


@asynccontextmanager
async def running_harness(
    tmp_path: Path, backend: str, **router_kw: float
) -> AsyncIterator[Harness]:
    """A router with its notifier and sweeper on a fresh database of ``backend`` with three
    kiosks and three clerks; ``router_kw``: see :func:`make_router`."""
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            ids = await prepare(db, catalogue, 3)
            outbox = Outbox()
            router = make_router(db, catalogue, outbox, **router_kw)
            notifier = QueueNotifier(db, outbox, catalogue, lambda: router.local_terminals)
            sweeper = Sweeper(router, interval_s=0.05, grace_s=0.5, lease_s=1.0)
            router.on_offer = lambda after: sweeper.offer_due(after + 0.02)
            await sweeper.start()
            router.spawn(sweeper.run())
            try:
                yield Harness(router, notifier, sweeper, outbox, db, catalogue, ids)
            finally:
                await router.close()
    finally:
        if url:
            await dbutil.drop_pg_database(url)


TAX = "tax-registration"


async def ring_out(harness: Harness, session_id: str) -> None:
    """Move the offer's deadline into the past, as the clock would, and let a sweep find it."""
    async with harness.db.transaction() as tx:
        await tx.session.execute(
            update(CallSession)
            .where(CallSession.id == session_id)
            .values(offer_deadline=datetime.now(UTC) - timedelta(seconds=1))
        )
    harness.sweeper.poke()


async def wait_until(check: object, what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def last(outbox: Outbox, room: str, event: Event) -> Message:
    found = outbox.to(room, event)
    assert found, f"nothing of {event} sent to {room}"
    return found[-1]


async def test_offer_goes_to_longest_idle_clerk_of_the_department(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await harness.clerk(2, {dept})
    await harness.clerk(3, {"some-other-department"})
    session = await harness.request(0)
    assert session.state == SessionState.OFFERED
    assert session.clerk_id == 1
    assert await harness.state_of(1) == ClerkState.RINGING
    assert harness.outbox.to(clerk_room(1), Event.CALL_OFFERED)
    assert not harness.outbox.to(clerk_room(3), Event.CALL_OFFERED)


async def test_one_routing_transaction_offers_every_pair_in_queue_order(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three calls waiting, three clerks free at once: one batch rings all three, the first
    in line to the clerk idle longest, each clerk once, each offer in its chain."""
    dept = dept_of(harness.catalogue, TAX)
    waiting = [await harness.request(i) for i in range(3)]
    assert all(s.state == SessionState.QUEUED for s in waiting)
    for clerk_id in (1, 2, 3):
        await harness.clerk(clerk_id, {dept}, available=False)

    async def hold_off() -> int:
        return 0

    # the sweeper ticks every 50 ms and would route them itself: this test routes by hand
    monkeypatch.setattr(harness.router, "dispatch", hold_off)
    for clerk_id in (3, 1, 2):  # idle longest first: 3, then 1, then 2
        await presence.set_clerk_state(harness.db, clerk_id, ClerkState.AVAILABLE, ["away"])
    made = await routing.claim_batch(harness.db, offer_timeout_s=5.0, decline_pause_s=0.0)
    # the pairing is queue order to idle order
    assert [(s.id, c.clerk_id) for s, c in made] == [
        (waiting[0].id, 3),
        (waiting[1].id, 1),
        (waiting[2].id, 2),
    ]
    for session, clerk in made:
        stored = await harness.session(session.id)
        assert stored.state == SessionState.OFFERED and stored.clerk_id == clerk.clerk_id
        assert stored.version == session.version
        assert (await presence.clerk(harness.db, clerk.clerk_id)) == clerk
        kinds = [e.kind for e in await AuditLog(harness.db).events(session.id)]
        assert kinds == ["session.created", "call.offered"]
    assert await routing.claim_batch(harness.db, offer_timeout_s=5.0, decline_pause_s=0.0) == []


async def test_a_clerk_who_steps_away_as_a_call_rings_is_away_and_the_call_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clerk presses "away" while free; a call is offered to them between the router's
    read (free) and its change: they end away, and the call goes back to the queue."""
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    free = await presence.clerk(harness.db, 1)
    session = await harness.request(0)
    assert await harness.state_of(1) == ClerkState.RINGING
    read = harness.router._clerk
    stale = [free]

    async def read_before_the_offer(clerk_id: int) -> object:
        return stale.pop() if stale else await read(clerk_id)

    monkeypatch.setattr(harness.router, "_clerk", read_before_the_offer)
    await harness.router.set_availability(1, False, "break")
    assert await harness.state_of(1) == ClerkState.AWAY
    stored = await harness.session(session.id)
    assert stored.state == SessionState.QUEUED and stored.clerk_id is None


async def test_decline_offers_to_next_clerk(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await harness.clerk(2, {dept})
    session = await harness.request(0)
    await harness.router.decline(1, session.id)
    await harness.settle()
    assert (await harness.session(session.id)).clerk_id == 2
    assert await harness.state_of(1) == ClerkState.AVAILABLE
    withdrawn = last(harness.outbox, clerk_room(1), Event.CALL_WITHDRAWN)
    assert isinstance(withdrawn, CallWithdrawn) and withdrawn.reason == "declined"


async def test_a_passed_call_comes_back_when_nobody_else_can_take_it(harness: Harness) -> None:
    """One clerk on duty lets a call ring out, comes back: the call is offered to them again."""
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    session = await harness.request(0)
    assert session.clerk_id == 1
    await ring_out(harness, session.id)

    async def rang_out() -> bool:
        return (await harness.session(session.id)).state == SessionState.QUEUED

    await wait_until(rang_out, "the offer rang out")
    assert await harness.state_of(1) == ClerkState.AWAY
    await harness.router.set_availability(1, True)
    await harness.settle()
    again = await harness.session(session.id)
    assert again.state == SessionState.OFFERED and again.clerk_id == 1
    assert len(harness.outbox.to(clerk_room(1), Event.CALL_OFFERED)) == 2


async def test_unanswered_offer_times_out_parks_clerk_and_moves_on(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await harness.clerk(2, {dept})
    session = await harness.request(0)
    assert session.clerk_id == 1
    await ring_out(harness, session.id)

    async def moved() -> bool:
        return (await harness.session(session.id)).clerk_id == 2

    await wait_until(moved, "the offer moved to clerk 2")
    assert await harness.state_of(1) == ClerkState.AWAY
    kinds = [e.kind for e in await AuditLog(harness.db).events(session.id)]
    assert kinds == ["session.created", "call.offered", "call.timeout", "call.offered"]


async def test_no_eligible_clerk_keeps_waiting_with_position(harness: Harness) -> None:
    await harness.clerk(1, {"some-other-department"})
    a = await harness.request(0)
    b = await harness.request(1)
    assert a.state == b.state == SessionState.QUEUED
    status = last(harness.outbox, terminal_room(harness.terminal_ids[1]), Event.QUEUE_STATUS)
    assert isinstance(status, QueueStatus) and status.position == 2
    assert status.clerks_on_duty == 0 and status.estimated_wait_s is None
    # The first one to leave moves the other up.
    await harness.router.cancel(harness.terminal_ids[0], a.id)
    await harness.settle()
    status = last(harness.outbox, terminal_room(harness.terminal_ids[1]), Event.QUEUE_STATUS)
    assert isinstance(status, QueueStatus) and status.position == 1
    # A clerk of the department becoming available gets it at once.
    await harness.clerk(2, {dept_of(harness.catalogue, TAX)})
    fresh = await harness.session(b.id)
    assert fresh.state == SessionState.OFFERED and fresh.clerk_id == 2


async def test_the_estimate_counts_a_call_in_progress(harness: Harness) -> None:
    """First in line behind a clerk who is in a call: the wait is not 'shortly'."""
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    waiting = await harness.request(1)
    assert waiting.state == SessionState.QUEUED
    status = last(harness.outbox, terminal_room(harness.terminal_ids[1]), Event.QUEUE_STATUS)
    assert isinstance(status, QueueStatus)
    assert status.position == 1 and status.clerks_on_duty == 1
    assert status.estimated_wait_s is not None and status.estimated_wait_s >= 30
    sent = len(harness.outbox.to(terminal_room(harness.terminal_ids[1]), Event.QUEUE_STATUS))
    await harness.notifier.flush()  # nothing changed: nothing is sent again
    again = harness.outbox.to(terminal_room(harness.terminal_ids[1]), Event.QUEUE_STATUS)
    assert len(again) == sent


async def test_cancel_while_ringing_withdraws_offer(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.cancel(harness.terminal_ids[0], s.id)
    assert await harness.state_of(1) == ClerkState.AVAILABLE
    withdrawn = last(harness.outbox, clerk_room(1), Event.CALL_WITHDRAWN)
    assert isinstance(withdrawn, CallWithdrawn) and withdrawn.reason == "cancelled"
    with pytest.raises(NotYourSession, match="no longer offered"):
        await harness.router.accept(1, s.id)
    row = await store.get_session(harness.db, s.id)
    assert row.state == "cancelled" and row.end_reason == "cancelled"
    kinds = [e.kind for e in await AuditLog(harness.db).events(s.id)]
    assert kinds == ["session.created", "call.offered", "session.cancelled"]


async def test_accept_then_hangup_frees_clerk(harness: Harness) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    assert (await harness.session(s.id)).state == SessionState.CONNECTING
    assert harness.outbox.to(terminal_room(harness.terminal_ids[0]), Event.CALL_ACCEPTED)
    with pytest.raises(IllegalTransition, match="hang up instead"):
        await harness.router.cancel(harness.terminal_ids[0], s.id)
    with pytest.raises(IllegalTransition, match="after the call ends"):
        await harness.router.set_availability(1, True)
    await harness.router.media_status(
        Role.TERMINAL, harness.terminal_ids[0], MediaStatus(session_id=s.id, state="connected")
    )
    assert (await harness.session(s.id)).state == SessionState.IN_CALL
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    assert await harness.state_of(1) == ClerkState.AVAILABLE
    ended = last(harness.outbox, terminal_room(harness.terminal_ids[0]), Event.CALL_ENDED)
    assert isinstance(ended, CallEnded) and ended.reason == "done" and not ended.recall
    assert (await AuditLog(harness.db).verify(s.id)).ok


async def test_other_members_cannot_touch_a_session(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await harness.clerk(2, {dept})
    s = await harness.request(0)
    other = 2 if s.clerk_id == 1 else 1
    with pytest.raises(NotYourSession):
        await harness.router.accept(other, s.id)
    await harness.router.accept(s.clerk_id or 0, s.id)
    with pytest.raises(NotYourSession, match="not yours"):
        await harness.router.peer_room(Role.CLERK, other, s.id)
    with pytest.raises(NotYourSession, match="not yours"):
        await harness.router.peer_room(Role.TERMINAL, harness.terminal_ids[1], s.id)
    with pytest.raises(NotYourSession):
        await harness.router.cancel(harness.terminal_ids[1], s.id)
    # hang-up decides on the locked row: another clerk or kiosk ends nothing
    with pytest.raises(NotYourSession, match="not a call of yours"):
        await harness.router.hangup(Role.CLERK, other, s.id, "done")
    with pytest.raises(NotYourSession, match="not a call of yours"):
        await harness.router.hangup(Role.TERMINAL, harness.terminal_ids[1], s.id, "done")
    assert (await harness.session(s.id)).state == SessionState.CONNECTING
    assert not harness.outbox.to(terminal_room(harness.terminal_ids[0]), Event.CALL_ENDED)


async def test_a_waiting_session_is_not_hung_up(harness: Harness) -> None:
    s = await harness.request(0)
    with pytest.raises(NotYourSession, match="not a call of yours"):
        await harness.router.hangup(Role.TERMINAL, harness.terminal_ids[0], s.id, "done")
    assert (await harness.session(s.id)).state == SessionState.QUEUED


async def test_a_kiosks_offer_in_a_call_this_process_started_is_relayed_without_a_read(
    harness: Harness,
) -> None:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    offer = SessionDescription(session_id=s.id, type="offer", sdp=sdp)
    with counted(harness.db) as sent:
        assert not await harness.router.hold_early_offer(harness.terminal_ids[0], offer)
    assert sent == []  # relayed as usual, from what the accept just read
    with pytest.raises(NotYourSession, match="not yours"):
        await harness.router.hold_early_offer(harness.terminal_ids[1], offer)


async def test_one_active_session_per_terminal_and_unknown_service(harness: Harness) -> None:
    await harness.request(0)
    with pytest.raises(IllegalTransition, match="already has an active session"):
        await harness.request(0)
    with pytest.raises(UnknownService):
        await harness.request(1, "no-such")


async def test_a_ringing_clerk_who_drops_hands_the_call_on(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    s = await harness.request(0)
    await harness.router.clerk_disconnected(1, "clerk-sid-1")
    await harness.settle()
    assert (await harness.session(s.id)).state == SessionState.QUEUED
    await harness.clerk(2, {dept})
    assert (await harness.session(s.id)).clerk_id == 2


async def test_a_call_survives_a_dropped_console_within_grace(harness: Harness) -> None:
    """The clerk's socket drops mid-call and comes back with its token: same session."""
    dept = dept_of(harness.catalogue, TAX)
    greeting = await harness.router.clerk_connected(
        1, "c1", "Clerk 1", frozenset({dept}), "clerk-sid-1", None
    )
    await harness.router.set_availability(1, True)
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    await harness.router.clerk_disconnected(1, "clerk-sid-1")
    back = await harness.router.clerk_connected(
        1, "c1", "Clerk 1", frozenset({dept}), "clerk-sid-1b", greeting.resume_token
    )
    assert back.resumed
    await asyncio.sleep(0.8)  # past the grace period: nothing happens to a clerk who is back
    assert (await harness.session(s.id)).state == SessionState.CONNECTING
    assert await harness.state_of(1) == ClerkState.BUSY


async def test_a_clerk_gone_past_grace_loses_the_call_and_the_applicant_is_recalled(
    harness: Harness,
) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    await harness.router.clerk_disconnected(1, "clerk-sid-1")

    async def lost() -> bool:
        failed = (await harness.session(s.id)).state == SessionState.FAILED
        return failed and await harness.state_of(1) == ClerkState.OFFLINE

    await wait_until(lost, "the call was lost after the grace period")
    ended = last(harness.outbox, terminal_room(harness.terminal_ids[0]), Event.CALL_ENDED)
    assert isinstance(ended, CallEnded)
    assert ended.reason == "clerk_lost" and ended.recall is True
    assert await harness.state_of(1) == ClerkState.OFFLINE
    # someone else is already waiting; the recall goes before them
    other = await harness.request(1)
    t = harness.terminal_ids[0]
    recalled = await harness.router.request_service(t, "k0", "t-sid-0", TAX, "en", recall_of=s.id)
    await harness.settle()
    place = last(harness.outbox, terminal_room(t), Event.QUEUE_STATUS)
    assert isinstance(place, QueueStatus) and place.session_id == recalled.id
    assert place.position == 1
    assert (await harness.session(other.id)).state == SessionState.QUEUED
    # a recall is once only
    await harness.router.cancel(t, recalled.id)
    with pytest.raises(IllegalTransition, match="not a call this kiosk lost"):
        await harness.router.request_service(t, "k0", "t-sid-0", TAX, "en", recall_of=s.id)


async def test_a_kiosk_gone_past_grace_ends_its_session(harness: Harness) -> None:
    s = await harness.request(0)
    await harness.router.terminal_disconnected(harness.terminal_ids[0], "t-sid-0")

    async def ended() -> bool:
        return (await harness.session(s.id)).state == SessionState.CANCELLED

    await wait_until(ended, "the session ended after the grace period")
    assert (await harness.session(s.id)).end_reason == "terminal_lost"


async def test_a_kiosk_back_within_grace_keeps_its_place(harness: Harness) -> None:
    t = harness.terminal_ids[0]
    harness.outbox.local["t-sid-0"] = terminal_room(t)
    first = await harness.router.terminal_connected(t, "k0", "t-sid-0", None)
    s = await harness.router.request_service(t, "k0", "t-sid-0", TAX, "en")
    await harness.router.terminal_disconnected(t, "t-sid-0")
    harness.outbox.local["t-sid-0b"] = terminal_room(t)
    back = await harness.router.terminal_connected(t, "k0", "t-sid-0b", first.resume_token)
    assert back.resumed and back.session_id == s.id and back.state == SessionState.QUEUED
    await asyncio.sleep(0.8)
    assert (await harness.session(s.id)).state == SessionState.QUEUED
    # without the token (the kiosk restarted), the session ends
    again = await harness.router.terminal_connected(t, "k0", "t-sid-0c", "wrong")
    assert not again.resumed and again.session_id is None
    assert (await harness.session(s.id)).end_reason == "terminal_restarted"


async def test_care_mode_goes_first_and_is_flagged_to_the_clerk(harness: Harness) -> None:
    first = await harness.request(0)
    cared = await harness.request(1, care=True)
    t = harness.terminal_ids
    assert last(harness.outbox, terminal_room(t[1]), Event.QUEUE_STATUS).position == 1  # type: ignore[attr-defined]
    assert last(harness.outbox, terminal_room(t[0]), Event.QUEUE_STATUS).position == 2  # type: ignore[attr-defined]
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    assert (await harness.session(cared.id)).state == SessionState.OFFERED
    assert (await harness.session(first.id)).state == SessionState.QUEUED
    offer = last(harness.outbox, clerk_room(1), Event.CALL_OFFERED)
    assert isinstance(offer, CallOffered) and offer.care_mode is True


async def in_call(harness: Harness) -> SessionSnap:
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    return s


async def test_prompts_and_steps_reach_only_the_sessions_terminal(harness: Harness) -> None:
    s = await in_call(harness)
    await harness.clerk(2, {dept_of(harness.catalogue, TAX)})
    sent = await harness.router.push_prompt(
        1, PushPrompt(session_id=s.id, kind="checklist", items=["Passport", "Business licence"])
    )
    room = terminal_room(harness.terminal_ids[0])
    assert harness.outbox.to(room, Event.PROMPT) == [sent]
    with pytest.raises(InvalidMessage, match="at least one item"):
        await harness.router.push_prompt(1, PushPrompt(session_id=s.id, kind="checklist"))
    with pytest.raises(NotYourSession, match="not yours"):
        await harness.router.push_prompt(2, PushPrompt(session_id=s.id, kind="text", text="hi"))
    await harness.router.set_step(1, SetStep(session_id=s.id, step=3))
    step = last(harness.outbox, room, Event.STEP)
    assert isinstance(step, SetStep) and step.step == 3
    kinds = [e.kind for e in await AuditLog(harness.db).events(s.id)]
    assert kinds.count("prompt.pushed") == 1 and "step.changed" in kinds


async def test_rating_once_after_the_call_by_its_own_terminal(harness: Harness) -> None:
    s = await in_call(harness)
    t = harness.terminal_ids
    with pytest.raises(IllegalTransition, match="still going on"):
        await harness.router.rate(t[0], RateSession(session_id=s.id, rating=5))
    await harness.router.hangup(Role.CLERK, 1, s.id, "done")
    with pytest.raises(NotYourSession):
        await harness.router.rate(t[1], RateSession(session_id=s.id, rating=1))
    await harness.router.rate(t[0], RateSession(session_id=s.id, rating=4, comment="很好，谢谢"))
    with pytest.raises(IllegalTransition, match="already been rated"):
        await harness.router.rate(t[0], RateSession(session_id=s.id, rating=5))
    row = await store.get_session(harness.db, s.id)
    assert (row.rating, row.rating_comment) == (4, "很好，谢谢")
    assert (await AuditLog(harness.db).verify(s.id)).ok


async def test_a_cancelled_request_cannot_be_rated(harness: Harness) -> None:
    s = await harness.request(0)
    await harness.router.cancel(harness.terminal_ids[0], s.id)
    with pytest.raises(IllegalTransition, match="never reached a clerk"):
        await harness.router.rate(harness.terminal_ids[0], RateSession(session_id=s.id, rating=3))


async def test_transitions_and_other_appends_at_once_keep_one_chain(harness: Harness) -> None:
    """A call's steps and events of other kinds (documents, identity) recorded at the same
    moment: each transition links after the chain's real head, never a stale one."""
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    audit = AuditLog(harness.db)
    await asyncio.gather(
        *(routing.set_step(harness.db, s.id, 2 + n % 5, "clerk:c1") for n in range(15)),
        *(audit.append(s.id, "document.added", "terminal:1", {"n": n}) for n in range(15)),
        *(
            media_breaks.report(
                harness.db, s.id, "terminal", "terminal:1", state="connected", attempt=0
            )
            for _ in range(5)
        ),
    )
    assert (await audit.verify(s.id)).ok
    assert await audit.row_disagrees(s.id) is None
    kinds = [e.kind for e in await audit.events(s.id)]
    assert (kinds.count("step.changed"), kinds.count("document.added")) == (15, 15)
    assert kinds.count("media.connected") == 5


async def clerk_cut_off(harness: Harness) -> SessionSnap:
    """A call whose media connected at both ends, then broke at the clerk's."""
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)
    for side in ("terminal", "clerk"):
        await media_breaks.report(harness.db, s.id, side, f"{side}:1", state="connected", attempt=0)  # type: ignore[arg-type]
    await media_breaks.report(
        harness.db, s.id, "clerk", "clerk:1", state="interrupted", attempt=0, stalled_ms=1000
    )
    return s


async def test_a_report_from_the_last_break_arriving_after_it_closed_opens_none(
    harness: Harness,
) -> None:
    """The kiosk's report written during a cut reaches the server after the break closed
    (TCP delivers it when the link is back): it describes the closed break, opens no new one;
    a stall that began after the break closed does."""
    await harness.clerk(1, {dept_of(harness.catalogue, TAX)})
    s = await harness.request(0)
    await harness.router.accept(1, s.id)

    async def report(side: str, state: str, stalled_ms: int = 0) -> str | None:
        outcome = await media_breaks.report(
            harness.db, s.id, side, f"{side}:1", state=state, attempt=0, stalled_ms=stalled_ms
        )  # type: ignore[arg-type]
        return outcome.kind if outcome else None

    await report("terminal", "connected")
    await report("clerk", "connected")
    assert await report("clerk", "interrupted", 1000) == "interrupted"
    assert await report("clerk", "connected") == "restored"
    # written 1.2 s into the cut, delivered now
    assert await report("terminal", "interrupted", 1200) == "stale"
    assert (await harness.session(s.id)).state == SessionState.IN_CALL
    kinds = [e.kind for e in await AuditLog(harness.db).events(s.id)]
    assert kinds.count("media.interrupted") == 1, kinds
    # the picture stops now: a new break
    assert await report("terminal", "interrupted", 0) == "interrupted"


async def test_a_side_whose_socket_came_back_in_a_break_makes_a_new_connection_due_soon(
    harness: Harness,
) -> None:
    """A side cut off so long its socket dropped comes back: its link is back, and media not
    back 1.5 s later gets a new peer connection then, not at ``media_restart_s``."""
    s = await clerk_cut_off(harness)
    seen = await media_breaks.view(harness.db, s.id)
    assert seen is not None and seen.since is not None
    assert "back_at" not in seen.brk
    await media_breaks.note_offline(harness.db, s.id, "terminal")
    seen = await media_breaks.view(harness.db, s.id)
    assert seen is not None and seen.since is not None
    back = datetime.fromisoformat(seen.brk["back_at"])
    assert not media_breaks.restart_due(seen.brk, seen.since, back, 8.0)
    assert media_breaks.restart_due(seen.brk, seen.since, back + timedelta(seconds=1.6), 8.0)


async def test_a_side_heard_again_stays_heard_when_its_next_report_follows(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kiosk cut off: its report written in the cut and its answer to the server's
    question arrive together once the link is back; the second must not undo the first's
    "heard again", or the new peer connection waits for ``media_restart_s``."""
    s = await clerk_cut_off(harness)
    # the link comes back 4 s into the break (past SILENT_AFTER)
    monkeypatch.setattr(media_breaks, "SILENT_AFTER", timedelta(0))
    for stalled_ms in (1100, 5000):
        await media_breaks.report(
            harness.db, s.id, "terminal", "terminal:1", state="interrupted", attempt=0,
            stalled_ms=stalled_ms,
        )  # fmt: skip
    seen = await media_breaks.view(harness.db, s.id)
    assert seen is not None and "back_at" in seen.brk, seen


# ---------------------------------------------------------------------- many routers at once


async def queue_each(db: Database, catalogue: Catalogue, terminal_ids: list[int]) -> None:
    """One waiting session per terminal, in order, ids ``0…0``, ``0…1``, …"""
    for i, t in enumerate(terminal_ids):
        await routing.open_session(
            db, session_id=f"{i:032x}", terminal_id=t, service_id=TAX,
            department_id=dept_of(catalogue, TAX), language="en", care_mode=False, priority=0,
            recall_of=None, ice_servers=[], early_offer=None, actor=f"terminal:{t}",
        )  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_fifty_routing_attempts_for_one_free_clerk_make_one_offer(
    tmp_path: Path, backend: str
) -> None:
    """Fifty waiting kiosks, one free clerk, fifty routers (as many processes) at once."""
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            ids = await prepare(db, catalogue, 50)
            outbox = Outbox()
            routers = [make_router(db, catalogue, outbox) for _ in range(50)]
            await queue_each(db, catalogue, ids)
            await presence.clerk_attach(
                db, 1, {dept_of(catalogue, TAX)}, routers[0].process_id, "s1", None
            )
            await presence.set_clerk_state(db, 1, "available", ("away",))
            made = await asyncio.gather(*(r.dispatch() for r in routers))
            assert sum(made) == 1
            offered = [s for s in await routing.active_sessions(db) if s.state == "offered"]
            assert len(offered) == 1 and offered[0].clerk_id == 1
            assert len(outbox.to(clerk_room(1), Event.CALL_OFFERED)) == 1
            for r in routers:
                await r.close()
    finally:
        if url:
            await dbutil.drop_pg_database(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_routers_batching_the_same_clerks_at_once_ring_each_clerk_once(
    tmp_path: Path, backend: str
) -> None:
    """Thirty waiting, three clerks free, twenty routers at once: every batch wants the same
    clerks; none waits on another (no deadlock), each clerk rings once, each call at most once."""
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            ids = await prepare(db, catalogue, 30)
            outbox = Outbox()
            routers = [make_router(db, catalogue, outbox) for _ in range(20)]
            dept = dept_of(catalogue, TAX)
            await queue_each(db, catalogue, ids)
            for clerk_id in (1, 2, 3):
                await presence.clerk_attach(
                    db, clerk_id, {dept}, routers[0].process_id, f"s{clerk_id}", None
                )
                await presence.set_clerk_state(db, clerk_id, "available", ("away",))
            made = await asyncio.gather(*(r.dispatch() for r in routers))
            assert sum(made) == 3
            offered = [s for s in await routing.active_sessions(db) if s.state == "offered"]
            assert sorted(s.clerk_id or 0 for s in offered) == [1, 2, 3]
            # the first three in line, each rung at the clerk whose row says so
            assert sorted(s.id for s in offered) == [f"{i:032x}" for i in range(3)]
            for s in offered:
                assert s.clerk_id is not None
                ringing = await presence.clerk(db, s.clerk_id)
                assert ringing is not None and ringing.session_id == s.id
                kinds = [e.kind for e in await AuditLog(db).events(s.id)]
                assert kinds == ["session.created", "call.offered"]
                assert await AuditLog(db).row_disagrees(s.id) is None
            for r in routers:
                await r.close()
    finally:
        if url:
            await dbutil.drop_pg_database(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_an_offer_times_out_after_the_process_that_made_it_is_gone(
    tmp_path: Path, backend: str
) -> None:
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            ids = await prepare(db, catalogue, 1)
            outbox = Outbox()
            first = make_router(db, catalogue, outbox, offer_timeout_s=0.2)
            dept = dept_of(catalogue, TAX)
            await first.clerk_connected(1, "c1", "Clerk 1", frozenset({dept}), "s1", None)
            await first.set_availability(1, True)
            await first.terminal_connected(ids[0], "k0", "t0", None)
            await first.request_service(ids[0], "k0", "t0", TAX, "en")
            await first.settle()
            # the process that offered dies: no timer of its own will fire
            await first.close()
            ringing = [s for s in await routing.active_sessions(db) if s.state == "offered"]
            assert len(ringing) == 1
            second = make_router(db, catalogue, outbox, offer_timeout_s=0.2)
            sweeper = Sweeper(second, interval_s=0.05, grace_s=30, lease_s=30)
            await sweeper.start()
            second.spawn(sweeper.run())

            async def timed_out() -> bool:
                events = await AuditLog(db).events(ringing[0].id)
                return "call.timeout" in [e.kind for e in events]

            await wait_until(timed_out, "the survivor enforced the offer's deadline")
            assert (await presence.clerk(db, 1)).state == "away"  # type: ignore[union-attr]
            await second.close()
    finally:
        if url:
            await dbutil.drop_pg_database(url)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_dead_process_sockets_get_their_grace_from_its_last_heartbeat(
    tmp_path: Path, backend: str
) -> None:
    catalogue = load_catalogue()
    db, _url = await make_db(tmp_path, backend)
    async with db:
        ids = await prepare(db, catalogue, 1)
        outbox = Outbox()
        dead = make_router(db, catalogue, outbox)
        await presence.register_process(db, dead.process_id, "dead-host")
        await dead.terminal_connected(ids[0], "k0", "t0", None)
        s = await dead.request_service(ids[0], "k0", "t0", TAX, "en")
        await dead.close()  # killed: it never detaches its sockets
        survivor = make_router(db, catalogue, outbox)
        sweeper = Sweeper(survivor, interval_s=0.05, grace_s=0.3, lease_s=0.2)
        await sweeper.start()
        survivor.spawn(sweeper.run())

        async def resolved() -> bool:
            row = await routing.get(db, s.id)
            return row is not None and row.state == "cancelled"

        await wait_until(resolved, "the dead process's kiosk was given up after grace")
        assert (await routing.get(db, s.id)).end_reason == "terminal_lost"  # type: ignore[union-attr]
        await survivor.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_change_whose_process_died_before_telling_reaches_those_connected_here(
    tmp_path: Path, backend: str
) -> None:
    """Another process commits a clerk's accept and dies before sending call_accepted: when
    its lease runs out, the kiosk and the clerk connected here get their state again."""
    catalogue = load_catalogue()
    db, url = await make_db(tmp_path, backend)
    try:
        async with db:
            ids = await prepare(db, catalogue, 1)
            outbox = Outbox()
            here = make_router(db, catalogue, outbox)
            dept = dept_of(catalogue, TAX)
            await here.clerk_connected(1, "c1", "Clerk 1", frozenset({dept}), "s1", None)
            await here.set_availability(1, True)
            await here.terminal_connected(ids[0], "k0", "t0", None)
            session = await here.request_service(ids[0], "k0", "t0", TAX, "en")
            await here.settle()
            other = make_router(db, catalogue, Outbox())
            await presence.register_process(db, other.process_id, "other-host")
            alive = True

            async def keep_alive() -> None:
                while alive:
                    await presence.heartbeat(db, other.process_id)
                    await asyncio.sleep(0.05)

            here.spawn(keep_alive())
            sweeper = Sweeper(here, interval_s=0.05, grace_s=30, lease_s=0.5)
            await sweeper.start()
            here.spawn(sweeper.run())
            seen = sweeper.rounds

            async def saw_other() -> bool:
                return sweeper.rounds > seen + 1

            await wait_until(saw_other, "a round saw the other process's lease")
            # the other process takes the clerk's accept, commits it, and dies at once
            await routing.accept(db, 1, session.id, "clerk:c1")
            alive = False
            del outbox.sent[:]

            def told(event: Event) -> list[Message]:
                return [m for _r, _room, e, m in outbox.sent if e == event]

            async def resynced() -> bool:
                return bool(told(Event.SNAPSHOT)) and bool(told(Event.CLERK_STATUS))

            await wait_until(resynced, "the kiosk and the clerk here were told again")
            snapshot = told(Event.SNAPSHOT)[-1]
            assert getattr(snapshot, "session_id", None) == session.id
            assert getattr(snapshot, "state", None) == SessionState.CONNECTING
            assert getattr(snapshot, "call", None) is not None
            status = told(Event.CLERK_STATUS)[-1]
            assert getattr(status, "session_id", None) == session.id
            assert getattr(status, "state", None) == ClerkState.BUSY
            await here.close()
    finally:
        if url:
            await dbutil.drop_pg_database(url)


async def test_the_relay_cache_of_calls_stays_bounded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call that ended on another process is never popped from this one's cache of who is
    in a call; stale entries are swept as it grows, so a day of calls is not kept."""
    from signaling.router import base

    clock = [1000.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: clock[0])
    router = harness.router
    for i in range(10 * base.PARTIES_PRUNE_MIN):
        clock[0] += 0.01  # a hundred calls a second, each seen once
        call = cast(SessionSnap, SimpleNamespace(id=f"s{i}", terminal_id=i, clerk_id=1))
        router._remember_parties(call)
    live = 1 + int(base.PARTIES_TTL_S / 0.01)
    assert len(router._parties) <= 2 * max(base.PARTIES_PRUNE_MIN, 2 * live)
    # the recent ones are all still there: the sweep drops only what the relay would not trust
    assert all(
        f"s{i}" in router._parties
        for i in range(10 * base.PARTIES_PRUNE_MIN - live + 1, 10 * base.PARTIES_PRUNE_MIN)
    )


async def test_a_clerk_who_signs_out_holding_a_callback_gives_it_back(harness: Harness) -> None:
    dept = dept_of(harness.catalogue, TAX)
    await harness.clerk(1, {dept})
    await harness.clerk(2, {dept}, available=False)
    waiting = await harness.request(0)
    await harness.router.set_availability(1, False, "break")
    task = (
        await callbacks.request(
            harness.db, waiting.id, terminal_id=harness.terminal_ids[0], phone="9123 4567",
            region="HK", actor="terminal:1",
        )
    ).task  # fmt: skip
    await callbacks.take(harness.db, task.reference, 1, "clerk:c1")
    harness.outbox.sent.clear()
    await harness.router.clerk_disconnected(1, "clerk-sid-1", left=True)
    found = await callbacks.get(harness.db, task.reference)
    assert found is not None and (found.state, found.taken_by) == ("open", None)
    # the other clerk of the department is told to list the tasks again
    [news] = harness.outbox.to(clerk_room(2), Event.CALLBACKS_CHANGED)
    assert isinstance(news, CallbacksChanged) and news.open == 1
