"""A call whose media breaks carries on in the same session: real aiortc kiosk and clerk
through the real server; the break, the new peer connection and the recovery in the chain."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.sources import create_local_tracks
from signaling.messages import SessionDescription
from storage.audit import AuditLog
from storage.store import get_session
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings, start_server
from tests.peers import ClerkPeer, login
from tests.teardown import bounded

SERVICE = "tax-registration"


@contextlib.asynccontextmanager
async def server_with(tmp_path: Path, **settings: float) -> AsyncIterator[RunningServer]:
    """The real server with these media settings, cleaned up after."""
    running, runner = await start_server(make_settings(tmp_path, **settings))
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


@pytest.fixture
async def short_limit(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The server with a 1 s limit on broken media (the default is a minute): shorter than
    any wait for a new peer connection, so the call ends first."""
    async with server_with(tmp_path, media_recovery_s=1.0, media_restart_s=30.0) as running:
        yield running


@pytest.fixture
async def quick_restart(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The server asking for a new peer connection 1 s into a break (the default is 8 s)."""
    async with server_with(tmp_path, media_restart_s=1.0) as running:
        yield running


async def in_call(server: RunningServer) -> tuple[TerminalClient, ClerkPeer, str]:
    await server.add_clerk("alice")
    clerk = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
    terminal, session_id = await call_from(server, clerk)
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    await terminal.video_in.wait_for(10, timeout=20)
    await clerk.video_in.wait_for(10, timeout=20)
    return terminal, clerk, session_id


async def test_a_failed_peer_connection_is_replaced_within_the_same_session(
    server: RunningServer,
) -> None:
    terminal, clerk, session_id = await in_call(server)
    try:
        # the console's peer connection failed (as Chromium reports after ~15 s without ICE)
        await clerk.report("failed", stalled_ms=15_000)
        await clerk.wait(lambda: any(m.state == "restarting" for m in clerk.media_states))
        restarting = next(m for m in clerk.media_states if m.state == "restarting")
        assert restarting.attempt == 1 and restarting.ends_in_s is not None
        # the kiosk makes peer connection 1 and offers it; the clerk answers; media flows again
        await clerk.wait(lambda: clerk.attempt == 1, timeout=20)
        await clerk.wait(lambda: any(m.state == "restored" for m in clerk.media_states), 20)
        assert terminal.media_attempt == 1
        before = terminal.video_in.count
        await terminal.video_in.wait_for(before + 10, timeout=20)
        await clerk.video_in.wait_for(10, timeout=20)
        assert terminal.state == TerminalState.IN_CALL and terminal.session_id == session_id
        assert terminal.media_state is None  # restored: the kiosk's screen shows the call
        restored = next(m for m in clerk.media_states if m.state == "restored")
        # the clerk said it had seen nothing for 15 s, but the call connected only just
        # before: a side's word cannot make a break older than the call's media
        row = await get_session(server.db, session_id)
        assert restored.gap_ms is not None and row.connected_at is not None
        assert 0 < restored.gap_ms < 15_000

        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()
        await clerk.close()

    await server.stored()
    row = await get_session(server.db, session_id)
    assert row.state == "ended" and row.media_down_since is None and row.media_attempt == 1
    audit = AuditLog(server.db)
    events = await audit.events(session_id)
    kinds = [e.kind for e in events if e.kind != "recording.segment"]
    start = kinds.index("media.interrupted")
    assert kinds[start : start + 2] == ["media.interrupted", "media.restarting"]
    assert "media.restored" in kinds[start:]
    interrupted = next(e for e in events if e.kind == "media.interrupted")
    assert interrupted.payload["reported_by"] == "clerk"
    assert interrupted.payload["state"] == "failed"
    assert (await audit.verify(session_id)).ok


async def test_reports_of_an_earlier_peer_connection_change_nothing(server: RunningServer) -> None:
    terminal, clerk, session_id = await in_call(server)
    try:
        await clerk.report("failed")
        await clerk.wait(lambda: clerk.attempt == 1, timeout=20)
        await clerk.wait(lambda: any(m.state == "restored" for m in clerk.media_states), 20)
        told = len(clerk.media_states)
        clerk.attempt = 0  # a late report about the connection that was replaced
        await clerk.report("failed")
        await clerk.report("interrupted", 3000)
        clerk.attempt = 1
        await clerk.report("connected")  # flows: nothing to say
        await server.stored()
        assert len(clerk.media_states) == told
        row = await get_session(server.db, session_id)
        assert row.media_attempt == 1 and row.media_down_since is None
    finally:
        await terminal.close()
        await clerk.close()


async def test_media_broken_past_the_limit_ends_the_call_and_offers_the_front_of_the_queue(
    short_limit: RunningServer,
) -> None:
    server = short_limit
    terminal, clerk, session_id = await in_call(server)
    try:
        await clerk.report("interrupted", stalled_ms=1000)
        await clerk.wait(lambda: any(m.state == "interrupted" for m in clerk.media_states))
        await terminal.wait_for(TerminalState.ENDED, timeout=20)
        # the clerk still received, saw nothing of the kiosk's side, and both are online:
        # the path between them broke
        assert terminal.end_reason == "media_lost_at_network"
        assert terminal.recall_of == session_id
        again = await terminal.request_service(SERVICE, "en", recall_of=terminal.recall_of)
        assert again != session_id
    finally:
        await terminal.close()
        await clerk.close()
    await server.stored()
    row = await get_session(server.db, session_id)
    assert row.state == "failed" and row.end_reason == "media_lost_at_network"
    recall = await get_session(server.db, again)
    assert recall.priority == 2 and recall.recall_of == session_id
    kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
    assert kinds.index("media.interrupted") < kinds.index("session.failed")


async def test_a_break_that_does_not_heal_gets_a_new_peer_connection(
    quick_restart: RunningServer,
) -> None:
    """No side says its connection failed, yet media stays away (a browser's ICE can stay
    dead after a cut): the server asks for a new peer connection, and the call goes on."""
    server = quick_restart
    terminal, clerk, session_id = await in_call(server)
    try:
        await clerk.report("interrupted", stalled_ms=1000)
        await clerk.wait(lambda: clerk.attempt == 1, timeout=20)
        await clerk.wait(lambda: any(m.state == "restored" for m in clerk.media_states), 20)
        await clerk.video_in.wait_for(10, timeout=20)
        assert terminal.media_attempt == 1 and terminal.state == TerminalState.IN_CALL
    finally:
        await terminal.close()
        await clerk.close()
    await server.stored()
    events = await AuditLog(server.db).events(session_id)
    restarting = next(e for e in events if e.kind == "media.restarting")
    assert restarting.actor == "server" and restarting.payload["reported_by"] == "server"
    assert [e.kind for e in events].count("media.restarting") == 1


@pytest.fixture
async def slow_restart(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The server asking for a new peer connection only 30 s into a break (8 s by default)."""
    async with server_with(tmp_path, media_restart_s=30.0) as running:
        yield running


async def test_one_side_back_and_the_other_not_gets_a_new_peer_connection_soon(
    slow_restart: RunningServer,
) -> None:
    """The clerk sees nothing while the kiosk, asked, says it receives: the path is there,
    the clerk's side of the connection is not coming back by itself. A new peer connection
    is asked for moments later, long before the 30 s of ``media_restart_s`` here."""
    server = slow_restart
    terminal, clerk, session_id = await in_call(server)
    try:
        await clerk.report("interrupted", stalled_ms=1000)
        await clerk.wait(lambda: clerk.attempt == 1, timeout=15)
        await clerk.wait(lambda: any(m.state == "restored" for m in clerk.media_states), 20)
    finally:
        await terminal.close()
        await clerk.close()
    events = await AuditLog(server.db).events(session_id)
    kinds = [e.kind for e in events]
    assert kinds.count("media.restarting") == 1, kinds
    assert next(e for e in events if e.kind == "media.restarting").actor == "server"


class AnswersFrom(ClerkPeer):
    """A console whose answers to the call's peer connections before ``first`` are lost on
    the way: those connections never connect, and nobody says they failed."""

    def __init__(self, url: str, token: str, first: int) -> None:
        super().__init__(url, token)
        self.first = first

    async def _answer(self, offer: SessionDescription) -> None:
        if offer.attempt >= self.first:
            await super()._answer(offer)


async def call_from(server: RunningServer, clerk: ClerkPeer) -> tuple[TerminalClient, str]:
    """A kiosk asks for a call that ``clerk`` (available) takes."""
    token = await server.add_terminal("kiosk-taipa")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
    await clerk.emit("set_availability", {"available": True})
    await terminal.connect()
    return terminal, await terminal.request_service(SERVICE, "en")


async def test_a_call_whose_first_connection_never_connects_gets_another(
    quick_restart: RunningServer,
) -> None:
    """The first peer connection stays "connecting" (its answer lost, no side reports a
    failure): the server asks for a new one, and the call begins on it."""
    server = quick_restart
    await server.add_clerk("alice")
    clerk = AnswersFrom(server.url, await login(server.url, "alice", CLERK_PASSWORD), first=1)
    terminal, session_id = await call_from(server, clerk)
    try:
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        assert terminal.media_attempt == 1
        await terminal.video_in.wait_for(10, timeout=20)
        await clerk.video_in.wait_for(10, timeout=20)
        await clerk.wait(lambda: any(m.state == "restored" for m in clerk.media_states), 20)
        for _ in range(200):  # the "restored" to the kiosk goes out with the clerk's
            if terminal.media_state is None:
                break
            await asyncio.sleep(0.05)
        assert terminal.media_state is None  # the kiosk's screen no longer says "reconnecting"
    finally:
        await terminal.close()
        await clerk.close()
    await server.stored()
    row = await get_session(server.db, session_id)
    assert row.media_down_since is None and row.connected_at is not None
    events = await AuditLog(server.db).events(session_id)
    media = [e for e in events if e.kind.startswith("media.")]
    # each side says its media connected, as in any call
    assert [e.kind for e in media] == [
        "media.interrupted", "media.restarting", "media.connected", "media.connected"
    ]  # fmt: skip
    assert media[0].payload["state"] == "never_connected"
    assert media[0].payload["reported_by"] == "server" and media[0].actor == "server"
    assert media[2].payload["attempt"] == 1 and media[2].payload["after_ms"] >= 1000


async def test_a_call_that_never_connects_ends_and_offers_the_front_of_the_queue(
    tmp_path: Path,
) -> None:
    """No peer connection of the call ever connects: past the limit on broken media the
    call ends as any broken call does, and the applicant may come back first in line."""
    async with server_with(tmp_path, media_restart_s=1.0, media_recovery_s=4.0) as server:
        await server.add_clerk("alice")
        token = await login(server.url, "alice", CLERK_PASSWORD)
        clerk = AnswersFrom(server.url, token, first=1_000)
        terminal, session_id = await call_from(server, clerk)
        try:
            await terminal.wait_for(TerminalState.ENDED, timeout=30)
            assert terminal.end_reason == "media_lost_at_network"
            assert terminal.recall_of == session_id
            assert terminal.media_attempt >= 1  # it was tried again before giving up
        finally:
            await terminal.close()
            await clerk.close()
        await server.stored()
        row = await get_session(server.db, session_id)
        assert row.state == "failed" and row.connected_at is None
        kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
        assert "media.connected" not in kinds
        assert kinds.index("media.restarting") < kinds.index("session.failed")
