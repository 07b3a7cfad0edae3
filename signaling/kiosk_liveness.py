"""Kiosks that stopped answering: the service map's "offline" for a cut-off kiosk, in seconds,
without cutting its socket.

A kiosk whose network is cut sends nothing and its socket stays open until socket.io's ping
timeout (``socket_ping_interval_s`` + ``socket_ping_timeout_s``, 45 s): long enough that a
call survives a short cut and the kiosk hears how its call ended. The map cannot wait that
long. Every :data:`TICK_S` each process looks at its own kiosks' sockets: one whose pong is
overdue by :data:`QUIET_AFTER_S` (engine.io's ``last_ping`` is set when a ping goes out and
cleared by the pong) is recorded as quiet in the store, where the map of any process reads
it (:func:`storage.places.kiosk_facts`); it is forgotten when it answers again or goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from signaling.keys import DATABASE, ROUTER
from signaling.messages import NAMESPACE_TERMINAL
from signaling.router import Router
from signaling.socket_server import SOCKET_SERVER, GuardedServer
from storage import places
from storage.db import Database

log = logging.getLogger(__name__)

# a pong takes a round trip; one this late means the kiosk (or its network) is gone
QUIET_AFTER_S = 1.5
TICK_S = 0.5


class QuietWatch:
    """Finds this process's quiet kiosk sockets and keeps the store's record of them."""

    def __init__(
        self, sio: GuardedServer, router: Callable[[], Router], db: Callable[[], Database]
    ) -> None:
        self._sio = sio
        self._router = router
        self._db = db
        self._written: dict[int, str] = {}

    def quiet_now(self, now: float) -> dict[int, str]:
        """This process's kiosks whose pong is overdue: terminal id -> socket id."""
        quiet = {}
        for terminal_id, sid in list(self._router().local_terminals.items()):
            eio_sid = self._sio.manager.eio_sid_from_sid(sid, NAMESPACE_TERMINAL)
            socket = self._sio.eio.sockets.get(eio_sid) if eio_sid else None
            if socket is None:
                continue  # gone: its disconnect is recorded by presence
            if socket.last_ping and now - socket.last_ping > QUIET_AFTER_S:
                quiet[terminal_id] = sid
        return quiet

    async def tick(self) -> None:
        """Write what changed since the last look."""
        quiet = self.quiet_now(time.time())
        if quiet == self._written:
            return
        answering = [t for t in self._written if t not in quiet]
        added = {t: sid for t, sid in quiet.items() if self._written.get(t) != sid}
        await places.note_quiet(self._db(), added, answering)
        for terminal_id in added:
            log.info("kiosk %d stopped answering pings: offline on the map", terminal_id)
        for terminal_id in answering:
            log.info("kiosk %d answers again (or has gone)", terminal_id)
        self._written = quiet

    async def run(self) -> None:
        """Look every :data:`TICK_S` until cancelled; a failed write is tried at the next."""
        while True:
            try:
                await self.tick()
            except (OSError, SQLAlchemyError) as exc:  # the database is away: the map waits
                log.warning("could not record quiet kiosks: %s", exc)
            await asyncio.sleep(TICK_S)


async def quiet_watch(app: web.Application) -> AsyncIterator[None]:
    """The watch's lifetime (aiohttp ``cleanup_ctx``, after the router's)."""
    watch = QuietWatch(app[SOCKET_SERVER], lambda: app[ROUTER], lambda: app[DATABASE])
    task = asyncio.get_running_loop().create_task(watch.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
