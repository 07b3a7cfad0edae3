"""Hole 8 (socket.io): sockets that never sign in, clients that never read, junk frames.

Each test is the attack against a real server with tight limits; it asserts the refusal,
that the server still answers a kiosk, and that nothing stored changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from signaling.messages import NAMESPACE_TERMINAL
from signaling.socket_server import SOCKET_SERVER
from tests.conftest import RunningServer, make_settings, start_server
from tests.security.conftest import assert_responsive, stored_state
from tests.security.sockets import WS, DeafClient, RawSocket
from tests.sign.conftest import SERVICE
from tests.teardown import bounded

T = NAMESPACE_TERMINAL


@pytest.fixture
async def tight(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server with a short sign-in deadline, few anonymous sockets, a small send queue
    and no event budget to speak of (so only the queue bound can stop a flood)."""
    settings = make_settings(
        tmp_path,
        socket_auth_timeout_s=1.0,
        unauthenticated_sockets_per_address=3,
        socket_send_queue_bytes=8192,
        events_per_second=1_000_000.0,
        event_burst=1_000_000,
    )
    running, runner = await start_server(settings)
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


async def kiosk_still_served(server: RunningServer, token: str) -> None:
    """A kiosk signs in and gets its snapshot: the server serves its real clients."""
    async with aiohttp.ClientSession() as http:
        sock = await RawSocket.open(http, server.url)
        await sock.sign_in(T, token)
        snapshot = await sock.until(T, "snapshot")
        assert "resume_token" in snapshot
        await sock.ws.close()
    await assert_responsive(server)


async def test_sockets_that_never_sign_in_are_closed_and_counted(tight: RunningServer) -> None:
    token = await tight.add_terminal()
    before = await stored_state(tight)
    async with aiohttp.ClientSession() as http:
        kiosk = await RawSocket.open(http, tight.url)
        await kiosk.sign_in(T, token)
        idle = [await RawSocket.open(http, tight.url) for _ in range(3)]
        # a fourth anonymous socket from the same address is refused at the handshake
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{tight.url}{WS}")
        assert refused.value.status == 401
        # each idle socket is closed by the server, though it would answer every ping
        for sock in idle:
            assert await sock.closed(timeout=15), "an anonymous socket stayed open"
        # the kiosk that signed in first (its deadline came first) is still served
        await kiosk.emit(T, "sync", {})
        assert (await kiosk.until(T, "snapshot"))["resumed"] is False
        # and the address may open sockets again once its idle ones are gone
        again = await RawSocket.open(http, tight.url)
        await again.sign_in(T, token)
        await again.ws.close()
        await kiosk.ws.close()
    assert await stored_state(tight) == before
    await kiosk_still_served(tight, token)


async def test_a_socket_that_signs_out_but_stays_open_is_closed(tight: RunningServer) -> None:
    token = await tight.add_terminal()
    async with aiohttp.ClientSession() as http:
        sock = await RawSocket.open(http, tight.url)
        await sock.sign_in(T, token)
        await sock.send(f"41{T},")  # leave the namespace, keep the connection
        assert await sock.closed(timeout=15)
    await kiosk_still_served(tight, token)


async def test_a_client_that_never_reads_is_dropped_and_resumes(tight: RunningServer) -> None:
    token = await tight.add_terminal()
    sock = await asyncio.to_thread(DeafClient, tight.url)
    await asyncio.to_thread(sock.write, f'40{T},{{"token":"{token}"}}')
    resume = (await asyncio.to_thread(sock.event, T, "snapshot"))["resume_token"]
    await asyncio.to_thread(sock.write, f'42{T},["request_service",{{"service_id":"{SERVICE}"}}]')
    session_id = (await asyncio.to_thread(sock.event, T, "session_opened"))["session_id"]
    before = await stored_state(tight)
    # Ask for snapshots and read nothing more: the replies fill the TCP buffers, then the
    # server's send queue. Without a bound the server would hold every reply of this flood;
    # with it the server cuts the connection and our writes fail.
    try:
        dropped = await asyncio.to_thread(sock.flood, f'42{T},["sync",{{}}]', 120.0)
    finally:
        sock.close()
    assert dropped, "the server kept queueing for a client that does not read"
    async with aiohttp.ClientSession() as http:
        # the kiosk comes back with its resume token: same session, still queued
        back = await RawSocket.open(http, tight.url)
        await back.sign_in(T, token, resume=resume)
        snapshot = await back.until(T, "snapshot")
        assert snapshot["resumed"] is True
        assert snapshot["session_id"] == session_id
        assert snapshot["state"] == "queued"
        await back.ws.close()
    await tight.stored()
    after = await stored_state(tight)
    assert after["sessions"] == before["sessions"]
    await kiosk_still_served(tight, token)


@pytest.mark.parametrize(
    "frame",
    [
        "42/terminal,[not json",  # undecodable
        "42/terminal,{}",  # an event that is no list
        "42/terminal,[]",  # an event without a name
        "42/terminal,[[1,2],{}]",  # a name that is not a string
        "44/terminal,{}",  # CONNECT_ERROR comes from servers only
        '451-/terminal,["sync",{"_placeholder":true,"num":0}]',  # binary attachments
        "49",  # no such packet type
        "\x00\xff junk",  # not even an engine.io packet (engine.io itself would raise)
    ],
)
async def test_a_malformed_frame_closes_that_socket_without_a_traceback(
    tight: RunningServer, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = await tight.add_terminal()
    before = await stored_state(tight)
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as http:
        sock = await RawSocket.open(http, tight.url)
        await sock.sign_in(T, token)
        await sock.send(frame)
        assert await sock.closed(timeout=15)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    assert any("closed" in r.getMessage() for r in caplog.records if r.name.startswith("signaling"))
    assert await stored_state(tight) == before
    await kiosk_still_served(tight, token)


@pytest.fixture
async def striking(tmp_path: Path) -> AsyncIterator[RunningServer]:
    """A server that refuses an address's handshakes after three of its sockets sent junk."""
    settings = make_settings(tmp_path, socket_strikes_per_address=3, socket_strike_window_s=600.0)
    running, runner = await start_server(settings)
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


async def test_an_address_whose_sockets_send_junk_is_refused_at_the_handshake(
    striking: RunningServer,
) -> None:
    token = await striking.add_terminal()
    before = await stored_state(striking)
    async with aiohttp.ClientSession() as http:
        kiosk = await RawSocket.open(http, striking.url)
        await kiosk.sign_in(T, token)
        for frame in ('42/terminal,["sync",{}]', "\x00\xff junk", "40/terminal," + "x" * 9000):
            # an event, junk, an oversized sign-in: closed before signing in, undecoded
            junk = await RawSocket.open(http, striking.url)
            await junk.send(frame)
            assert await junk.closed(timeout=15), f"{frame[:20]!r} left the socket open"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{striking.url}{WS}")
        assert refused.value.status == 429
        # a kiosk already signed in from that address (behind the same NAT) is still served
        await kiosk.emit(T, "sync", {})
        assert (await kiosk.until(T, "snapshot"))["resumed"] is False
        await kiosk.ws.close()
    assert await stored_state(striking) == before
    await assert_responsive(striking)


async def test_sockets_that_only_miss_their_sign_in_deadline_are_no_strike(
    tmp_path: Path,
) -> None:
    # a hall's kiosks reconnecting at once to a loaded server may be late, not hostile
    settings = make_settings(
        tmp_path,
        socket_strikes_per_address=3,
        socket_strike_window_s=600.0,
        socket_auth_timeout_s=1.0,
    )
    server, runner = await start_server(settings)
    try:
        token = await server.add_terminal()
        async with aiohttp.ClientSession() as http:
            late = [await RawSocket.open(http, server.url) for _ in range(3)]
            for sock in late:
                assert await sock.closed(timeout=15), "an anonymous socket stayed open"
            kiosk = await RawSocket.open(http, server.url)
            await kiosk.sign_in(T, token)
            assert "resume_token" in await kiosk.until(T, "snapshot")
            await kiosk.ws.close()
        await assert_responsive(server)
    finally:
        await bounded(runner.cleanup(), "server")


async def test_a_shutdown_cuts_a_client_that_stopped_reading(tmp_path: Path) -> None:
    """A client that stops reading but stays under the send-queue bound never takes a polite
    close; the server's shutdown cuts it after a moment instead of waiting for it for ever."""
    settings = make_settings(tmp_path, socket_send_queue_bytes=256 * 1024 * 1024)
    server, runner = await start_server(settings)
    stopped = False
    sock: DeafClient | None = None
    try:
        token = await server.add_terminal()
        sock = await asyncio.to_thread(DeafClient, server.url)
        await asyncio.to_thread(sock.write, f'40{T},{{"token":"{token}"}}')
        await asyncio.to_thread(sock.event, T, "snapshot")
        # the queue bound is far away: flood until the socket buffers are full and replies
        # wait in the server's send buffer (a client that does not read)
        eio = server.app[SOCKET_SERVER].eio
        for _ in range(60):
            flooded = await asyncio.to_thread(sock.flood, f'42{T},["sync",{{}}]', 1.0)
            assert not flooded, "cut by the send-queue bound; this test needs the buffers full"
            if any(s.queue.pending_bytes() > 0 for s in eio.sockets.values()):
                break
        else:
            pytest.fail("the replies never backed up into the server's queue")
        # the shutdown's own bound (signaling.app.CLOSE_SOCKETS_S) is well inside bounded's
        await bounded(runner.cleanup(), "server with a deaf client")
        stopped = True
        assert await asyncio.to_thread(sock.cut), "the shutdown left the deaf client connected"
    finally:
        if sock is not None:
            sock.close()
        if not stopped:
            await bounded(runner.cleanup(), "server")
