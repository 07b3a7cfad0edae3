"""A dropped socket does not cost the call: real aiortc kiosk and clerk, the server in between.

The kiosk's or the clerk's socket is cut mid-call and kept away for a few seconds; the media,
peer to peer, never stops, and the same session carries on once the socket is back with its
resume token. Kept away past the grace period, the call ends with its reason and the applicant
is offered the front of the queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from media.sources import create_local_tracks
from storage import routing
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings, start_server
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"
DEAD = "http://127.0.0.1:9"  # nothing listens: the kiosk's reconnects fail while it points here


@pytest.fixture
async def short_grace(tmp_path: Path) -> AsyncIterator[RunningServer]:
    running, runner = await start_server(make_settings(tmp_path, grace_s=2.0))
    try:
        yield running
    finally:
        await runner.cleanup()


async def in_call(server: RunningServer) -> tuple[TerminalClient, ClerkPeer, str]:
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-resume")
    clerk = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    await clerk.connect()
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
    await clerk.emit("set_availability", {"available": True})
    await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
    await terminal.connect()
    session_id = await terminal.request_service(SERVICE, "en")
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    await terminal.video_in.wait_for(10, timeout=20)
    await clerk.video_in.wait_for(10, timeout=20)
    return terminal, clerk, session_id


async def cut_kiosk(terminal: TerminalClient, for_s: float, server_url: str) -> None:
    """The kiosk's link to the server goes down for ``for_s`` seconds (its reconnects fail)."""
    terminal.server_url = DEAD
    await terminal.sio.eio.disconnect(abort=True)
    await asyncio.sleep(for_s)
    terminal.server_url = server_url


async def test_a_kiosk_socket_cut_of_5_s_mid_call_keeps_the_session(
    server: RunningServer,
) -> None:
    terminal, clerk, session_id = await in_call(server)
    try:
        frames = clerk.video_in.count
        await cut_kiosk(terminal, 5.0, server.url)
        for _ in range(100):
            if terminal.online:
                break
            await asyncio.sleep(0.1)
        assert terminal.online, "the kiosk did not come back"
        assert terminal.session_id == session_id and terminal.state == TerminalState.IN_CALL
        assert clerk.ended == []
        stored = await routing.get(server.db, session_id)
        assert stored is not None and stored.state == "in_call"
        # the media never stopped, and signalling works again: the clerk hangs up normally
        await clerk.video_in.wait_for(frames + 30, timeout=20)
        await clerk.emit("hangup", {"session_id": session_id, "reason": "done"})
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
        assert terminal.end_reason == "done"
    finally:
        await terminal.close()
        await clerk.close()
    assert (await AuditLog(server.db).verify(session_id)).ok


async def test_a_clerk_socket_cut_of_5_s_mid_call_keeps_the_session(
    server: RunningServer,
) -> None:
    terminal, clerk, session_id = await in_call(server)
    try:
        await clerk.sio.eio.disconnect(abort=True)
        await asyncio.sleep(5.0)
        await clerk.connect(resume=True)
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "busy")
        assert clerk.status is not None and clerk.status.session_id == session_id
        assert clerk.status.call is not None and clerk.status.call.session_id == session_id
        assert terminal.state == TerminalState.IN_CALL
        stored = await routing.get(server.db, session_id)
        assert stored is not None and stored.state == "in_call"
        frames = terminal.video_in.count
        await terminal.video_in.wait_for(frames + 30, timeout=20)
        await terminal.hangup()
        await clerk.wait(lambda: bool(clerk.ended))
        assert clerk.ended[0]["reason"] == "applicant_hangup"
    finally:
        await terminal.close()
        await clerk.close()


async def test_a_clerk_away_past_grace_ends_the_call_and_the_applicant_goes_first(
    short_grace: RunningServer,
) -> None:
    server = short_grace
    terminal, clerk, session_id = await in_call(server)
    try:
        await clerk.sio.eio.disconnect(abort=True)
        await terminal.wait_for(TerminalState.ENDED, timeout=20)
        assert terminal.end_reason == "clerk_lost"
        assert terminal.recall_of == session_id
        # the applicant asks again: the call goes to the front of the queue
        await server.add_terminal("kiosk-other")
        again = await terminal.request_service(SERVICE, "en", recall_of=terminal.recall_of)
        stored = await routing.get(server.db, again)
        assert stored is not None and stored.priority == routing.PRIORITY_RECALL
        assert stored.recall_of == session_id
        lost = await routing.get(server.db, session_id)
        assert lost is not None and lost.state == "failed" and lost.end_reason == "clerk_lost"
    finally:
        await terminal.close()
        await clerk.close()


async def test_a_kiosk_away_past_grace_ends_the_call_with_its_reason(
    short_grace: RunningServer,
) -> None:
    server = short_grace
    terminal, clerk, session_id = await in_call(server)
    try:
        terminal.resume_for_s = 60
        await cut_kiosk(terminal, 5.0, server.url)
        for _ in range(200):  # the clerk's handler appends, then closes its peer
            if clerk.ended:
                break
            await asyncio.sleep(0.1)
        assert clerk.ended and clerk.ended[0]["reason"] == "terminal_lost"
        await terminal.wait_for(TerminalState.ENDED, timeout=20)
        assert terminal.end_reason == "connection_lost"
        lost = await routing.get(server.db, session_id)
        assert lost is not None and lost.end_reason == "terminal_lost"
        assert await routing.recall_allowed(server.db, lost.terminal_id, session_id)
    finally:
        await terminal.close()
        await clerk.close()
