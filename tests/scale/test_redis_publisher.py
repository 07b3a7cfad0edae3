"""Messages for the other processes (signaling/managers.py, RedisManager): written to Redis
without waiting for its reply, in the order sent, and after Redis comes back. A Redis server
of the test's own, paused (SIGSTOP) or restarted, and a real subscriber on its channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio

from signaling.managers import RedisManager
from tests.scale.private_redis import PrivateRedis, require_redis_server

CHANNEL = "publisher-test"
# a bound on waits that must not hang, far above what any of them takes (no speed claim:
# with the library's publish, an emit while Redis is paused waits at least 5 s, twice)
NO_HANG_S = 4.0


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    require_redis_server()
    server = PrivateRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.resume()  # a test that failed while it was paused must not leave it stopped
        await server.stop()


class Listener:
    """A subscriber to the channel, as another process's manager is; reconnects by itself."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.got: list[int] = []
        self.arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self.subscribed.wait(), NO_HANG_S)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _listen(self) -> None:
        while True:
            client = aioredis.Redis.from_url(self.url)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(CHANNEL)
                self.subscribed.set()
                async for message in pubsub.listen():
                    self.got.append(json.loads(message["data"])["data"][0])
                    self.arrived.set()
            except (aioredis.ConnectionError, OSError):
                self.subscribed.clear()
                await asyncio.sleep(0.05)
            finally:
                await client.aclose()

    async def until(self, last: int) -> list[int]:
        """The values received, once ``last`` is among them (at most NO_HANG_S)."""
        async with asyncio.timeout(NO_HANG_S):
            while last not in self.got:
                self.arrived.clear()
                await self.arrived.wait()
        return self.got


def sender(url: str) -> tuple[socketio.AsyncServer, RedisManager]:
    manager = RedisManager(url, channel=CHANNEL)
    return socketio.AsyncServer(client_manager=manager, async_mode="aiohttp"), manager


async def first_message(sio: socketio.AsyncServer, listener: Listener) -> None:
    """Send 0 and see it arrive: the sender's link to Redis is up."""
    await sio.emit("n", 0, room="kiosk:1")
    assert await listener.until(0) == [0]


async def until_link_lost(manager: RedisManager) -> None:
    """Wait until the sender has noticed that Redis closed its link (at most NO_HANG_S)."""
    async with asyncio.timeout(NO_HANG_S):
        while manager._link is not None:  # noqa: ASYNC110 - set by the link's reader task
            await asyncio.sleep(0.01)


async def test_a_sender_does_not_wait_for_redis_and_its_messages_keep_their_order(
    redis_server: PrivateRedis,
) -> None:
    sio, manager = sender(redis_server.url)
    async with Listener(redis_server.url) as listener:
        await first_message(sio, listener)
        redis_server.pause()
        try:
            for i in range(1, 51):
                # with the library's publish each of these waits for a reply that cannot come
                await asyncio.wait_for(sio.emit("n", i, room="kiosk:1"), NO_HANG_S)
        finally:
            redis_server.resume()
        assert await listener.until(50) == list(range(51))
    assert await manager.close(NO_HANG_S) is True
    assert manager.dropped == 0


async def test_after_a_redis_restart_no_message_is_lost_on_the_old_connection(
    redis_server: PrivateRedis,
) -> None:
    sio, manager = sender(redis_server.url)
    async with Listener(redis_server.url) as listener:
        await first_message(sio, listener)
        await redis_server.stop()
        # the restart is over before anything else is sent (as in a quiet moment): the
        # first message after it must not go down the connection Redis closed
        await until_link_lost(manager)
        await redis_server.start()
        await asyncio.wait_for(listener.subscribed.wait(), NO_HANG_S)
        for i in range(1, 11):
            await asyncio.wait_for(sio.emit("n", i, room="kiosk:1"), NO_HANG_S)
        assert await listener.until(10) == list(range(11))
    assert await manager.close(NO_HANG_S) is True
    assert manager.dropped == 0


async def test_close_reports_messages_redis_has_not_taken(redis_server: PrivateRedis) -> None:
    sio, manager = sender(redis_server.url)
    async with Listener(redis_server.url) as listener:
        await first_message(sio, listener)
        redis_server.pause()
        try:
            await sio.emit("n", 1, room="kiosk:1")
            assert await manager.close(0.3) is False  # a stopping process says so
        finally:
            redis_server.resume()


async def test_a_process_decodes_only_messages_for_someone_it_holds(
    redis_server: PrivateRedis,
) -> None:
    senders = [sender(redis_server.url) for _ in range(2)]
    handled: list[list[tuple[str, Any]]] = [[], []]
    for (_, manager), seen in zip(senders, handled, strict=True):
        manager.initialize()  # its Redis listener, as when a server takes its first socket
        original = manager._handle_emit

        async def counted(
            message: dict[str, Any], original: Any = original, seen: Any = seen
        ) -> None:
            seen.append((message["room"], message["data"]))
            await original(message)

        manager._handle_emit = counted  # type: ignore[method-assign]
    (sio_a, _), (_, b) = senders
    sid = await b.connect("eio-1", "/")
    await b.enter_room(sid, "/", "kiosk:here")
    await asyncio.sleep(0.5)  # both listeners subscribed
    async with Listener(redis_server.url) as listener:
        await sio_a.emit("n", 1, room="kiosk:here")  # B holds it
        await sio_a.emit("n", 2, room="kiosk:nowhere")  # nobody holds it
        await sio_a.emit("n", 3, room="kiosk:here")
        await listener.until(3)
        await asyncio.sleep(0.3)  # what the listeners were going to take, taken
    # A handled its own messages once each, when it sent them (not again from Redis); B
    # only those for the room it holds, in order
    assert handled[0] == [("kiosk:here", [1]), ("kiosk:nowhere", [2]), ("kiosk:here", [3])]
    assert handled[1] == [("kiosk:here", [1]), ("kiosk:here", [3])]
    for _, manager in senders:
        assert await manager.close(NO_HANG_S)
        manager.thread.cancel()
