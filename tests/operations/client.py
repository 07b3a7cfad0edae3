"""A bare socket.io client for tests that need only what the server sends, not media."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio


class Client:
    """A bare socket.io client of one namespace that keeps what it is sent."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()  # the server closed this socket
        self.sio.on("*", self._on_any, namespace=namespace)
        self.sio.on("disconnect", lambda *reason: self.gone.set(), namespace=namespace)

    async def _on_any(self, event: str, data: Any) -> None:
        await self.events.put((event, data))

    async def connect(self, url: str, token: str) -> None:
        await self.sio.connect(
            url,
            namespaces=[self.namespace],
            auth={"token": token},
            transports=["websocket"],
            # the library waits 1 s for the sign-in by default: a loaded machine takes longer
            wait_timeout=10,
        )

    async def emit(self, event: str, data: Any) -> None:
        await self.sio.emit(event, data, namespace=self.namespace)

    async def expect(self, event: str, timeout: float = 10) -> Any:
        """The next ``event`` (others before it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                name, data = await self.events.get()
                if name == event:
                    return data
