"""bench.load's in-line socket.io client (bench/load_clients.py) against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import socketio
from aiohttp import web

from bench.load_clients import InLineClient


@pytest.fixture
async def sio_server() -> AsyncIterator[tuple[socketio.AsyncServer, str]]:
    sio = socketio.AsyncServer(async_mode="aiohttp")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield sio, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_client_the_server_disconnects_can_connect_again(
    sio_server: tuple[socketio.AsyncServer, str],
) -> None:
    sio, url = sio_server
    joined: asyncio.Queue[str] = asyncio.Queue()
    got: asyncio.Queue[object] = asyncio.Queue()

    @sio.event
    async def connect(sid: str, environ: object) -> None:
        await joined.put(sid)

    @sio.on("ping_me")
    async def ping_me(sid: str, data: object) -> None:
        await sio.emit("pong", data, to=sid)

    client = InLineClient(reconnection=False)
    gone = asyncio.Event()
    client.on("disconnect", lambda *_: gone.set())
    client.on("pong", got.put_nowait)
    try:
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        sid = await asyncio.wait_for(joined.get(), 10)
        await client.emit("ping_me", {"n": 1})
        assert await asyncio.wait_for(got.get(), 10) == {"n": 1}
        # the server drops it: its DISCONNECT is handled in the client's read loop
        await sio.disconnect(sid)
        await asyncio.wait_for(gone.wait(), 10)
        for _ in range(100):
            if client.eio.state == "disconnected":
                break
            await asyncio.sleep(0.02)
        assert client.eio.state == "disconnected"
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        await client.emit("ping_me", {"n": 2})
        assert await asyncio.wait_for(got.get(), 10) == {"n": 2}
    finally:
        await client.disconnect()
