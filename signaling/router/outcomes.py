"""How an offer is withdrawn and a session ends: one stored transition, then both sides told."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection

from signaling.logs import context_log
from signaling.messages import (
    CallbacksChanged,
    CallEnded,
    CallWithdrawn,
    ClerkState,
    Consult,
    Event,
    Hold,
    IceServer,
    Role,
    SessionState,
)
from signaling.rooms import clerk_room, terminal_room
from signaling.router.matching import Matching
from storage import callbacks, presence, routing
from storage.routing import SessionSnap

log = logging.getLogger(__name__)


class Outcomes(Matching):
    """Withdrawing an offer, ending a session, signing a clerk off."""

    async def _withdraw(
        self,
        session: SessionSnap,
        clerk_id: int,
        reason: str,
        clerk_next: ClerkState,
        count_decline: bool,
    ) -> bool:
        done = await routing.withdraw(
            self.db,
            session.id,
            clerk_id,
            reason=reason,
            clerk_next=clerk_next.value,
            count_decline=count_decline,
            actor=self._clerk_actor(clerk_id),
        )
        if done is None:
            return False
        _after, clerk = done
        withdrawn = CallWithdrawn(session_id=session.id, reason=reason)
        await self.emitter.to_room(
            Role.CLERK, clerk_room(clerk_id), Event.CALL_WITHDRAWN, withdrawn
        )
        if clerk is not None:
            await self._send_clerk_status(clerk)
        context_log(log, session.id, self._clerk_actor(clerk_id)).info("offer %s", reason)
        self.request_dispatch()
        self.on_queue_change()
        return True

    async def _finish(
        self,
        session: SessionSnap,
        reason: str,
        by: Role,
        actor: str,
        state: str | None = None,
        clerk_next: str | None = None,
    ) -> None:
        """End the session (cancelled while waiting, else ``state``) and tell both sides."""
        ended = await self._end(
            session.id,
            reason,
            by,
            actor,
            state or "failed",
            allowed_from=(session.state,),
            clerk_next=clerk_next,
        )
        if not ended:
            # it moved on meanwhile: decide again from what is stored now
            fresh = await routing.get(self.db, session.id)
            if fresh is not None and fresh.active and fresh.state != session.state:
                await self._finish(fresh, reason, by, actor, state, clerk_next)

    async def _end(
        self,
        session_id: str,
        reason: str,
        by: Role,
        actor: str,
        state: str,
        *,
        allowed_from: Collection[str] = routing.ACTIVE_STATES,
        clerk_next: str | None = None,
        terminal_id: int | None = None,
        clerk_id: int | None = None,
    ) -> bool:
        """End the session from whichever of ``allowed_from`` the store has it in (cancelled
        while waiting, else ``state``) and tell both sides; False if it was in none of them.
        No read first: the transaction decides on the locked row."""
        done = await routing.finish(
            self.db,
            session_id,
            state=state,
            reason=reason,
            actor=actor,
            allowed_from=allowed_from,
            clerk_next=clerk_next,
            cancel_if_waiting=True,
            terminal_id=terminal_id,
            clerk_id=clerk_id,
            wrap_up_s=self.wrap_up_s,
        )
        if done is None:
            return False
        await self._tell_ended(done, reason, by, actor)
        return True

    async def _tell_ended(self, done: routing.Finished, reason: str, by: Role, actor: str) -> None:
        after, clerk, session = done
        self._parties.pop(session.id, None)
        lost = after.state == "failed" and session.in_call
        ended = CallEnded(
            session_id=session.id,
            state=SessionState(after.state),
            reason=reason,
            by=by,
            version=after.version,
            recall=lost,
        )
        if reason not in ("terminal_restarted",):
            await self.emitter.to_room(
                Role.TERMINAL, terminal_room(session.terminal_id), Event.CALL_ENDED, ended
            )
        if session.clerk_id is not None:
            if session.state == SessionState.OFFERED:
                withdrawn = CallWithdrawn(
                    session_id=session.id,
                    reason="cancelled" if reason == "cancelled" else "terminal_left",
                )
                await self.emitter.to_room(
                    Role.CLERK, clerk_room(session.clerk_id), Event.CALL_WITHDRAWN, withdrawn
                )
            else:
                await self.emitter.to_room(
                    Role.CLERK, clerk_room(session.clerk_id), Event.CALL_ENDED, ended
                )
            if clerk is not None:
                await self._send_clerk_status(clerk)
        context_log(log, session.id, actor).info("session %s (%s)", after.state, reason)
        if session.consult_clerk_id is not None:
            # a consultation about it was under way: the consulted clerk is free again
            released = await routing.release_consult(self.db, session.id, "call_ended", actor)
            if released is not None and session.clerk_id is not None:
                await self._tell_consult(
                    released.session, "ended", session.clerk_id, session.consult_clerk_id,
                    outcome="call_ended",
                )  # fmt: skip
                if released.consulted is not None:
                    await self._send_clerk_status(released.consulted)
        if clerk is not None:
            # a clerk was freed; a waiting session that leaves frees nobody to route to
            # (a thousand kiosks cancelling at once were a thousand routing rounds for nothing)
            self.request_dispatch()
        self.on_queue_change()

    async def _tell_consult(
        self,
        session: SessionSnap,
        state: str,
        caller_id: int,
        consulted_id: int,
        outcome: str | None = None,
    ) -> None:
        """Tell both clerks of a consultation (a warm transfer) how it stands."""
        service = self.catalogue.service(session.service_id)
        base = Consult(
            session_id=session.id,
            state=state,
            role="caller",
            peer_name=await self._display_name(consulted_id),
            outcome=outcome,
            service_id=session.service_id,
            service_name=service.names,
            department_id=session.department_id,
            language=session.language,
            care_mode=session.care_mode,
            ice_servers=[IceServer.model_validate(i) for i in session.ice_servers],
            ice_transport_policy=self.ice_policy,
        )
        to_consulted = base.model_copy(
            update={"role": "consulted", "peer_name": await self._display_name(caller_id)}
        )
        await self.emitter.to_room(Role.CLERK, clerk_room(caller_id), Event.CONSULT, base)
        await self.emitter.to_room(
            Role.CLERK, clerk_room(consulted_id), Event.CONSULT, to_consulted
        )

    async def _hold(
        self,
        session: SessionSnap,
        *,
        on: bool,
        clerk_name: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """Tell the kiosk its clerk is consulting a colleague (or no longer)."""
        hold = Hold(session_id=session.id, on=on, clerk_name=clerk_name, attempt=attempt)
        await self.emitter.to_room(
            Role.TERMINAL, terminal_room(session.terminal_id), Event.HOLD, hold
        )

    async def _sign_off(self, clerk_id: int, reason: str, actor: str) -> None:
        clerk = await presence.clerk(self.db, clerk_id)
        if clerk is None:
            return
        consulted_about = await routing.consult_of(self.db, clerk_id)
        if consulted_about is not None:
            # asked about another clerk's call: that call goes on with its clerk
            with contextlib.suppress(routing.TransferRefused):
                done = await routing.consult_end(
                    self.db, consulted_about, clerk_id, outcome="left", actor=actor
                )
                before = done.before
                if before.clerk_id is not None:
                    await self._tell_consult(
                        done.session, "ended", before.clerk_id, clerk_id, outcome="left"
                    )
                if done.session.in_call:
                    await self._hold(done.session, on=False)
        if clerk.session_id:
            session = await routing.get(self.db, clerk.session_id)
            if session is not None and session.state == SessionState.OFFERED:
                await self._withdraw(session, clerk_id, "declined", ClerkState.AWAY, False)
            elif session is not None and session.active:
                await self._finish(session, reason, Role.CLERK, actor, clerk_next="away")
        await presence.set_clerk_state(
            self.db,
            clerk_id,
            ClerkState.OFFLINE,
            (
                ClerkState.AWAY,
                ClerkState.AVAILABLE,
                ClerkState.BUSY,
                ClerkState.RINGING,
                # a wrap-up not filed is left, as any other state: the call's chain shows
                # no wrap_up.filed
                ClerkState.WRAP_UP,
                ClerkState.CONSULTING,
            ),
        )
        # callbacks they had taken and not recorded go back to the line for the others
        released = await callbacks.release_taken(self.db, clerk_id, reason=reason, actor=actor)
        for department_id in sorted({task.department_id for task in released}):
            await self.nudge_callbacks(department_id)
        for task in released:
            context_log(log, task.session_id, actor).info("callback %s released", task.reference)
        self.on_queue_change()

    async def nudge_callbacks(self, department_id: str) -> None:
        """Tell every connected clerk of the department to list the callbacks again."""
        count = (await callbacks.open_by_department(self.db)).get(department_id, 0)
        news = CallbacksChanged(department_id=department_id, open=count)
        for clerk in await presence.snapshots(self.db):
            if clerk.connected and department_id in clerk.departments:
                await self.emitter.to_room(
                    Role.CLERK, clerk_room(clerk.clerk_id), Event.CALLBACKS_CHANGED, news
                )
        self.on_queue_change()  # the supervisors' and wallboard's figures count open tasks
