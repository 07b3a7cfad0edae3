"""A socket.io client at the frame level, for attacks the python client would not send."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import struct
import time
from typing import Any

import aiohttp

WS = "/socket.io/?EIO=4&transport=websocket"
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


class RawSocket:
    """One websocket speaking engine.io 4 / socket.io 5 frames by hand."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str) -> RawSocket:
        """Open the engine.io connection (no namespace yet) and read its open packet."""
        ws = await http.ws_connect(f"{url}{WS}")
        opened = await ws.receive_str(timeout=10)
        assert opened.startswith("0{"), opened
        return cls(ws)

    async def send(self, frame: str) -> None:
        await self.ws.send_str(frame)

    async def sign_in(self, namespace: str, token: str, resume: str | None = None) -> str:
        """Connect to ``namespace``; the socket.io sid, or AssertionError with the refusal."""
        auth: dict[str, str] = {"token": token}
        if resume:
            auth["resume"] = resume
        await self.send(f"40{namespace},{json.dumps(auth)}")
        while True:
            frame = await self.frame()
            if frame.startswith(f"0{namespace},"):
                return str(json.loads(frame.split(",", 1)[1])["sid"])
            if frame.startswith(f"4{namespace},"):
                raise AssertionError(f"refused: {frame}")

    async def emit(self, namespace: str, event: Any, *args: Any) -> None:
        await self.send(f"42{namespace},{json.dumps([event, *args])}")

    async def frame(self, timeout: float = 10) -> str:
        """The next socket.io frame; pings are answered on the way."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in CLOSED or msg.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"socket closed: {msg.type!r}")
            data = str(msg.data)
            if data == "2":
                await self.send("3")
                continue
            if data.startswith("4"):
                return data[1:]
            return data

    async def event(self, namespace: str, timeout: float = 10) -> tuple[str, Any]:
        """The next event on ``namespace``: its name and payload."""
        while True:
            frame = await self.frame(timeout)
            if frame.startswith(f"2{namespace},"):
                name, *args = json.loads(frame.split(",", 1)[1])
                return str(name), args[0] if args else None

    async def until(self, namespace: str, name: str, timeout: float = 10) -> Any:
        """Read events until ``name`` arrives; its payload."""
        while True:
            got, payload = await self.event(namespace, timeout)
            if got == name:
                return payload

    async def closed(self, timeout: float = 15) -> bool:
        """Read until the server closes the connection (True) or ``timeout`` passes."""
        try:
            while True:
                msg = await self.ws.receive(timeout=timeout)
                if msg.type in CLOSED or msg.type == aiohttp.WSMsgType.ERROR:
                    return True
        except TimeoutError:
            return False


class DeafClient:
    """A websocket client that stops reading: a tiny receive buffer, frames written by hand.

    Blocking and meant for a thread (``asyncio.to_thread``), so the server in the test's
    event loop runs while it writes. Until :meth:`flood` it reads like any client; then it
    only writes, and whatever the server sends it piles up in the server.
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # before connect, so the window it offers stays small
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        self.sock.settimeout(15)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {WS} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self._exactly(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert self.read().startswith("0{")

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        return data

    def read(self) -> str:
        """One text frame from the server (unmasked, unfragmented: what engine.io sends)."""
        _, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._exactly(8))[0]
        return self._exactly(length).decode()

    def event(self, namespace: str, name: str) -> Any:
        """Read until event ``name`` on ``namespace``; its payload."""
        while True:
            frame = self.read()
            if frame.startswith(f"42{namespace},"):
                got, *args = json.loads(frame.split(",", 1)[1])
                if got == name:
                    return args[0] if args else None

    @staticmethod
    def _frame(text: str) -> bytes:
        """One masked text frame (a client must mask; a zero key keeps it cheap)."""
        data = text.encode()
        if len(data) < 126:
            head = struct.pack("!BB", 0x81, 0x80 | len(data))
        else:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, len(data))
        return head + b"\0\0\0\0" + data

    def write(self, text: str) -> None:
        """Send one text frame."""
        self.sock.sendall(self._frame(text))

    def flood(self, text: str, within_s: float) -> bool:
        """Write frame ``text`` over and over, reading nothing: True once the server cut us,
        False if it still took our frames after ``within_s`` seconds.

        Not a fixed count: the kernel buffers megabytes on loopback, and a server slowed by a
        busy machine may not have read far enough to overflow before a count is written. The
        stream is written whole (a timed-out send never splits a frame) so the server sees
        only well-formed frames and cuts us for not reading, not for junk.
        """
        chunk = self._frame(text) * 256
        pending = b""
        deadline = time.monotonic() + within_s
        self.sock.setblocking(False)
        try:
            while time.monotonic() < deadline:
                pending = pending or chunk
                _, writable, _ = select.select([], [self.sock], [], 0.2)
                if not writable:
                    continue
                try:
                    pending = pending[self.sock.send(pending) :]
                except BlockingIOError:
                    continue
                except ConnectionError:
                    return True
            return False
        finally:
            self.sock.settimeout(15)

    def cut(self, within_s: float = 10.0) -> bool:
        """Read what is waiting until the server's end: True if it closed or reset the
        connection, False if it still holds it open after ``within_s`` seconds."""
        deadline = time.monotonic() + within_s
        self.sock.settimeout(0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    if not self.sock.recv(1 << 16):
                        return True
                except TimeoutError:
                    continue
            return False
        except ConnectionError:
            return True
        finally:
            self.sock.settimeout(15)

    def close(self) -> None:
        self.sock.close()
