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
import contextlib
import time
from typing import Any

import socketio
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from socketio import packet as sio_packet


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


class LocalManager(InlineSends):
    """One process: rooms and sockets all here."""


class RedisManager(socketio.AsyncRedisManager, InlineSends):  # type: ignore[misc]
    """Several processes: messages to rooms go through Redis; each process's listener
    puts the ones for its own sockets in their queues without a loop turn each."""
