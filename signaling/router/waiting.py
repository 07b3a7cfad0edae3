"""The kiosk's side of the queue: connecting, asking for a service, waiting, cancelling, rating."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from signaling.directions import kiosk_scope, served_service
from signaling.draining import refuse_if_draining
from signaling.errors import IllegalTransition, NotYourSession
from signaling.logs import context_log
from signaling.messages import (
    Event,
    IceServer,
    Language,
    RateSession,
    Role,
    SessionDescription,
    SessionOpened,
    SessionSnapshot,
    SessionState,
)
from signaling.rooms import clerk_room, terminal_room
from signaling.router.media import Media
from signaling.supervision_notice import notice_of
from storage import media_breaks, presence, routing, store
from storage.errors import NotFound
from storage.routing import PRIORITY_CARE, PRIORITY_RECALL, AlreadyActive, SessionSnap

log = logging.getLogger(__name__)


class Waiting(Media):
    """What a kiosk does with the queue."""

    async def terminal_connected(
        self, terminal_id: int, terminal_name: str, sid: str, resume: str | None
    ) -> SessionSnapshot:
        """A kiosk's socket is up: it takes up its session if it shows its resume token."""
        attached = await presence.terminal_attach(
            self.db, terminal_id, self.process_id, sid, resume
        )
        old_local = self.local_terminals.get(terminal_id)
        self.local_terminals[terminal_id] = sid
        self._terminal_names[terminal_id] = terminal_name
        if attached.replaced_sid and attached.replaced_sid != sid:
            await self.emitter.drop(Role.TERMINAL, attached.replaced_sid)
        elif old_local and old_local != sid:
            await self.emitter.drop(Role.TERMINAL, old_local)
        actor = f"terminal:{terminal_id}"
        session = attached.session
        if session is not None and not attached.resumed:
            # a kiosk without the token restarted: its peer and screens are gone
            await self._finish(session, "terminal_restarted", Role.TERMINAL, actor)
            session = None
        if session is not None:
            context_log(log, session.id, actor).info("resumed in state %s", session.state)
            self.on_session_resync(session.id)
            if session.in_call:
                # its socket was down: if the media broke meanwhile, its link is the one
                await media_breaks.note_offline(self.db, session.id, "terminal")
        snapshot = await self.snapshot(terminal_id, session)
        return snapshot.model_copy(
            update={"resume_token": attached.resume_token, "resumed": attached.resumed}
        )

    async def snapshot(
        self, terminal_id: int, session: SessionSnap | None = None
    ) -> SessionSnapshot:
        """The kiosk's state as stored: its active session, the call if it is in one."""
        if session is None:
            session = await routing.active_of_terminal(self.db, terminal_id)
        if session is None:
            return SessionSnapshot()
        call = await self._call_accepted(session) if session.in_call else None
        media = await self.media_view(session.id) if session.in_call else None
        supervision = (
            await notice_of(self.db, self.catalogue, session.id, session.department_id)
            if session.in_call
            else None
        )
        return SessionSnapshot(
            session_id=session.id,
            state=SessionState(session.state),
            version=session.version,
            step=session.step,
            service_id=session.service_id,
            care_mode=session.care_mode,
            ice_servers=[IceServer.model_validate(i) for i in session.ice_servers],
            ice_transport_policy=self.ice_policy,
            call=call,
            media=media,
            supervision=supervision if supervision and supervision.state != "none" else None,
        )

    async def resync_terminals(self) -> None:
        """Every kiosk connected here gets its state again (a snapshot), from one read of the
        active sessions: a message about it may have died with another process."""
        sessions = {s.terminal_id: s for s in await routing.active_sessions(self.db)}
        for terminal_id, sid in list(self.local_terminals.items()):
            session = sessions.get(terminal_id)
            snapshot = await self.snapshot(terminal_id, session) if session else SessionSnapshot()
            await self.emitter.to_local(Role.TERMINAL, sid, Event.SNAPSHOT, snapshot)

    async def terminal_disconnected(self, terminal_id: int, sid: str, left: bool = False) -> None:
        """The kiosk's socket dropped: its session waits for it through the grace period;
        a kiosk that said goodbye (``left``) takes its session with it."""
        if self.local_terminals.get(terminal_id) == sid:
            del self.local_terminals[terminal_id]
        detached = await presence.terminal_detach(self.db, terminal_id, sid)
        if not (left and detached):
            return
        session = await routing.active_of_terminal(self.db, terminal_id)
        if session is not None:
            await self._finish(session, "terminal_left", Role.TERMINAL, f"terminal:{terminal_id}")

    async def request_service(
        self,
        terminal_id: int,
        terminal_name: str,
        sid: str,
        service_id: str,
        language: Language,
        care_mode: bool = False,
        offer: str | None = None,
        recall_of: str | None = None,
        appointment: str | None = None,
        handover_of: str | None = None,
    ) -> SessionSnap:
        """Queue a new session for ``service_id``; one active session per terminal.

        ``offer`` is the terminal's SDP offer if it made one ahead; the accepting clerk gets it.
        ``appointment``: the booking checked in at this kiosk (its priority, if kept).
        """
        if self.draining is not None:
            refuse_if_draining(self.draining)
        # a kiosk asks only for what its place serves (a mainland kiosk: Hong Kong's and
        # Macau's services; see signaling/directions.py)
        scope = await kiosk_scope(self.db, terminal_id)
        service = served_service(self.catalogue, scope, service_id)
        priority = PRIORITY_CARE if care_mode else 0
        if recall_of is not None:
            if not await routing.recall_allowed(self.db, terminal_id, recall_of):
                raise IllegalTransition(
                    f"Session {recall_of} is not a call this kiosk lost in the last 15 minutes;"
                    " ask for the service without recall_of"
                )
            priority = PRIORITY_RECALL
        actor = f"terminal:{terminal_id}"
        booked_events: list[tuple[str, dict[str, Any]]] = []
        if appointment is not None:
            if self.appointments is None:
                raise IllegalTransition("This server takes no appointments; ask as a walk-in")
            admitted = await self.appointments.admit(terminal_id, appointment, service.id)
            priority, booked_events = max(priority, admitted.priority), admitted.events
        if self.handovers is not None:
            # a self-service service is called only from its session ("Ask a clerk"), whose
            # verified identity is carried into the call's chain
            booked_events += (
                await self.handovers.admit(terminal_id, service.id, handover_of)
            ).events
        elif handover_of is not None or service.self_service is not None:
            raise IllegalTransition(
                f"{service.id} is self-service, which this server does not offer"
            )
        session_id = uuid.uuid4().hex
        ice = self.ice_servers_for(session_id)
        try:
            session = await routing.open_session(
                self.db,
                session_id=session_id,
                terminal_id=terminal_id,
                service_id=service.id,
                department_id=service.department_id,
                language=language,
                care_mode=care_mode,
                priority=priority,
                recall_of=recall_of,
                ice_servers=[i.model_dump(mode="json", by_alias=True) for i in ice],
                early_offer=offer,
                actor=actor,
                aging_ceiling_s=self.aging_ceiling_s,
                events=booked_events,
            )
        except AlreadyActive as exc:
            raise IllegalTransition(exc.message) from exc
        if appointment is not None and self.appointments is not None:
            await self.appointments.queued(appointment, session_id, actor)
        if handover_of is not None and self.handovers is not None:
            await self.handovers.handed_over(handover_of, session_id, actor)
        context_log(log, session_id, actor).info(
            "queued for %s%s", service.id, " (care mode)" if care_mode else ""
        )
        opened = SessionOpened(
            session_id=session_id,
            ice_servers=ice,
            ice_transport_policy=self.ice_policy,
            ice_ttl_s=self.ice_ttl_s,
            version=session.version,
            priority=priority,
        )
        await self.emitter.to_room(
            Role.TERMINAL, terminal_room(terminal_id), Event.SESSION_OPENED, opened
        )
        self.request_dispatch()
        return session

    async def hold_early_offer(self, terminal_id: int, offer: SessionDescription) -> bool:
        """Keep the offer a waiting terminal made for its own session; False when the session
        is already in a call (then the offer is relayed as usual).

        A clerk the call is ringing for gets it at once, to build the answer while it rings.
        """
        parties = self._fresh_parties(offer.session_id)
        if (
            parties is not None
            and parties[0] == terminal_id
            and parties[1] is not None
            and offer.attempt == 0
        ):
            return False  # this process saw the call start a moment ago: relay, no read
        # read: a later peer connection (attempt > 0) may be for the clerk a warm transfer
        # handed the call to a moment ago, on another process (rare: no cost to speak of)
        current = await routing.get(self.db, offer.session_id)
        if current is None or current.terminal_id != terminal_id:
            raise NotYourSession(
                f"Session {offer.session_id} is not yours; you can only signal your own call"
            )
        if current.state not in (SessionState.QUEUED, SessionState.OFFERED):
            # a call in progress: relay it, without a write transaction for every offer of
            # every call (nor a second read to find the clerk)
            if current.in_call:
                self._remember_parties(current)
            return False
        held = await routing.hold_early_offer(self.db, offer.session_id, terminal_id, offer.sdp)
        if held is None:
            return False
        if held.state == SessionState.OFFERED and held.clerk_id is not None:
            await self.emitter.to_room(
                Role.CLERK, clerk_room(held.clerk_id), Event.DESCRIPTION, offer
            )
        return True

    async def cancel(self, terminal_id: int, session_id: str) -> None:
        """The applicant stops waiting."""
        actor = f"terminal:{terminal_id}"
        if await self._end(
            session_id,
            "cancelled",
            Role.TERMINAL,
            actor,
            "cancelled",
            allowed_from=routing.WAITING_STATES,
            terminal_id=terminal_id,
        ):
            return
        # refused: say why, from what is stored
        session = await self._terminal_session(terminal_id, session_id)
        raise IllegalTransition(
            f'Cannot cancel session {session_id} in state "{session.state}"; hang up instead'
        )

    async def callback_left(self, done: routing.Finished, actor: str) -> None:
        """The applicant left a phone number instead of waiting (the store ended the session
        with the callback task): tell the kiosk, and the queue behind it moves up."""
        await self._tell_ended(done, "callback", Role.TERMINAL, actor)

    def on_session_resync(self, session_id: str) -> None:
        """A kiosk asked for its state again: its place is sent again too."""
        self.forget_place(session_id)
        self.on_queue_change()

    async def terminal_lost(self, session_id: str) -> None:
        """The kiosk did not come back within the grace period."""
        session = await routing.get(self.db, session_id)
        if session is not None and session.active:
            await self._finish(session, "terminal_lost", Role.TERMINAL, "server")

    async def rate(self, terminal_id: int, rating: RateSession) -> None:
        """The applicant rates an ended call of this terminal (once)."""
        actor = f"terminal:{terminal_id}"
        try:
            row = await store.get_session(self.db, rating.session_id)
        except NotFound:
            row = None
        if row is None or row.terminal_id != terminal_id:
            raise NotYourSession(f"Session {rating.session_id} is not a call of this terminal")
        if row.state in routing.ACTIVE_STATES:
            raise IllegalTransition(
                f"Session {rating.session_id} is still going on; rate it after it ends"
            )
        if row.answered_at is None:
            raise IllegalTransition(
                f"Session {rating.session_id} never reached a clerk ({row.state});"
                " there is no call to rate"
            )
        if row.rating is not None:
            raise IllegalTransition(f"Session {rating.session_id} has already been rated")
        await store.update_session(
            self.db, rating.session_id, rating=rating.rating, rating_comment=rating.comment
        )
        await self.audit.append(
            rating.session_id,
            "session.rated",
            actor,
            {"rating": rating.rating, "comment": rating.comment},
        )
