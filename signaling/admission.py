"""How many socket handshakes use the database at once, and how long one may wait for a turn.

When a process dies, every kiosk and console it held reconnects to the others within a second
or two. Each handshake reads and writes the store; let a thousand of them at the connection
pool together and each holds a connection across many event-loop turns, the pool's queue
grows past its wait, and calls already in progress (an accept, a hang-up) wait behind
reconnects. So handshakes take turns: a few at a time, and one that cannot get a turn soon
is refused at once with :class:`ServerBusy` (no database work spent on it); the client comes
back after a short, random pause, and the proxy may send it to another process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from signaling.errors import ServerBusy

BUSY_MESSAGE = (
    "the server is busy taking back many connections at once; your screen reconnects by "
    "itself in a moment and keeps its place"
)


class Admission:
    """At most ``at_once`` handshakes in their database work; others wait up to ``wait_s``."""

    def __init__(self, at_once: int, wait_s: float) -> None:
        self._slots = asyncio.Semaphore(at_once)
        self.wait_s = wait_s
        self.refused = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn for the handshake's work; raises :class:`ServerBusy` if none comes."""
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire()
        except TimeoutError:
            self.refused += 1
            raise ServerBusy(BUSY_MESSAGE) from None
        try:
            yield
        finally:
            self._slots.release()
