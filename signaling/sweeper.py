"""What the store says is overdue, resolved by whichever process looks first.

Every ``sweep_interval_s`` each process renews its lease, declares dead the processes whose
lease ran out (their sockets count as dropped from their last renewal), and resolves: offers
past their deadline, kiosks and clerks gone longer than the grace period, calls whose media
stayed broken past the limit, and sessions left
open by a process that died. Every resolution is a conditional update, so two processes
sweeping at once resolve each thing once. Nothing stays open forever as long as one process
runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket

from signaling.router import Router
from storage import media_breaks, presence, routing

log = logging.getLogger(__name__)

# Offers' deadlines are looked at on a grid of this step. A round per offer (one is made every
# few milliseconds under load) ran the whole sweep without pause: at 27 calls a second, 292
# rounds in 15 s, a quarter of all statements the database ran. An offer now rings out at
# most this much after its deadline, and one statement finds every offer due on that tick.
OFFER_CHECK_STEP_S = 0.25


class Sweeper:
    """The periodic resolution of one process (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        *,
        interval_s: float,
        grace_s: float,
        lease_s: float,
    ) -> None:
        self.router = router
        self.interval_s = interval_s
        self.grace_s = grace_s
        self.lease_s = lease_s
        self._poke = asyncio.Event()
        self._offers_due = asyncio.Event()
        self._offer_ticks: set[float] = set()
        self.draining = False
        self.rounds = 0
        # the processes that held a lease at the last round: one gone since may have died
        # between committing a change and sending its messages
        self._processes: set[str] = set()

    def poke(self) -> None:
        """Sweep now, besides the regular rounds."""
        self._poke.set()

    def offer_due(self, after_s: float) -> None:
        """Look for rung-out offers once ``after_s`` has passed (on the next tick of the grid)."""
        loop = asyncio.get_running_loop()
        tick = math.ceil((loop.time() + after_s) / OFFER_CHECK_STEP_S) * OFFER_CHECK_STEP_S
        if tick not in self._offer_ticks:
            self._offer_ticks.add(tick)
            loop.call_at(tick, self._offer_tick, tick)

    def _offer_tick(self, tick: float) -> None:
        self._offer_ticks.discard(tick)
        self._offers_due.set()

    async def start(self) -> None:
        """Take a lease for this process."""
        await presence.register_process(
            self.router.db, self.router.process_id, socket.gethostname()
        )

    async def run(self) -> None:
        """Renew the lease and sweep until cancelled."""
        # the lease in a loop of its own: a sweep round that resolves hundreds of kiosks
        # after another process died takes a while, and must not let this lease run out too
        lease = asyncio.get_running_loop().create_task(self._renew_lease())
        offers = asyncio.get_running_loop().create_task(self._watch_offers())
        try:
            while True:
                try:
                    await self.sweep()
                except Exception:  # a failed round (database briefly away) is retried
                    log.exception("sweep failed; retrying in %.1f s", self.interval_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poke.wait(), self.interval_s)
                self._poke.clear()
        finally:
            for task in (lease, offers):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _watch_offers(self) -> None:
        while True:
            await self._offers_due.wait()
            self._offers_due.clear()
            try:
                await self.expire_offers()
            except Exception:  # the database briefly away: the next tick or round retries
                log.exception("looking for rung-out offers failed")

    async def _renew_lease(self) -> None:
        while True:
            try:
                await presence.heartbeat(
                    self.router.db, self.router.process_id, draining=self.draining
                )
            except Exception:  # the database briefly away: the next renewal may make it
                log.exception("lease renewal failed; retrying in %.1f s", self.interval_s)
            await asyncio.sleep(self.interval_s)

    async def sweep(self) -> None:
        """One round: dead processes, overdue offers, kiosks and clerks gone (the lease is
        renewed on its own, see :meth:`run`)."""
        router = self.router
        db = router.db
        processes = set(await presence.expire_processes(db, self.lease_s, router.process_id))
        gone = self._processes - processes
        self._processes = processes
        if gone:
            await router.resync_local(gone)
        await self.expire_offers()
        for session_id in await presence.sessions_of_gone_terminals(db, self.grace_s):
            await router.terminal_lost(session_id)
        for clerk_id in await presence.gone_clerks(db, self.grace_s):
            await router.clerk_lost(clerk_id)
        for session_id in await media_breaks.overdue(db, router.media_recovery_s):
            await router.media_lost(session_id)
        for session_id in await media_breaks.stuck(db, router.media_restart_s):
            await router.media_stuck(session_id)
        router.request_dispatch()
        self.rounds += 1

    async def expire_offers(self) -> None:
        """Offers past their deadline go to the next clerk (each once, whoever looks)."""
        for session_id, clerk_id in await routing.expired_offers(self.router.db):
            await self.router.offer_expired(session_id, clerk_id)

    async def stop(self) -> None:
        """This process leaves: its sockets count as dropped now, so the grace period runs
        for their owners to reconnect elsewhere."""
        await presence.forget_sockets_of(self.router.db, self.router.process_id)
