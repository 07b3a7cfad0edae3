"""Offers: a ringing call is accepted, declined or rings out."""

from __future__ import annotations

from signaling.errors import NotYourSession
from signaling.messages import ClerkState, Event, Role, SessionDescription
from signaling.rooms import clerk_room, terminal_room
from signaling.router.outcomes import Outcomes
from storage import routing
from storage.routing import RoutingConflict


class Offers(Outcomes):
    """Answers to an offer."""

    async def accept(self, clerk_id: int, session_id: str) -> None:
        """The clerk takes the offered call: both sides are told to start WebRTC."""
        # no presence read first: the store's accept checks the call rings at this console
        username = self._username(clerk_id)
        try:
            taken = await routing.accept(self.db, clerk_id, session_id, f"clerk:{username}")
        except RoutingConflict as exc:
            raise NotYourSession(exc.message) from exc
        session = taken.session
        self._remember_parties(session)
        to_terminal = await self._call_accepted(session)
        to_clerk = to_terminal.model_copy(
            update={"peer_name": await self._terminal_name(session.terminal_id)}
        )
        # nothing but sends from here on: the clerk's answer to the offer waits on this
        # handler (a socket's events are handled in order), never on the database
        await self.emitter.to_room(
            Role.TERMINAL, terminal_room(session.terminal_id), Event.CALL_ACCEPTED, to_terminal
        )
        await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.CALL_ACCEPTED, to_clerk)
        if taken.early_offer is not None and not taken.offer_already_shown:
            offer = SessionDescription(session_id=session.id, type="offer", sdp=taken.early_offer)
            await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.DESCRIPTION, offer)
        await self._send_clerk_status(taken.clerk, call=to_clerk)
        self.on_queue_change()

    async def decline(self, clerk_id: int, session_id: str) -> None:
        """The clerk passes the call on; it is offered to the next clerk."""
        await self._clerk(clerk_id)
        session = await routing.get(self.db, session_id)
        if session is None or session.clerk_id != clerk_id or session.state != "offered":
            raise NotYourSession(f"Call {session_id} is not ringing for you; nothing to decline")
        await self._withdraw(session, clerk_id, "declined", ClerkState.AVAILABLE, True)

    async def offer_expired(self, session_id: str, clerk_id: int) -> None:
        """An offer rang out: the clerk is parked away and the call goes to the next clerk."""
        session = await routing.get(self.db, session_id)
        if session is None:
            return
        if await self._withdraw(session, clerk_id, "timeout", ClerkState.AWAY, True):
            self.offers_timed_out += 1
            self.on_timeout()
