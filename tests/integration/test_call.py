"""A whole call through the real server: aiortc terminal <-> aiortc clerk, media both ways."""

from __future__ import annotations

import asyncio
import time

import pytest

from media import sources
from media.sources import LocalMedia, create_local_tracks
from storage.audit import AuditLog
from storage.store import get_session
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.peer import make_peer
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.peers import ClerkPeer, login

SERVICE = "tax-registration"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_full_call_media_both_ways_and_chain(server: RunningServer) -> None:
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-wanchai")
    clerk = ClerkPeer(server.url, await login(server.url, "alice", CLERK_PASSWORD))
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "away")
        await clerk.emit("set_availability", {"available": True})
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")

        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "en")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        assert clerk.offers[0].service_name.en
        assert clerk.offers[0].language == "en"
        await terminal.video_in.wait_for(30, timeout=20)
        await clerk.video_in.wait_for(30, timeout=20)
        await terminal.audio_in.wait_for(20, timeout=20)
        await clerk.audio_in.wait_for(20, timeout=20)
        assert terminal.video_in.size == sources.SYNTHETIC_VIDEO.size
        assert clerk.video_in.size == sources.SYNTHETIC_VIDEO.size

        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
        await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
        assert clerk.ended and clerk.ended[0]["reason"] == "applicant_hangup"
    finally:
        await terminal.close()
        await clerk.close()

    await server.stored()
    row = await get_session(server.db, session_id)
    assert row.state == "ended"
    assert row.answered_at is not None and row.connected_at is not None and row.ended_at
    audit = AuditLog(server.db)
    kinds = [e.kind for e in await audit.events(session_id)]
    assert kinds[:3] == ["session.created", "call.offered", "call.accepted"]
    assert "media.connected" in kinds
    # the recording's last segments may reach the server after the hang-up
    call_kinds = [k for k in kinds if k != "recording.segment"]
    assert call_kinds[-1] == "session.ended"
    assert {"applicant", "clerk"} <= {
        e.payload["side"] for e in await audit.events(session_id) if e.kind == "recording.segment"
    }
    report = await audit.verify(session_id)
    assert report.ok, report
    assert report.count == len(kinds)


async def test_offer_made_while_waiting_reaches_the_clerk_who_accepts(
    server: RunningServer,
) -> None:
    """The kiosk makes its offer while it waits; a clerk who comes later still gets it."""
    await server.add_clerk("bob")
    token = await server.add_terminal("kiosk-early")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    clerk = ClerkPeer(server.url, await login(server.url, "bob", CLERK_PASSWORD))
    try:
        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "zh-Hant")
        for _ in range(200):  # the offer is made in the background once the request is queued
            live = await server.session(session_id)
            if live.early_offer is not None:
                break
            await asyncio.sleep(0.01)
        assert live.early_offer is not None and live.early_offer.startswith("v=0")
        assert terminal.state == TerminalState.QUEUED

        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await clerk.video_in.wait_for(10, timeout=20)
        await terminal.video_in.wait_for(10, timeout=20)
        assert (await server.session(session_id)).early_offer is None  # handed over once
    finally:
        await terminal.close()
        await clerk.close()


async def test_the_next_call_brings_its_offer_with_the_request(server: RunningServer) -> None:
    """After a call the kiosk makes the next call's offer while idle; the request carries it,
    and the camera is attached only when the applicant asks."""
    await server.add_clerk("carol")
    token = await server.add_terminal("kiosk-warm")
    opened: list[int] = []

    def media() -> LocalMedia:
        opened.append(1)
        return create_local_tracks(True, "", "", label="kiosk")

    terminal = TerminalClient(server.url, token, media, name="kiosk")
    clerk = ClerkPeer(server.url, await login(server.url, "carol", CLERK_PASSWORD))
    try:
        await clerk.connect()
        await clerk.wait(lambda: clerk.status is not None)
        await clerk.emit("set_availability", {"available": True})
        await terminal.connect()
        for call in range(2):
            await terminal.request_service(SERVICE, "en")
            await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
            await terminal.video_in.wait_for(10, timeout=20)
            await clerk.video_in.wait_for(10, timeout=20)
            assert len(opened) == call + 1  # the camera opens per call, not while idle
            await terminal.hangup()
            await terminal.wait_for(TerminalState.ENDED)
            await clerk.wait(lambda: clerk.status is not None and clerk.status.state == "available")
            for _ in range(200):
                if terminal._warm is not None:
                    break
                await asyncio.sleep(0.01)
            assert terminal._warm is not None, "no warm peer after the call"
        assert len(opened) == 2  # the warm peer made after the second call has no camera yet
        warm = terminal._warm
        session_id = await terminal.request_service(SERVICE, "en")
        # the offer came with the request: the clerk it rings for gets it with the offer
        await clerk.wait(lambda: any(o.session_id == session_id for o in clerk.offers))
        rang = next(o for o in clerk.offers if o.session_id == session_id)
        assert rang.offer is not None and rang.offer == warm.offer_sdp
    finally:
        await terminal.close()
        await clerk.close()


async def test_a_warm_peer_is_not_used_past_half_its_credentials_lifetime() -> None:
    peer = await make_peer([], ice_ttl_s=3600)
    try:
        assert peer.fresh()
        peer.usable_until = time.monotonic() - 1
        assert not peer.fresh()
        assert "m=audio" in peer.offer_sdp and "m=video" in peer.offer_sdp
    finally:
        await peer.pc.close()
