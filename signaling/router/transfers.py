"""Transfers: the clerk in a call hands it on to a department or a named clerk (blind).

The session goes back to waiting in its old place with everything it gathered (identity
result, documents, checklist, notes: the same session); the kiosk is told to wait for the
next clerk and makes a fresh offer for them; the clerk who handed it on is out of the call as
after a hang-up (the store frees them the same way, see ``storage.routing.release_clerk``).
"""

from __future__ import annotations

import asyncio
import logging

from signaling.logs import context_log
from signaling.messages import CallTransferred, Event, Role, TransferCall
from signaling.rooms import clerk_room, terminal_room
from signaling.router.outcomes import Outcomes
from storage import routing, store
from storage.errors import NotFound
from storage.routing import TransferRefused

log = logging.getLogger(__name__)


class Transfers(Outcomes):
    """A call handed on by its clerk."""

    async def transfer(self, clerk_id: int, request: TransferCall) -> CallTransferred:
        """Hand ``clerk_id``'s call on; :class:`TransferRefused` says why it cannot be."""
        actor = self._clerk_actor(clerk_id)
        to_clerk_id: int | None = None
        if request.clerk is not None:
            try:
                to_clerk_id = (await store.find_clerk(self.db, request.clerk)).id
            except NotFound as exc:
                raise TransferRefused(
                    f"There is no clerk {request.clerk!r} to transfer to; choose a signed-in clerk"
                ) from exc
        done = await routing.transfer(
            self.db,
            request.session_id,
            clerk_id,
            department_id=request.department_id,
            to_clerk_id=to_clerk_id,
            reserve_s=self.transfer_reserve_s,
            actor=actor,
        )
        session = done.session
        self._parties.pop(session.id, None)
        department = self.catalogue.department(session.department_id)
        told = CallTransferred(
            session_id=session.id,
            department_id=session.department_id,
            department_name=department.names,
            clerk_name=await self._display_name(to_clerk_id) if to_clerk_id else None,
            from_name=await self._display_name(clerk_id),
            version=session.version,
        )
        await self.emitter.to_room(
            Role.TERMINAL, terminal_room(session.terminal_id), Event.CALL_TRANSFERRED, told
        )
        await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.CALL_TRANSFERRED, told)
        if done.clerk is not None:
            await self._send_clerk_status(done.clerk)
        context_log(log, session.id, actor).info(
            "transferred to %s%s",
            session.department_id,
            f" (kept for clerk {to_clerk_id} {self.transfer_reserve_s:g} s)" if to_clerk_id else "",
        )
        if to_clerk_id is not None:
            # the reservation runs out with nothing else happening: the matcher looks again
            self.spawn(self._dispatch_after(self.transfer_reserve_s))
        self.request_dispatch()
        self.on_queue_change()
        return told

    async def _dispatch_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s + 0.05)
        self.request_dispatch()
