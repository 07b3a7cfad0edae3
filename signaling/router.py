"""Queue and routing: waiting sessions are offered to available clerks of the right department.

Each public method first checks and changes the in-memory state without awaiting (so no
other handler sees a half-done change), then awaits its effects: messages to the sockets
involved and events in the store.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from signaling.catalogue import Catalogue
from signaling.errors import IllegalTransition, InvalidMessage, NotYourSession
from signaling.logs import context_log
from signaling.messages import (
    CallAccepted,
    CallEnded,
    CallOffered,
    CallWithdrawn,
    ClerkState,
    ClerkStatus,
    Event,
    IceServer,
    Language,
    Message,
    Prompt,
    PushPrompt,
    QueueStatus,
    RateSession,
    Role,
    SessionDescription,
    SessionOpened,
    SessionState,
    SetStep,
)
from signaling.recorder import SessionRecorder
from signaling.state import LiveClerk, LiveSession

log = logging.getLogger(__name__)


class Emitter(Protocol):
    """Delivers server messages to one socket of a role."""

    async def send(self, role: Role, sid: str, event: Event, message: Message) -> None: ...

    async def drop(self, role: Role, sid: str) -> None: ...


class Router:
    """The queue of waiting sessions and the clerks who can take them."""

    def __init__(
        self,
        catalogue: Catalogue,
        recorder: SessionRecorder,
        emitter: Emitter,
        offer_timeout_s: float,
        ice_servers_for: Callable[[str], list[IceServer]],
        ice_ttl_s: int | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.ice_ttl_s = ice_ttl_s
        self.recorder = recorder
        self.emitter = emitter
        self.offer_timeout_s = offer_timeout_s
        self.ice_servers_for = ice_servers_for
        self.sessions: dict[str, LiveSession] = {}
        self.clerks: dict[int, LiveClerk] = {}
        self._queue: list[str] = []
        self._terminal_sids: dict[int, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ terminals

    async def terminal_connected(self, terminal_id: int, sid: str) -> None:
        """A terminal's socket is up; an older socket of the same terminal is dropped."""
        old = self._terminal_sids.get(terminal_id)
        self._terminal_sids[terminal_id] = sid
        if old and old != sid:
            await self.emitter.drop(Role.TERMINAL, old)

    async def terminal_disconnected(self, terminal_id: int, sid: str) -> None:
        """The terminal left: its waiting session is cancelled, its call fails."""
        if self._terminal_sids.get(terminal_id) != sid:
            return
        del self._terminal_sids[terminal_id]
        for session in list(self.sessions.values()):
            if session.terminal_id == terminal_id and session.terminal_sid == sid:
                if session.state in (SessionState.QUEUED, SessionState.OFFERED):
                    await self._cancel(session, "terminal_left", f"terminal:{terminal_id}")
                else:
                    await self._end(session, SessionState.FAILED, "terminal_left", Role.TERMINAL)

    async def request_service(
        self,
        terminal_id: int,
        terminal_name: str,
        sid: str,
        service_id: str,
        language: Language,
        care_mode: bool = False,
        offer: str | None = None,
    ) -> LiveSession:
        """Queue a new session for ``service_id``; one active session per terminal.

        ``offer`` is the terminal's SDP offer if it made one ahead; the accepting clerk gets it.
        """
        service = self.catalogue.service(service_id)
        for existing in self.sessions.values():
            if existing.terminal_id == terminal_id:
                raise IllegalTransition(
                    f'This terminal already has session {existing.id} in state "{existing.state}"; '
                    "cancel it or hang up before asking for another service"
                )
        actor = f"terminal:{terminal_id}"
        session_id = await self.recorder.create(
            terminal_id, service.id, language, actor, care_mode=care_mode
        )
        session = LiveSession(
            session_id, terminal_id, terminal_name, sid, service, language, care_mode=care_mode
        )
        session.ice_servers = self.ice_servers_for(session_id)
        if offer is not None:
            session.early_offer = SessionDescription(session_id=session_id, type="offer", sdp=offer)
        self.sessions[session_id] = session
        self._queue.append(session_id)
        self._queue.sort(key=lambda sid: self.sessions[sid].queue_key())
        context_log(log, session_id, actor).info(
            "queued for %s%s", service.id, " (care mode)" if care_mode else ""
        )
        opened = SessionOpened(
            session_id=session_id, ice_servers=session.ice_servers, ice_ttl_s=self.ice_ttl_s
        )
        await self.emitter.send(Role.TERMINAL, sid, Event.SESSION_OPENED, opened)
        await self._dispatch()
        return session

    def terminal_sid(self, terminal_id: int) -> str | None:
        """The socket of a connected terminal, or None; for messages outside a call."""
        return self._terminal_sids.get(terminal_id)

    async def hold_early_offer(self, terminal_id: int, offer: SessionDescription) -> bool:
        """Keep the offer a waiting terminal made for its own session; False when the session
        is already in a call (then the offer is relayed as usual).

        A clerk the call is ringing for gets it at once, to build the answer while it rings.
        """
        session = self.sessions.get(offer.session_id)
        if session is None or session.terminal_id != terminal_id:
            raise NotYourSession(
                f"Session {offer.session_id} is not yours; you can only signal your own call"
            )
        if session.state not in (SessionState.QUEUED, SessionState.OFFERED):
            return False
        session.early_offer = offer
        clerk = self.clerks.get(session.clerk_id) if session.clerk_id is not None else None
        if session.state == SessionState.OFFERED and clerk is not None and clerk.sid:
            session.offer_shown_to = clerk.id
            await self.emitter.send(Role.CLERK, clerk.sid, Event.DESCRIPTION, offer)
        return True

    async def cancel(self, terminal_id: int, session_id: str) -> None:
        """The applicant stops waiting."""
        session = self._terminal_session(terminal_id, session_id)
        if session.state not in (SessionState.QUEUED, SessionState.OFFERED):
            raise IllegalTransition(
                f'Cannot cancel session {session_id} in state "{session.state}"; hang up instead'
            )
        await self._cancel(session, "cancelled", f"terminal:{terminal_id}")

    # ------------------------------------------------------------------ clerks

    async def clerk_connected(self, clerk: LiveClerk, sid: str) -> LiveClerk:
        """A clerk's console connected; a second console takes over from the first."""
        live = self.clerks.get(clerk.id)
        if live is None:
            live = self.clerks[clerk.id] = clerk
        old_sid = live.sid
        live.sid = sid
        if old_sid is not None and old_sid != sid:
            await self._clerk_gone(live)
            await self.emitter.drop(Role.CLERK, old_sid)
        if live.state == ClerkState.OFFLINE:
            live.set_state(ClerkState.AWAY)
        await self._send_clerk_status(live, self.ice_servers_for(f"clerk-{live.id}"))
        return live

    async def clerk_disconnected(self, clerk_id: int, sid: str) -> None:
        """The console closed: a ringing call goes back to the queue, a call in progress fails."""
        live = self.clerks.get(clerk_id)
        if live is None or live.sid != sid:
            return
        live.sid = None
        await self._clerk_gone(live)
        live.set_state(ClerkState.OFFLINE)

    async def set_availability(self, clerk_id: int, available: bool) -> None:
        """The clerk toggles between available and away."""
        live = self._clerk(clerk_id)
        if available:
            if live.state == ClerkState.AWAY:
                live.set_state(ClerkState.AVAILABLE)
            elif live.state != ClerkState.AVAILABLE:
                raise IllegalTransition(
                    f'You are "{live.state}"; availability can change after the call ends'
                )
        elif live.state == ClerkState.RINGING and live.session_id:
            await self._requeue(self.sessions[live.session_id], live, "declined", ClerkState.AWAY)
        else:
            live.set_state(ClerkState.AWAY)
        await self._send_clerk_status(live)
        await self._dispatch()

    async def accept(self, clerk_id: int, session_id: str) -> None:
        """The clerk takes the offered call: both sides are told to start WebRTC."""
        live = self._clerk(clerk_id)
        session = self.sessions.get(session_id)
        if session is None or session.clerk_id != clerk_id or session.state != SessionState.OFFERED:
            raise NotYourSession(
                f"Call {session_id} is no longer offered to you (cancelled, timed out or taken)"
            )
        self._cancel_timer(session_id)
        session.set_state(SessionState.CONNECTING)
        session.step = 2  # step 2 of 7: the video link with the clerk
        live.set_state(ClerkState.BUSY)
        actor = f"clerk:{live.username}"
        waited = round(session.waited_s(), 3)
        ice = session.ice_servers
        dept = session.service.department_id
        to_terminal = CallAccepted(
            session_id=session.id,
            ice_servers=ice,
            peer_name=live.display_name,
            service_name=session.service.names,
            department_id=dept,
            language=session.language,
            care_mode=session.care_mode,
        )
        to_clerk = to_terminal.model_copy(update={"peer_name": session.terminal_name})
        # Media setup starts on these two messages: send them before anything is written.
        await self.emitter.send(
            Role.TERMINAL, session.terminal_sid, Event.CALL_ACCEPTED, to_terminal
        )
        if live.sid:
            await self.emitter.send(Role.CLERK, live.sid, Event.CALL_ACCEPTED, to_clerk)
            offer, session.early_offer = session.early_offer, None
            if offer is not None and session.offer_shown_to != clerk_id:
                await self.emitter.send(Role.CLERK, live.sid, Event.DESCRIPTION, offer)
        await self._send_clerk_status(live)
        await self.recorder.record(
            session.id,
            "call.accepted",
            actor,
            {"clerk_id": clerk_id, "waited_s": waited},
            state=session.state.value,
            clerk_id=clerk_id,
            answered_at=True,
        )
        await self._send_queue_status()

    async def decline(self, clerk_id: int, session_id: str) -> None:
        """The clerk passes the call on; it is offered to the next clerk."""
        live = self._clerk(clerk_id)
        session = self.sessions.get(session_id)
        if session is None or session.clerk_id != clerk_id or session.state != SessionState.OFFERED:
            raise NotYourSession(f"Call {session_id} is not ringing for you; nothing to decline")
        await self._requeue(session, live, "declined", ClerkState.AVAILABLE)
        await self._send_clerk_status(live)
        await self._dispatch()

    # ------------------------------------------------------------------ in call

    def peer_sid(self, role: Role, member_id: int, session_id: str) -> str:
        """The other member's socket, checking that ``member_id`` is in the live call."""
        session = self.sessions.get(session_id)
        in_call = (SessionState.CONNECTING, SessionState.IN_CALL)
        if session is None or session.state not in in_call:
            raise NotYourSession(f"Session {session_id} is not in a call; nothing to send")
        if role == Role.TERMINAL and session.terminal_id == member_id:
            clerk = self.clerks.get(session.clerk_id or -1)
            if clerk and clerk.sid:
                return clerk.sid
        elif role == Role.CLERK and session.clerk_id == member_id:
            return session.terminal_sid
        raise NotYourSession(
            f"Session {session_id} is not yours; you can only signal your own call"
        )

    async def media_status(self, role: Role, member_id: int, session_id: str, state: str) -> None:
        """A peer reports its WebRTC connection: connected starts the call, failed ends it."""
        self.peer_sid(role, member_id, session_id)
        session = self.sessions[session_id]
        actor = self._actor(role, member_id)
        if state == "failed":
            await self._end(session, SessionState.FAILED, f"media_failed_at_{role}", role)
            return
        session.media_connected.add(role.value)
        if session.state == SessionState.CONNECTING:
            session.set_state(SessionState.IN_CALL)
            await self.recorder.record(
                session.id, "media.connected", actor, {}, state="in_call", connected_at=True
            )
        else:
            await self.recorder.record(session.id, "media.connected", actor, {})

    async def hangup(self, role: Role, member_id: int, session_id: str, reason: str) -> None:
        """Either member ends the call."""
        self.peer_sid(role, member_id, session_id)
        await self._end(self.sessions[session_id], SessionState.ENDED, reason, role)

    async def push_prompt(self, clerk_id: int, prompt: PushPrompt) -> Prompt:
        """The clerk puts a text, checklist or instruction on the applicant's screen."""
        terminal_sid = self.peer_sid(Role.CLERK, clerk_id, prompt.session_id)
        if prompt.kind == "checklist" and not prompt.items:
            raise InvalidMessage("A checklist needs at least one item", field="items")
        if prompt.kind == "text" and not prompt.text.strip():
            raise InvalidMessage("A text prompt needs some text", field="text")
        sent = Prompt(
            session_id=prompt.session_id,
            id=uuid.uuid4().hex[:12],
            kind=prompt.kind,
            text=prompt.text,
            items=prompt.items,
        )
        await self.emitter.send(Role.TERMINAL, terminal_sid, Event.PROMPT, sent)
        await self.recorder.record(
            prompt.session_id,
            "prompt.pushed",
            self._clerk_actor(clerk_id),
            sent.model_dump(mode="json", exclude={"session_id"}),
        )
        return sent

    async def set_step(self, clerk_id: int, step: SetStep) -> None:
        """The clerk moves the session to another of the seven steps."""
        terminal_sid = self.peer_sid(Role.CLERK, clerk_id, step.session_id)
        session = self.sessions[step.session_id]
        previous, session.step = session.step, step.step
        await self.emitter.send(Role.TERMINAL, terminal_sid, Event.STEP, step)
        await self.recorder.record(
            step.session_id,
            "step.changed",
            self._clerk_actor(clerk_id),
            {"from": previous, "to": step.step},
        )

    async def rate(self, terminal_id: int, rating: RateSession) -> None:
        """The applicant rates an ended call of this terminal (once)."""
        if rating.session_id in self.sessions:
            raise IllegalTransition(
                f"Session {rating.session_id} is still going on; rate it after it ends"
            )
        await self.recorder.rate(
            rating.session_id, terminal_id, rating.rating, rating.comment, f"terminal:{terminal_id}"
        )

    def _clerk_actor(self, clerk_id: int) -> str:
        clerk = self.clerks.get(clerk_id)
        return f"clerk:{clerk.username}" if clerk else f"clerk:{clerk_id}"

    # ------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        """Cancel timers and background work; end live sessions as failed."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in list(self.sessions.values()):
            target = SessionState.FAILED
            if session.state in (SessionState.QUEUED, SessionState.OFFERED):
                target = SessionState.CANCELLED
            session.set_state(target)
            await self.recorder.record(
                session.id, "session.closed", "server", {"reason": "server_shutdown"},
                state=target.value, ended_at=True, end_reason="server_shutdown",
            )  # fmt: skip
        self.sessions.clear()
        await self.recorder.close()

    # ------------------------------------------------------------------ internals

    def _clerk(self, clerk_id: int) -> LiveClerk:
        live = self.clerks.get(clerk_id)
        if live is None or live.sid is None:
            raise NotYourSession("You are not signed in to the console; sign in again")
        return live

    def _terminal_session(self, terminal_id: int, session_id: str) -> LiveSession:
        session = self.sessions.get(session_id)
        if session is None or session.terminal_id != terminal_id:
            raise NotYourSession(f"Session {session_id} is not an active session of this terminal")
        return session

    @staticmethod
    def _actor(role: Role, member_id: int) -> str:
        return f"{role.value}:{member_id}"

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; it is cancelled and awaited on :meth:`close`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_timer(self, session_id: str) -> None:
        handle = self._timers.pop(session_id, None)
        if handle is not None:
            handle.cancel()

    def _match(self) -> list[tuple[LiveSession, LiveClerk]]:
        """Pair waiting sessions (oldest first) with available clerks (longest idle first)."""
        free = sorted(
            (c for c in self.clerks.values() if c.state == ClerkState.AVAILABLE and c.sid),
            key=lambda c: c.idle_since,
        )
        pairs: list[tuple[LiveSession, LiveClerk]] = []
        for session_id in list(self._queue):
            session = self.sessions[session_id]
            dept = session.service.department_id
            for clerk in free:
                if dept in clerk.departments and clerk.id not in session.declined_by:
                    free.remove(clerk)
                    self._queue.remove(session_id)
                    session.set_state(SessionState.OFFERED)
                    session.clerk_id = clerk.id
                    clerk.set_state(ClerkState.RINGING)
                    clerk.session_id = session.id
                    loop = asyncio.get_running_loop()
                    self._timers[session.id] = loop.call_later(
                        self.offer_timeout_s, self._on_offer_timer, session.id, clerk.id
                    )
                    pairs.append((session, clerk))
                    break
        return pairs

    async def _dispatch(self) -> None:
        for session, clerk in self._match():
            assert clerk.sid is not None
            offer = CallOffered(
                session_id=session.id,
                service_id=session.service.id,
                service_name=session.service.names,
                department_id=session.service.department_id,
                language=session.language,
                terminal_name=session.terminal_name,
                waited_s=round(session.waited_s(), 3),
                expires_in_s=self.offer_timeout_s,
                care_mode=session.care_mode,
                offer=session.early_offer.sdp if session.early_offer else None,
                ice_servers=session.ice_servers,
            )
            session.offer_shown_to = clerk.id if session.early_offer else None
            await self.emitter.send(Role.CLERK, clerk.sid, Event.CALL_OFFERED, offer)
            await self._send_clerk_status(clerk)
            await self.recorder.record(
                session.id, "call.offered", "server", {"clerk_id": clerk.id},
                state="offered", offered_at=True,
            )  # fmt: skip
        await self._send_queue_status()

    def _on_offer_timer(self, session_id: str, clerk_id: int) -> None:
        self.spawn(self._offer_expired(session_id, clerk_id))

    async def _offer_expired(self, session_id: str, clerk_id: int) -> None:
        self._timers.pop(session_id, None)
        session = self.sessions.get(session_id)
        live = self.clerks.get(clerk_id)
        if session is None or live is None or session.clerk_id != clerk_id:
            return
        if session.state != SessionState.OFFERED:
            return
        await self._requeue(session, live, "timeout", ClerkState.AWAY)
        await self._send_clerk_status(live)
        await self._dispatch()

    async def _requeue(
        self,
        session: LiveSession,
        clerk: LiveClerk,
        reason: str,
        clerk_next: ClerkState,
    ) -> None:
        """Take an offer back from ``clerk`` and put the session at its old place in line."""
        self._cancel_timer(session.id)
        session.set_state(SessionState.QUEUED)
        session.clerk_id = None
        session.offer_shown_to = None
        session.declined_by.add(clerk.id)
        clerk.set_state(clerk_next)
        clerk.session_id = None
        self._queue.append(session.id)
        self._queue.sort(key=lambda sid: self.sessions[sid].queue_key())
        if clerk.sid:
            withdrawn = CallWithdrawn(session_id=session.id, reason=reason)
            await self.emitter.send(Role.CLERK, clerk.sid, Event.CALL_WITHDRAWN, withdrawn)
        await self.recorder.record(
            session.id, f"call.{reason}", f"clerk:{clerk.username}", {"clerk_id": clerk.id},
            state="queued",
        )  # fmt: skip

    async def _cancel(self, session: LiveSession, reason: str, actor: str) -> None:
        clerk = self.clerks.get(session.clerk_id or -1)
        self._cancel_timer(session.id)
        session.set_state(SessionState.CANCELLED)
        self.sessions.pop(session.id, None)
        if session.id in self._queue:
            self._queue.remove(session.id)
        if clerk is not None and clerk.session_id == session.id:
            clerk.session_id = None
            clerk.set_state(ClerkState.AVAILABLE)
            if clerk.sid:
                withdrawn = CallWithdrawn(session_id=session.id, reason=reason)
                await self.emitter.send(Role.CLERK, clerk.sid, Event.CALL_WITHDRAWN, withdrawn)
                await self._send_clerk_status(clerk)
        if reason != "terminal_left":
            ended = CallEnded(
                session_id=session.id, state=session.state, reason=reason, by=Role.TERMINAL
            )
            await self.emitter.send(Role.TERMINAL, session.terminal_sid, Event.CALL_ENDED, ended)
        await self.recorder.record(
            session.id, "session.cancelled", actor, {"reason": reason},
            state="cancelled", ended_at=True, end_reason=reason,
        )  # fmt: skip
        await self._dispatch()

    async def _end(self, session: LiveSession, state: SessionState, reason: str, by: Role) -> None:
        """Finish a call (hung up, failed, or a member left) and free the clerk."""
        if not session.active:
            return
        session.set_state(state)
        self.sessions.pop(session.id, None)
        clerk = self.clerks.get(session.clerk_id or -1)
        ended = CallEnded(session_id=session.id, state=state, reason=reason, by=by)
        await self.emitter.send(Role.TERMINAL, session.terminal_sid, Event.CALL_ENDED, ended)
        actor = "server"
        if clerk is not None:
            if by == Role.CLERK:
                actor = f"clerk:{clerk.username}"
            if clerk.session_id == session.id:
                clerk.session_id = None
                if clerk.state == ClerkState.BUSY:
                    clerk.set_state(ClerkState.AVAILABLE)
            if clerk.sid:
                await self.emitter.send(Role.CLERK, clerk.sid, Event.CALL_ENDED, ended)
                await self._send_clerk_status(clerk)
        if by == Role.TERMINAL:
            actor = f"terminal:{session.terminal_id}"
        await self.recorder.record(
            session.id, f"session.{state.value}", actor, {"reason": reason},
            state=state.value, ended_at=True, end_reason=reason,
        )  # fmt: skip
        await self._dispatch()

    async def _clerk_gone(self, live: LiveClerk) -> None:
        """The clerk's socket is gone: hand back a ringing call, fail a call in progress."""
        session = self.sessions.get(live.session_id or "")
        if session is None:
            return
        if session.state == SessionState.OFFERED:
            await self._requeue(session, live, "declined", ClerkState.AWAY)
            session.declined_by.discard(live.id)
            await self._dispatch()
        elif session.active:
            await self._end(session, SessionState.FAILED, "clerk_left", Role.CLERK)

    async def _send_clerk_status(
        self, live: LiveClerk, ice_servers: list[IceServer] | None = None
    ) -> None:
        if live.sid is None:
            return
        status = ClerkStatus(
            state=live.state,
            display_name=live.display_name,
            departments=sorted(live.departments),
            session_id=live.session_id,
            ice_servers=ice_servers,
        )
        await self.emitter.send(Role.CLERK, live.sid, Event.CLERK_STATUS, status)

    def estimated_wait_s(self, session: LiveSession, position: int) -> int | None:
        """A rough wait: the service's typical length times the people ahead, per clerk on duty."""
        dept = session.service.department_id
        on_duty = sum(
            1
            for c in self.clerks.values()
            if dept in c.departments and c.state != ClerkState.OFFLINE
        )
        if on_duty == 0:
            return None
        return int((position - 1) * session.service.typical_minutes * 60 / on_duty)

    async def _send_queue_status(self) -> None:
        """Tell every waiting terminal its place among those waiting for the same department."""
        ahead: dict[str, int] = {}
        for session_id in self._queue:
            session = self.sessions[session_id]
            dept = session.service.department_id
            ahead[dept] = ahead.get(dept, 0) + 1
            position = ahead[dept]
            status = QueueStatus(
                session_id=session.id,
                service_id=session.service.id,
                position=position,
                state=session.state,
                estimated_wait_s=self.estimated_wait_s(session, position),
            )
            await self.emitter.send(Role.TERMINAL, session.terminal_sid, Event.QUEUE_STATUS, status)
        for session in self.sessions.values():
            if session.state == SessionState.OFFERED:
                status = QueueStatus(
                    session_id=session.id,
                    service_id=session.service.id,
                    position=0,
                    state=session.state,
                    estimated_wait_s=0,
                )
                await self.emitter.send(
                    Role.TERMINAL, session.terminal_sid, Event.QUEUE_STATUS, status
                )


def check_description_role(role: Role, sdp_type: str) -> None:
    """Terminals send offers, clerks send answers; anything else is refused."""
    expected = "offer" if role == Role.TERMINAL else "answer"
    if sdp_type != expected:
        raise InvalidMessage(
            f'A {role.value} sends an SDP "{expected}", not "{sdp_type}"', field="type"
        )
