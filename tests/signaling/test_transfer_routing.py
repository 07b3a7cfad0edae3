"""A call transferred to a named clerk, through the real server: it waits for them while the
reservation lasts (a free colleague is not rung), then any clerk of the department takes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from media.sources import create_local_tracks
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from tests.conftest import CLERK_PASSWORD, RunningServer, make_settings, start_server
from tests.peers import ClerkPeer, login
from tests.teardown import bounded

TAXATION = "taxation"
RESERVE_S = 1.0


@pytest.fixture
async def short_reservation(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """The server with a call kept for a named clerk only :data:`RESERVE_S`."""
    running, runner = await start_server(
        make_settings(tmp_path, None, transfer_reserve_s=RESERVE_S)
    )
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


async def signed_in(server: RunningServer, username: str, available: bool) -> ClerkPeer:
    await server.add_clerk(username, [TAXATION])
    peer = ClerkPeer(server.url, await login(server.url, username, CLERK_PASSWORD))
    await peer.connect()
    await peer.wait(lambda: peer.status is not None)
    if available:
        await peer.emit("set_availability", {"available": True})
        await peer.wait(lambda: peer.status is not None and peer.status.state == "available")
    return peer


async def test_a_reserved_call_opens_to_the_department_when_its_clerk_does_not_come(
    short_reservation: RunningServer,
) -> None:
    server = short_reservation
    alice = await signed_in(server, "alice", available=True)
    token = await server.add_terminal("kiosk-reserved")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"),
        name="kiosk", recording=None,
    )  # fmt: skip
    peers = [alice]
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "en")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        bob = await signed_in(server, "bob", available=False)  # away: never comes for it
        carol = await signed_in(server, "carol", available=True)
        peers += [bob, carol]
        await alice.emit("transfer", {"session_id": session_id, "clerk": "bob"})
        await terminal.wait_for(TerminalState.QUEUED, timeout=10)
        assert terminal.transfer is not None and terminal.transfer.clerk_name == "Clerk bob"
        # kept for bob: carol, free all along, is rung only once the reservation has run out
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        assert terminal.clerk_name == "Clerk carol"
        assert [o.session_id for o in carol.offers] == [session_id]
        assert not bob.offers and [o.session_id for o in alice.offers] == [session_id]
    finally:
        await bounded(terminal.close(), "terminal")
        for peer in peers:
            await bounded(peer.close(), "clerk peer")
    events = await AuditLog(server.db).events(session_id)
    requested = next(e for e in events if e.kind == "transfer.requested")
    offered = [e for e in events if e.kind == "call.offered"]
    assert requested.payload["to_clerk"] == "bob"
    # carol was rung only once the reservation had run out
    assert offered[-1].created_at >= datetime.fromisoformat(requested.payload["reserved_until"])
    completed = next(e for e in events if e.kind == "transfer.completed")
    assert completed.payload["to_clerk_id"] == offered[-1].payload["clerk_id"]
