"""Packets written through to the connection (signaling/socket_server.py): framing, order,
and the byte bound, against a real websocket client over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from engineio import packet as eio_packet

from signaling.socket_server import SendQueue
from tests.teardown import bounded

LIMIT = 1024 * 1024  # the bound on bytes the client has not taken yet


@dataclass
class Link:
    """A websocket whose server end writes through a SendQueue; the client end reads."""

    queue: SendQueue
    client: aiohttp.ClientWebSocketResponse
    overflowed: asyncio.Event


@pytest.fixture
async def link() -> AsyncIterator[Link]:
    ready: asyncio.Future[tuple[SendQueue, asyncio.Event]] = asyncio.Future()
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        queue, overflowed = SendQueue(LIMIT), asyncio.Event()
        queue.on_overflow = overflowed.set
        queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, "queued before"))
        assert request.transport is not None
        queue.write_through(request.transport)
        ready.set_result((queue, overflowed))
        await done.wait()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        client = await http.ws_connect(f"http://127.0.0.1:{port}/ws", autoclose=False)
        queue, overflowed = await ready
        try:
            yield Link(queue, client, overflowed)
        finally:
            done.set()
            await client.close()
    await bounded(runner.cleanup(), "websocket server")


async def test_packets_arrive_whole_and_in_the_order_sent(link: Link) -> None:
    # sizes on each side of the frame header's length forms (7 bits, 16 bits, 64 bits)
    texts = [f"{i}:" + "x" * n for i, n in enumerate((0, 123, 124, 200, 65533, 65534, 70000))]
    for text in texts:
        await link.queue.put(eio_packet.Packet(eio_packet.MESSAGE, text))
    got = [(await link.client.receive(timeout=10)).data for _ in range(len(texts) + 1)]
    assert got == ["4queued before", *(f"4{t}" for t in texts)]
    assert link.queue.empty()  # nothing left for a writer task


async def test_a_client_that_does_not_read_is_cut_off_past_the_bound(link: Link) -> None:
    big = eio_packet.Packet(eio_packet.MESSAGE, "y" * 16 * 1024)
    for _ in range(2000):  # 32 MB: far past what the socket buffers hold
        if link.overflowed.is_set():
            break
        await link.queue.put(big)
        await asyncio.sleep(0)
    assert link.overflowed.is_set(), "never over the bound: the client must be cut"
    assert link.queue.pending_bytes() <= link.queue.limit + 16 * 1024
    before = link.queue.pending_bytes()
    await link.queue.put(big)  # refused once over: nothing more is kept
    assert link.queue.pending_bytes() == before
