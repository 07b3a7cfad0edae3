"""The socket.io server with the limits python-socketio does not have (issue 19, hole 8).

- **Sign in or go.** A socket that opens at the engine.io level but does not connect to a
  namespace (kiosk or console, with its token) within ``auth_timeout_s`` is closed, and one
  address may hold at most ``unauthenticated_per_address`` such sockets at once; more are
  refused at the handshake (401). A socket whose sign-in is being handled (waiting for its
  turn at the database, see :mod:`signaling.admission`) is left to that: it is signed in or
  refused as busy, never cut without a word while it waits.
- **Junk costs the address its sockets for a while.** Each socket closed for a junk frame is
  a strike against its address; past ``strikes_per_address`` in
  ``strike_window_s`` the address's handshakes are refused (429, :mod:`signaling.guard`)
  before engine.io sets anything up, until its oldest strike is out of the window. Sockets
  already signed in from that address (kiosks behind the same NAT) are not touched, and a
  socket that merely missed its sign-in deadline is no strike: a hall's kiosks reconnecting
  all at once to a loaded server may, and must not lock each other out.
- **A bounded send queue.** engine.io queues every outgoing packet of a socket in an
  unbounded ``asyncio.Queue`` that its websocket writer drains; a client that stops reading
  blocks the writer and the queue grows with every event sent to it. Here the queue counts
  its bytes and, past ``send_queue_bytes``, the socket is aborted: the client reconnects
  with its resume token and gets a snapshot, so nothing is lost.
- **Packets written as they are sent.** On a websocket (every client of ours opens one at
  once) a packet is framed and handed to the connection when it is sent, in the order sent,
  instead of waiting for the socket's writer task to be scheduled; the bytes the connection
  has not yet passed to the kernel count against ``send_queue_bytes`` as the queue's did.
  Frames are read without a task and a ``wait_for`` each. Under load (2,000 kiosks, two
  processes) each of those hand-overs waited for a turn of a busy event loop: three of them
  were most of an answer's relay time from one party to the other.
- **Malformed frames close the socket** (undecodable packets, binary attachments, event
  names that are not strings) instead of raising inside the library, where each would
  log a traceback. Before it has signed in, a socket may send only a namespace connect of
  at most :data:`MAX_SIGN_IN_FRAME` bytes: any other frame closes it undecoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from typing import Any

import engineio
import socketio
from aiohttp import web
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from signaling.throttle import FailureWindow

log = logging.getLogger(__name__)

# socket.io packet types a client may send; binary ones are never used by our clients
_CLIENT_PACKETS = frozenset(
    {sio_packet.CONNECT, sio_packet.DISCONNECT, sio_packet.EVENT, sio_packet.ACK}
)


# engine.io packet types a text frame starts with (open, close, ping, pong, message, upgrade,
# noop); engine.io itself would raise on any other, outside its own error handling
_EIO_TYPES = frozenset("0123456")
# a socket.io CONNECT packet as it arrives (namespace and auth follow)
_CONNECT = str(sio_packet.CONNECT)
# a namespace connect carries a token or two; nothing our clients send to sign in is near this
MAX_SIGN_IN_FRAME = 8 * 1024
# how long a closed socket's connection may take to close by itself before it is cut
CLOSE_WAIT_S = 2.0


def _size(item: Any) -> int:
    data = getattr(item, "data", None)
    if isinstance(data, str | bytes):
        return len(data) + 8
    return 64  # control packets (ping, close, noop) and the small open packet


def ws_frame(data: str | bytes) -> bytes:
    """One unmasked, unfragmented websocket frame (RFC 6455 5.2) carrying ``data``: text for
    a ``str``, binary for ``bytes``."""
    payload, opcode = (data.encode(), 0x1) if isinstance(data, str) else (data, 0x2)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


class SendQueue(asyncio.Queue[Any]):
    """A socket's outgoing packets, refusing to hold more than ``limit`` bytes.

    Once over the limit it keeps nothing more for the socket and calls ``on_overflow``
    (once); ``None``, the writer's stop sentinel, is always accepted. Once
    :meth:`write_through` is called, packets go straight to the connection instead.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.bytes = 0
        self.overflowed = False
        self.on_overflow: Any = None
        self._transport: asyncio.WriteTransport | None = None

    def write_through(self, transport: asyncio.WriteTransport) -> None:
        """Write each packet to ``transport`` as it is put, after what is queued now."""
        while not self.empty():
            item = self.get_nowait()
            self.task_done()
            if item is not None:
                self._write(transport, item)
        self._transport = transport

    def pending_bytes(self) -> int:
        """Bytes sent to the socket that its client has not taken yet."""
        if self._transport is not None:
            return self._transport.get_write_buffer_size()
        return self.bytes

    def stop_writing(self) -> None:
        """Queue packets again (the connection is closing)."""
        self._transport = None

    def put_nowait(self, item: Any) -> None:
        if item is None:
            super().put_nowait(item)
        elif self.overflowed:
            return
        elif self._transport is not None:
            self._write(self._transport, item)
        elif self.bytes + _size(item) > self.limit:
            self._overflow()
        else:
            super().put_nowait(item)

    def _overflow(self) -> None:
        self.overflowed = True
        if self.on_overflow is not None:
            self.on_overflow()

    def _write(self, transport: asyncio.WriteTransport, item: Any) -> None:
        if transport.is_closing():
            return  # the client gets a snapshot when it is back
        frame = ws_frame(item.encode())
        if transport.get_write_buffer_size() + len(frame) > self.limit:
            self._overflow()
            return
        transport.write(frame)

    def _put(self, item: Any) -> None:
        self.bytes += _size(item) if item is not None else 0
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        self.bytes -= _size(item) if item is not None else 0
        return item


class _GuardedWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket, telling the socket's queue how to drop the client."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        owner = getattr(self.handler, "__self__", None)  # the engine.io socket
        queue = getattr(owner, "queue", None)
        request = environ["aiohttp.request"]
        if isinstance(queue, SendQueue):

            def drop() -> None:
                log.warning(
                    "socket %s stopped reading (%d bytes waiting); dropped, it may resume",
                    getattr(owner, "sid", "?"),
                    queue.pending_bytes(),
                )
                # abort: a close frame would wait behind the very bytes it does not read
                if request.transport is not None:
                    request.transport.abort()

            queue.on_overflow = drop
        if owner is None or request.transport is None:
            return await super().__call__(environ)
        connections: dict[str, asyncio.BaseTransport] = self.server.connections
        connections[owner.sid] = request.transport
        try:
            if owner.connected or not isinstance(queue, SendQueue):
                # an upgrade from long-polling (no client of ours does it): engine.io's way
                return await super().__call__(environ)
            return await self._serve(environ, owner, queue)
        finally:
            connections.pop(owner.sid, None)

    async def _serve(self, environ: dict[str, Any], owner: Any, queue: SendQueue) -> Any:
        """engine.io's websocket handling for a socket opened as a websocket, with packets
        written through (see the module's notes) and frames read in line."""
        request = environ["aiohttp.request"]
        # not compressed: our messages are small JSON, deflating each cost more CPU than
        # the bytes it saved, and the frames are written here without the writer's deflate
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        owner.connected = owner.upgraded = True
        queue.write_through(request.transport)
        try:
            await self._receive_all(owner)
        finally:
            queue.stop_writing()
            with contextlib.suppress(Exception):  # a connection already gone
                await self._sock.close()
            await owner.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        return self._sock

    async def _receive_all(self, owner: Any) -> None:
        """Hand each frame to the engine.io socket until the client goes or goes quiet."""
        quiet_s = self.server.ping_interval + self.server.ping_timeout
        while True:
            try:
                async with asyncio.timeout(quiet_s):
                    data = await self.wait()
            except (TimeoutError, OSError, ValueError):
                return
            if data is None:
                return  # closed by the client, or junk (see wait)
            try:
                await owner.receive(eio_packet.Packet(encoded_packet=data))
            except eio_exceptions.UnknownPacketError:
                continue
            except eio_exceptions.SocketIsClosedError:
                return
            except Exception:  # as engine.io does: one bad frame does not end the socket
                log.exception("socket %s: a frame could not be handled", owner.sid)

    async def wait(self) -> Any:
        data = await super().wait()
        problem = None
        if isinstance(data, str) and (not data or data[0] not in _EIO_TYPES):
            problem = "a frame that is not an engine.io packet"
        elif len(data) > self.server.max_http_buffer_size:
            problem = "a frame over the size limit"
        if problem is None:
            return data
        # end the socket here, as if the client had left (engine.io would raise on the first
        # and close on the second), and count it against the address
        owner = getattr(self.handler, "__self__", None)
        on_junk = getattr(getattr(owner, "server", None), "on_junk", None)
        if on_junk is not None:
            on_junk(getattr(owner, "sid", ""), problem)
        return None


class _BoundedEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    send_queue_bytes = 1024 * 1024
    # told of each socket that sent junk below the socket.io level (its engine.io sid, what)
    on_junk: Callable[[str, str], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # each open websocket's connection, to cut those that will not take a polite close
        self.connections: dict[str, asyncio.BaseTransport] = {}
        # the driver table is shared by every server of the process: copy before changing
        drivers: dict[str, Any] = getattr(self, "_async")  # noqa: B009 (untyped library)
        setattr(self, "_async", {**drivers, "websocket": _GuardedWebSocket})  # noqa: B010

    def create_queue(self, *args: Any, **kwargs: Any) -> asyncio.Queue[Any]:
        return SendQueue(self.send_queue_bytes)


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """``socketio.AsyncServer`` with sign-in deadlines, strikes per address, bounded send
    queues and frame checks."""

    def __init__(
        self,
        *,
        auth_timeout_s: float,
        unauthenticated_per_address: int,
        send_queue_bytes: int,
        strikes_per_address: int = 10,
        strike_window_s: float = 60.0,
        address_of: Callable[[web.Request], str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.eio.send_queue_bytes = send_queue_bytes
        self.auth_timeout_s = auth_timeout_s
        self.unauthenticated_per_address = unauthenticated_per_address
        # sockets closed for junk frames, per client address
        self.strikes = FailureWindow(strikes_per_address, strike_window_s)
        self.eio.on_junk = self._junk
        self.address_of: Callable[[web.Request], str] = address_of or (
            lambda request: request.remote or "-"
        )
        self._address: dict[str, str] = {}  # engine.io sid -> client address
        # per address, the sockets not yet seen signed in: a socket leaves for good once seen
        # signed in, so counting costs the handshakes in flight, not every socket the address
        # holds (a hall behind one NAT, or every client behind the proxy, is thousands)
        self._pending: dict[str, set[str]] = {}
        # sockets whose namespace connect is being handled now (see _handle_eio_message)
        self._signing_in: set[str] = set()
        self._deadlines: dict[str, asyncio.Task[None]] = {}
        self.opened = 0  # sockets accepted since the start (see signaling/collector.py)

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _BoundedEngineServer

    async def close_all(self, within_s: float) -> None:
        """Disconnect every socket; cut the connections of those still open after ``within_s``.

        A polite close waits until the socket's queue is written out, and a client that stopped
        reading (but not yet past the send-queue bound) never lets it be: the server's shutdown
        would wait for it for ever.
        """

        async def polite() -> None:
            for namespace in list(self.manager.rooms):
                for sid, _ in list(self.manager.get_participants(namespace, None)):
                    await self.disconnect(sid, namespace=namespace)
            # and the connections in no namespace yet (a client still connecting, or refused)
            if self.eio.sockets:
                await self.eio.disconnect()

        try:
            await asyncio.wait_for(polite(), within_s)
        except TimeoutError:
            stuck = self.eio.connections
            log.warning(
                "%d sockets did not take their close within %g s; cut", len(stuck), within_s
            )
            for transport in list(stuck.values()):
                transport.abort()
            self.eio.sockets = {}
        await self.shutdown()

    def signed_in(self, eio_sid: str) -> bool:
        """Whether the engine.io socket is connected to any namespace (kiosk or console)."""
        for namespace in self.namespace_handlers:
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
            if sid is not None and self.manager.is_connected(sid, namespace):
                return True
        return False

    def unauthenticated(self, address: str) -> int:
        """How many open sockets from ``address`` have not signed in yet.

        One that signs out later and stays open is not counted again: its sign-in deadline
        closes it within ``auth_timeout_s`` all the same."""
        pending = self._pending.get(address)
        if not pending:
            return 0
        pending.difference_update([s for s in pending if self.signed_in(s)])
        if not pending:
            del self._pending[address]
        return len(pending)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        request = environ.get("aiohttp.request")
        address = self.address_of(request) if request is not None else "-"
        if self.unauthenticated(address) >= self.unauthenticated_per_address:
            log.warning(
                "refused a socket from %s: %d sockets from there have not signed in",
                address,
                self.unauthenticated_per_address,
            )
            return False
        self.opened += 1
        self._address[eio_sid] = address
        self._pending.setdefault(address, set()).add(eio_sid)
        self._deadlines[eio_sid] = asyncio.create_task(self._sign_in_deadline(eio_sid))
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        task = self._deadlines.pop(eio_sid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._forget_address(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)
        # engine.io's close waits for the socket's writer, which a client that stopped reading
        # never lets finish (a ping time-out is that case): its connection stayed open, so the
        # client could not tell it was dropped and came back only after its grace had run out
        asyncio.get_running_loop().call_later(CLOSE_WAIT_S, self._cut_if_open, eio_sid)

    def _cut_if_open(self, eio_sid: str) -> None:
        transport = self.eio.connections.pop(eio_sid, None)
        if transport is not None and not transport.is_closing():
            log.info("socket %s still open %g s after its close; cut", eio_sid, CLOSE_WAIT_S)
            transport.abort()

    def _forget_address(self, eio_sid: str) -> None:
        address = self._address.pop(eio_sid, None)
        pending = self._pending.get(address or "")
        if pending is not None:
            pending.discard(eio_sid)
            if not pending:
                del self._pending[address or ""]

    async def shutdown(self) -> None:
        """Stop the sign-in timers too, then the server as python-socketio does."""
        for task in self._deadlines.values():
            task.cancel()
        self._deadlines.clear()
        await super().shutdown()

    async def _sign_in_deadline(self, eio_sid: str) -> None:
        # checked again every period: a socket that signs out of its namespace but keeps
        # the connection open is closed just the same
        while True:
            await asyncio.sleep(self.auth_timeout_s)
            if eio_sid not in self.eio.sockets:
                return
            if not self.signed_in(eio_sid) and eio_sid not in self._signing_in:
                log.info(
                    "socket %s from %s did not sign in within %g s; closed",
                    eio_sid,
                    self._address.get(eio_sid, "-"),
                    self.auth_timeout_s,
                )
                await self._drop(eio_sid)
                return

    def handshake_wait(self, address: str) -> float:
        """Seconds until ``address`` may open a socket again after its junk (0: now)."""
        return self.strikes.retry_after(address)

    def _junk(self, eio_sid: str, what: str) -> None:
        """The socket sent ``what`` and is being closed: a strike against its address."""
        log.info("socket %s sent %s; closed", eio_sid, what)
        address = self._address.get(eio_sid)
        # it no longer counts as an open socket of its address now, not once engine.io
        # notices the loss
        self._forget_address(eio_sid)
        if address is not None and self.strikes.fail(address):
            log.warning(
                "sockets from %s: %d closed for junk within %g s; its handshakes are"
                " refused for a while",
                address,
                self.strikes.limit,
                self.strikes.window_s,
            )

    async def _drop(self, eio_sid: str) -> None:
        """Cut the connection: a misbehaving client need not agree to a close frame."""
        self._forget_address(eio_sid)
        environ = self.environ.get(eio_sid) or {}
        request = environ.get("aiohttp.request")
        if request is not None and request.transport is not None:
            # the websocket's reader ends, and engine.io runs the disconnect as for any loss
            request.transport.abort()
            return
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None:
            await socket.close(wait=False, reason=self.eio.reason.SERVER_DISCONNECT)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        problem = self._malformed(eio_sid, data)
        if problem is not None:
            self._junk(eio_sid, problem)
            await self._drop(eio_sid)
            return
        if not data.startswith(_CONNECT):
            await super()._handle_eio_message(eio_sid, data)
            return
        # a sign-in under way (waiting for its turn at the database, at most
        # handshake_wait_s, then refused as busy) is not a socket that never signs in
        self._signing_in.add(eio_sid)
        try:
            await super()._handle_eio_message(eio_sid, data)
        finally:
            self._signing_in.discard(eio_sid)

    def _malformed(self, eio_sid: str, data: Any) -> str | None:
        """Why a frame is not one our clients send (None when it is)."""
        if not isinstance(data, str):
            return "a binary frame"
        sign_in = data.startswith(_CONNECT) and len(data) <= MAX_SIGN_IN_FRAME
        # before signing in, a socket may only connect to a namespace with its token:
        # anything else is refused before it is decoded (junk costs no JSON parsing)
        if not sign_in and not self.signed_in(eio_sid):
            return "a frame other than a sign-in before signing in"
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # the decoder raises whatever its parsing hits
            return "an undecodable frame"
        if pkt.packet_type not in _CLIENT_PACKETS:
            return f"a packet of type {pkt.packet_type}"
        if pkt.packet_type == sio_packet.EVENT and not (
            isinstance(pkt.data, list) and pkt.data and isinstance(pkt.data[0], str)
        ):
            return "an event without a name"
        return None


SOCKET_SERVER = web.AppKey("socket_server", GuardedServer)
