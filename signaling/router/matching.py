"""Matching: waiting sessions are offered to free clerks in batches, in the matcher's own task,
never inside another socket's handler."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from signaling.directions import kiosk_scope
from signaling.logs import context_log
from signaling.messages import CallOffered, Event, IceServer, Role
from signaling.rooms import clerk_room
from signaling.router.base import RouterBase
from storage import routing
from storage.routing import ClerkSnap, RoutingConflict, SessionSnap

log = logging.getLogger(__name__)


class Matching(RouterBase):
    """The matcher: one coalesced task that turns waiting sessions and free clerks into offers."""

    def request_dispatch(self) -> None:
        """Ask the matcher to run soon (coalesced; it runs in its own task)."""
        self._dispatch_wanted.set()
        self._dispatch_idle.clear()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch_loop())

    async def settle(self) -> None:
        """Wait until the matcher has nothing left to do (tests and shutdown)."""
        while not self._dispatch_idle.is_set():
            await self._dispatch_idle.wait()
            await asyncio.sleep(0)

    async def _dispatch_loop(self) -> None:
        while self._dispatch_wanted.is_set():
            self._dispatch_wanted.clear()
            try:
                await self.dispatch()
            except Exception:  # the matcher must outlive one bad round; the next retries
                log.exception("routing round failed")
        self._dispatch_idle.set()

    async def dispatch(self) -> int:
        """Offer waiting sessions to free clerks until no pair is left; returns offers made."""
        made = 0
        conflicts = 0
        while conflicts < 50:
            try:
                pairs = await routing.claim_batch(
                    self.db,
                    offer_timeout_s=self.offer_timeout_s,
                    decline_pause_s=self.decline_pause_s,
                    rules=self.skill_rules,
                )
            except RoutingConflict:
                conflicts += 1
                await asyncio.sleep(0.005 * conflicts)
                continue
            if not pairs:
                break
            made += len(pairs)
            self.offers_made += len(pairs)
            await asyncio.gather(*(self._send_offer(session, clerk) for session, clerk in pairs))
        if made:
            self.on_queue_change()
        return made

    async def _send_offer(self, session: SessionSnap, clerk: ClerkSnap) -> None:
        offer = CallOffered(
            session_id=session.id,
            service_id=session.service_id,
            service_name=self.catalogue.service(session.service_id).names,
            department_id=session.department_id,
            language=session.language,
            terminal_name=await self._terminal_name(session.terminal_id),
            waited_s=round(session.waited_s(datetime.now(UTC)), 3),
            expires_in_s=self.offer_timeout_s,
            care_mode=session.care_mode,
            offer=session.early_offer,
            ice_servers=[IceServer.model_validate(i) for i in session.ice_servers],
            ice_transport_policy=self.ice_policy,
            applicant_zone=(await kiosk_scope(self.db, session.terminal_id)).zone,
        )
        if session.early_offer is not None:
            await routing.mark_offer_shown(self.db, session.id, clerk.clerk_id)
        await self.emitter.to_room(
            Role.CLERK, clerk_room(clerk.clerk_id), Event.CALL_OFFERED, offer
        )
        await self._send_clerk_status(clerk)
        self.on_offer(self.offer_timeout_s)
        context_log(log, session.id, "server").info("offered to clerk %d", clerk.clerk_id)
