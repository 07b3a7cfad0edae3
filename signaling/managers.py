"""socket.io client managers whose sends to local sockets do not wait on the event loop.

python-socketio's ``AsyncManager.emit`` makes a task per recipient and awaits them all, so
every message costs its sender at least one turn of the event loop. Where one coroutine
sends many messages in a row, that turn is paid for each: the Redis manager's listener
delivers the other processes' messages one at a time, and under load (each turn
10–50 ms, hundreds of messages a second) it fell seconds behind — a clerk's answer took
up to 2.8 s to reach a kiosk on the other process, of which 50 ms was the server's work.

Putting a packet in a socket's send queue never needs to wait (the queue is unbounded;
:class:`signaling.socket_server.SendQueue` drops a client that stops reading), so here it
is done in line, in order. A socket that has missed its pings is the exception: sending to
it closes it, and its disconnect handler reads the database, so that send runs on its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from redis.exceptions import RedisError
from socketio import packet as sio_packet

log = logging.getLogger(__name__)

# messages waiting for Redis beyond which new ones are dropped (about a minute of a loaded
# process's traffic): memory stays bounded while Redis is away
OUTBOX_LIMIT = 50_000
# messages written without a reply beyond which Redis is taken for hung and the link redone
UNANSWERED_LIMIT = 20_000
# how long Redis may take to answer before it is taken for gone and the link redone
REPLY_WITHIN_S = 5.0
# pauses between attempts to reach Redis again
RELINK_FIRST_S = 0.1
RELINK_MAX_S = 2.0


class InlineSends(socketio.AsyncManager):  # type: ignore[misc]
    """Local delivery of ``emit`` without a task (and a loop turn) per recipient."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._closing: set[asyncio.Task[None]] = set()

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        if callback:
            # an acknowledgement needs an id per recipient: the library's own way
            return await super().emit(  # type: ignore[no-any-return]
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to
            )
        room = to or room
        if namespace not in self.rooms:
            return None
        # as the library does: a tuple is several arguments, None none
        args = list(data) if isinstance(data, tuple) else [data] if data is not None else []
        skipped = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        recipients = [
            eio_sid for sid, eio_sid in self.get_participants(namespace, room) if sid not in skipped
        ]
        if not recipients:
            return None
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        frames = encoded if isinstance(encoded, list) else [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, f) for f in frames]
        for eio_sid in recipients:
            for pkt in packets:
                await self._deliver(eio_sid, pkt)
        return None

    async def _deliver(self, eio_sid: str, pkt: eio_packet.Packet) -> None:
        eio = self.server.eio
        socket = eio.sockets.get(eio_sid)
        if socket is None or socket.closed:
            return
        last_ping = socket.last_ping
        if last_ping and time.time() - last_ping > eio.ping_timeout:
            # the send closes it and runs its disconnect handler: not on this sender's time
            task = asyncio.create_task(self._send_quietly(eio_sid, pkt))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        await self._send_quietly(eio_sid, pkt)

    async def _send_quietly(self, eio_sid: str, pkt: eio_packet.Packet) -> None:
        # closed since it was looked up: it gets a snapshot when it reconnects
        with contextlib.suppress(eio_exceptions.SocketIsClosedError):
            await self.server._send_eio_packet(eio_sid, pkt)


# what _header_first puts in front of a message for one room
_HEADER = re.compile(
    rb'\{"host_id": "(?P<host>[0-9a-f]+)", "method": "emit", '
    rb'"namespace": (?P<namespace>"(?:[^"\\]|\\.)*"), "room": (?P<room>"(?:[^"\\]|\\.)*")'
)


def _header_first(message: dict[str, Any]) -> dict[str, Any]:
    """The message with whose it is and for which room first (python-socketio reads it by
    key, so the order is free): read from the front by each receiving process."""
    if message.get("method") != "emit" or not isinstance(message.get("room"), str):
        return message
    front = {k: message[k] for k in ("host_id", "method", "namespace", "room")}
    return {**front, **message}


class LocalManager(InlineSends):
    """One process: rooms and sockets all here."""


class RedisManager(socketio.AsyncRedisManager, InlineSends):  # type: ignore[misc]
    """Several processes: messages to rooms go through Redis; each process's listener
    puts the ones for its own sockets in their queues without a loop turn each."""

    connected: bool  # the library's: whether its Redis client is set up

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._link: Any = None  # the connection PUBLISH commands are written to, when up
        self._unanswered = 0  # commands written whose replies have not come back
        self._replied_at = 0.0  # when the last reply came (or the first unanswered went)
        self._settled = asyncio.Event()  # nothing waiting, nothing unanswered
        self._settled.set()
        self._outbox: collections.deque[str] = collections.deque()  # while the link is down
        self._relinking: asyncio.Task[None] | None = None
        self._link_tasks: list[asyncio.Task[None]] = []
        self.dropped = 0  # messages given up on: Redis away too long, or the link broke

    async def _publish(self, data: Any) -> None:
        """Write a message for the other processes to Redis without waiting for its reply.

        The library awaits Redis's reply to each ``PUBLISH``: a handler that sends three
        messages waited three round trips, each a turn of a loaded event loop, and the
        socket's next event (a clerk's SDP answer right after their accept) waited behind
        them: 14 ms a publish at the median, 100 ms at p99 under bench.load. Here every
        message is written at once to one connection, in the order sent (so messages about
        one session keep the order of their commits); a task of its own reads the replies.
        While that connection is down, messages wait in order (at most ``OUTBOX_LIMIT``).
        """
        message = self.json.dumps(_header_first(data))  # as it was when sent
        if self._link is not None and not self._outbox:
            try:
                await self._write([message])
                return
            except (RedisError, OSError) as exc:
                self._link_lost(exc)
        if len(self._outbox) >= OUTBOX_LIMIT:
            # Redis has been away a long while: as when pub/sub drops messages, clients
            # notice the gap by its version and re-sync
            self.dropped += 1
            return
        self._outbox.append(message)
        self._settled.clear()
        if self._relinking is None or self._relinking.done():
            self._relinking = asyncio.create_task(self._relink())

    async def _write(self, messages: list[str]) -> None:
        # one write to the socket; it waits only when the socket's buffer is full
        if self._unanswered + len(messages) > UNANSWERED_LIMIT:
            raise RedisError(f"{self._unanswered} messages without a reply from Redis")
        commands = [("PUBLISH", self.channel, m) for m in messages]
        await self._link.send_packed_command(self._link.pack_commands(commands), check_health=False)
        if not self._unanswered:
            self._replied_at = time.monotonic()  # the wait for a reply starts now
        self._unanswered += len(messages)
        self._settled.clear()

    def _link_lost(self, exc: BaseException) -> None:
        if self._unanswered:
            # Redis may or may not have passed them on: sent again they could arrive twice
            log.warning("the link to Redis broke (%s); %d messages lost", exc, self._unanswered)
        else:
            log.warning("the link to Redis broke (%s)", exc)
        self.dropped += self._unanswered
        link, self._link, self._unanswered = self._link, None, 0
        if not self._outbox:
            self._settled.set()
        for task in self._link_tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self._link_tasks = []
        if link is not None:
            closing = asyncio.create_task(link.disconnect(nowait=True))
            closing.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _relink(self) -> None:
        """Connect (again), then write what waited, in order; retried until it works."""
        pause = RELINK_FIRST_S
        while True:
            try:
                if not self.connected:
                    self._redis_connect()
                pool = self.redis.connection_pool
                # no socket time-out on writes: redis-py runs each write under wait_for then,
                # a task and a loop turn per message (replies are watched below instead)
                link = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
                await link.connect()
                waiting = list(self._outbox)
                self._outbox.clear()
                self._link, self._unanswered = link, 0
                self._link_tasks = [
                    asyncio.create_task(self._read_replies(link)),
                    asyncio.create_task(self._watch_replies(link)),
                ]
                try:
                    await self._write(waiting)
                except (RedisError, OSError):
                    self._outbox.extendleft(reversed(waiting))  # sent again, in order
                    raise
                if not self._unanswered:
                    self._settled.set()
                return
            except (RedisError, OSError) as exc:
                if self._link is not None:
                    self._link_lost(exc)
                log.warning("cannot reach Redis to publish (%s); retrying in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RELINK_MAX_S)

    async def _read_replies(self, link: Any) -> None:
        # Always reading, replies expected or not: Redis closing the connection (a restart)
        # is noticed now, not by losing the next message written to a dead socket.
        while self._link is link:
            try:
                await link.read_response()
            except (RedisError, OSError) as exc:
                if self._link is link:
                    self._link_lost(exc)
                return
            self._replied_at = time.monotonic()
            self._unanswered = max(0, self._unanswered - 1)
            if not self._unanswered and not self._outbox:
                self._settled.set()

    async def _watch_replies(self, link: Any) -> None:
        # a Redis that holds the connection but answers nothing (hung, or its machine gone
        # without a reset) is given up on after REPLY_WITHIN_S, and the link redone
        while self._link is link:
            await asyncio.sleep(REPLY_WITHIN_S / 5)
            waited = time.monotonic() - self._replied_at
            if self._link is link and self._unanswered and waited > REPLY_WITHIN_S:
                self._link_lost(TimeoutError(f"no reply from Redis for {waited:.1f} s"))

    async def _listen(self) -> AsyncIterator[Any]:
        # Every process receives every message on the channel, its own included, and the
        # library decodes each in full before finding it has nobody to give it to: three in
        # four of them with two processes. Here the few bytes in front (see _header_first)
        # say whose it is and for which room, and only what is for someone here is decoded.
        async for raw in super()._listen():
            if self._for_someone_here(raw):
                yield raw

    def _for_someone_here(self, raw: Any) -> bool:
        header = _HEADER.match(raw) if isinstance(raw, bytes) else None
        if header is None:
            return True  # not one of ours as _header_first writes it: the library decides
        if header["host"].decode() == self.host_id:
            return False  # sent from here, and delivered here when it was sent
        namespace, room = json.loads(header["namespace"]), json.loads(header["room"])
        return bool(self.rooms.get(namespace, {}).get(room))

    async def close(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until Redis has taken every message, then close the
        link; whether it took them all: a stopping process's last messages are not lost."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._settled.wait()
        sent = self._settled.is_set()
        tasks = [t for t in (self._relinking, *self._link_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._link is not None:
            await self._link.disconnect(nowait=True)
            self._link = None
        return sent
