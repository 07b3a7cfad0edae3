"""Sends to local sockets in line (signaling/managers.py), on a real socket.io server and client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from aiohttp import web

from signaling.managers import LocalManager


@dataclass
class Served:
    sio: socketio.AsyncServer
    client: socketio.AsyncClient
    client_sid: str = ""
    got: list[int] = field(default_factory=list)
    disconnected: list[str] = field(default_factory=list)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """A socket.io server on a free loopback port with one client in room ``r``."""
    sio = socketio.AsyncServer(client_manager=LocalManager(), async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = socketio.AsyncClient(reconnection=False)
    out = Served(sio, client)

    @sio.event  # type: ignore[misc]
    async def connect(sid: str, environ: dict[str, Any]) -> None:
        out.client_sid = sid
        await sio.enter_room(sid, "r")

    @sio.event  # type: ignore[misc]
    async def disconnect(sid: str, reason: Any = None) -> None:
        await asyncio.sleep(0)  # as ours do: the database is awaited
        out.disconnected.append(sid)

    @client.on("n")  # type: ignore[misc]
    async def on_n(value: int) -> None:
        out.got.append(value)

    await client.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=5)
    try:
        yield out
    finally:
        await client.disconnect()
        await runner.cleanup()


async def test_a_burst_reaches_the_client_in_order_without_a_loop_turn_per_message(
    served: Served,
) -> None:
    turned: list[bool] = []
    asyncio.get_running_loop().call_soon(turned.append, True)
    for i in range(500):
        await served.sio.emit("n", i, to="r")
    # the library's manager awaits a task per message: the callback above would have run
    assert turned == []
    for _ in range(200):
        if len(served.got) == 500:
            break
        await asyncio.sleep(0.02)
    assert served.got == list(range(500))


async def test_a_socket_past_its_ping_time_out_is_closed_off_the_senders_time(
    served: Served,
) -> None:
    eio_sid = served.sio.manager.eio_sid_from_sid(served.client_sid, "/")
    served.sio.eio.sockets[eio_sid].last_ping = time.time() - 10 * served.sio.eio.ping_timeout
    await served.sio.emit("n", 1, to="r")
    # the send found it gone: its disconnect handler runs, but not inside this emit
    assert served.disconnected == []
    for _ in range(100):
        if served.disconnected:
            break
        await asyncio.sleep(0.02)
    assert served.disconnected == [served.client_sid]
    assert served.got == []


async def test_a_message_for_nobody_here_is_dropped_quietly(served: Served) -> None:
    await served.sio.emit("n", 7, to="nobody")
    await served.sio.emit("n", 8, to="r")
    for _ in range(100):
        if served.got:
            break
        await asyncio.sleep(0.02)
    assert served.got == [8]
