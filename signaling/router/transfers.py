"""Transfers: the clerk in a call hands it on to a department or a named clerk (blind), or
asks a free clerk first while the applicant holds and then hands it over or takes it back
(warm: the two consoles talk browser to browser, signalled through here).

The session goes back to waiting in its old place with everything it gathered (identity
result, documents, checklist, notes: the same session); the kiosk is told to wait for the
next clerk and makes a fresh offer for them; the clerk who handed it on is out of the call as
after a hang-up (the store frees them the same way, see ``storage.routing.release_clerk``).
"""

from __future__ import annotations

import logging

from signaling.errors import NotYourSession
from signaling.logs import context_log
from signaling.messages import (
    CallTransferred,
    ConsultAnswer,
    ConsultFinish,
    ConsultSignal,
    ConsultStart,
    Event,
    Role,
    TransferCall,
)
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
            to_clerk_id = await self._transfer_target(request.clerk)
        done = await routing.transfer(
            self.db,
            request.session_id,
            clerk_id,
            department_id=request.department_id,
            to_clerk_id=to_clerk_id,
            reserve_s=self.transfer_reserve_s,
            actor=actor,
            wrap_up_s=self.wrap_up_s,
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
        # a reservation running out needs nothing here: every process's sweeper asks the
        # matcher to look each round (signaling/sweeper.py)
        self.request_dispatch()
        self.on_queue_change()
        return told

    # ------------------------------------------------------------------ warm transfers

    async def consult_start(self, clerk_id: int, request: ConsultStart) -> None:
        """The clerk of a call asks a free clerk about it first: the kiosk holds (its clerk's
        media to it is a hold card and tone), the other clerk is asked."""
        to_clerk_id = await self._transfer_target(request.clerk)
        done = await routing.consult_start(
            self.db,
            request.session_id,
            clerk_id,
            to_clerk_id,
            department_id=request.department_id,
            actor=self._clerk_actor(clerk_id),
        )
        session = done.session
        await self._tell_consult(session, "ringing", clerk_id, to_clerk_id)
        await self._hold(session, on=True)
        if done.consulted is not None:
            await self._send_clerk_status(done.consulted)
        context_log(log, session.id, self._clerk_actor(clerk_id)).info(
            "consulting clerk %d", to_clerk_id
        )

    async def consult_answer(self, clerk_id: int, answer: ConsultAnswer) -> None:
        """The consulted clerk takes the consultation up (the consoles connect) or declines."""
        done = await routing.consult_answer(
            self.db,
            answer.session_id,
            clerk_id,
            accept=answer.accept,
            actor=self._clerk_actor(clerk_id),
        )
        session = done.session
        caller = done.before.clerk_id
        assert caller is not None
        if answer.accept:
            await self._tell_consult(session, "talking", caller, clerk_id)
            return
        await self._tell_consult(session, "ended", caller, clerk_id, outcome="declined")
        await self._hold(session, on=False)
        if done.consulted is not None:
            await self._send_clerk_status(done.consulted)
        self.request_dispatch()

    async def consult_finish(self, clerk_id: int, finish: ConsultFinish) -> None:
        """The call's clerk hands the call over or takes it back; the consulted clerk leaves."""
        if finish.outcome == "hand_over":
            await self._hand_over(clerk_id, finish.session_id)
            return
        outcome = "taken_back" if finish.outcome == "take_back" else "left"
        done = await routing.consult_end(
            self.db,
            finish.session_id,
            clerk_id,
            outcome=outcome,
            actor=self._clerk_actor(clerk_id),
        )
        await self._consult_closed(done, outcome)

    async def _consult_closed(self, done: routing.Consulted, outcome: str) -> None:
        """A consultation ended without a hand-over: both consoles told, the kiosk off hold
        (when its call goes on), the consulted clerk free."""
        before = done.before
        assert before.consult_clerk_id is not None and before.clerk_id is not None
        await self._tell_consult(
            done.session, "ended", before.clerk_id, before.consult_clerk_id, outcome=outcome
        )
        if done.session.in_call:
            await self._hold(done.session, on=False)
        if done.consulted is not None:
            await self._send_clerk_status(done.consulted)
        self.request_dispatch()

    async def _hand_over(self, clerk_id: int, session_id: str) -> None:
        done = await routing.consult_hand_over(
            self.db,
            session_id,
            clerk_id,
            actor=self._clerk_actor(clerk_id),
            wrap_up_s=self.wrap_up_s,
        )
        session, taker = done.session, done.taker.clerk_id
        self._parties.pop(session.id, None)
        await self._tell_consult(session, "ended", clerk_id, taker, outcome="handed_over")
        # the new clerk's console takes the call up: the kiosk's next peer connection is theirs
        call = await self._call_accepted(session)
        to_taker = call.model_copy(
            update={
                "peer_name": await self._terminal_name(session.terminal_id),
                "attempt": done.attempt,
            }
        )
        await self.emitter.to_room(Role.CLERK, clerk_room(taker), Event.CALL_ACCEPTED, to_taker)
        told = CallTransferred(
            session_id=session.id,
            department_id=session.department_id,
            department_name=self.catalogue.department(session.department_id).names,
            clerk_name=await self._display_name(taker),
            from_name=await self._display_name(clerk_id),
            version=session.version,
        )
        await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.CALL_TRANSFERRED, told)
        await self._hold(
            session,
            on=False,
            clerk_name=await self._display_name(taker),
            attempt=done.attempt,
        )
        if done.clerk is not None:
            await self._send_clerk_status(done.clerk)
        await self._send_clerk_status(done.taker, call=to_taker)
        context_log(log, session.id, self._clerk_actor(clerk_id)).info(
            "handed over to clerk %d", taker
        )
        self.request_dispatch()
        self.on_queue_change()

    async def consult_signal(self, clerk_id: int, signal: ConsultSignal) -> None:
        """Relay WebRTC between the two consoles of a consultation under way."""
        session = await routing.get(self.db, signal.session_id)
        if (
            session is None
            or session.consult_state != routing.CONSULT_TALKING
            or clerk_id not in (session.clerk_id, session.consult_clerk_id)
        ):
            raise NotYourSession(
                f"There is no consultation of yours about session {signal.session_id} now"
            )
        other = session.consult_clerk_id if clerk_id == session.clerk_id else session.clerk_id
        assert other is not None
        await self.emitter.to_room(Role.CLERK, clerk_room(other), Event.CONSULT_SIGNAL, signal)

    async def _transfer_target(self, username: str) -> int:
        try:
            return (await store.find_clerk(self.db, username)).id
        except NotFound as exc:
            raise TransferRefused(
                f"There is no clerk {username!r} to transfer to; choose a signed-in clerk"
            ) from exc
