"""Queue and routing: waiting sessions are offered to available clerks of the right department.

The store is the state of record (storage/routing.py, storage/presence.py): every change is
one transaction that checks the state it expects, changes it and appends its chain event;
only after the commit is anyone told, by a message to the person's room. Any process may run
any of these methods for any session; this process's memory holds only which sockets it has.
Matching runs in its own task (``request_dispatch``), never inside another socket's handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from signaling.catalogue import Catalogue
from signaling.draining import refuse_if_draining
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
    RateSession,
    Role,
    SessionDescription,
    SessionOpened,
    SessionSnapshot,
    SessionState,
    SetStep,
)
from signaling.rooms import Emitter, clerk_room, terminal_room
from storage import presence, routing, store
from storage.audit import AuditLog
from storage.db import Database
from storage.errors import NotFound
from storage.routing import (
    PRIORITY_CARE,
    PRIORITY_RECALL,
    AlreadyActive,
    ClerkSnap,
    RoutingConflict,
    SessionSnap,
)

log = logging.getLogger(__name__)

# how long a relay trusts its cached view of who is in a call
PARTIES_TTL_S = 2.0


@dataclass(frozen=True)
class ClerkGreeting:
    """What a console that just connected is sent first."""

    clerk_id: int
    resume_token: str
    resumed: bool


class Router:
    """The routing of one process over the shared store; see the module docstring."""

    def __init__(
        self,
        catalogue: Catalogue,
        db: Database,
        emitter: Emitter,
        offer_timeout_s: float,
        ice_servers_for: Callable[[str], list[IceServer]],
        ice_ttl_s: int | None = None,
        *,
        process_id: str | None = None,
        decline_pause_s: float = 10.0,
        draining: asyncio.Event | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.db = db
        self.audit = AuditLog(db)
        self.emitter = emitter
        self.offer_timeout_s = offer_timeout_s
        self.ice_servers_for = ice_servers_for
        self.ice_ttl_s = ice_ttl_s
        self.process_id = process_id or uuid.uuid4().hex
        self.decline_pause_s = decline_pause_s
        self.draining = draining
        # this process's sockets, by the person on them (the store knows everyone's)
        self.local_terminals: dict[int, str] = {}
        self.local_clerks: dict[int, str] = {}
        self.clerk_names: dict[int, tuple[str, str]] = {}
        self._terminal_names: dict[int, str] = {}
        self._parties: dict[str, tuple[int, int | None, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatch_wanted = asyncio.Event()
        self._dispatch_idle = asyncio.Event()
        self._dispatch_idle.set()
        self._dispatcher: asyncio.Task[None] | None = None
        self.on_queue_change: Callable[[], None] = lambda: None
        self.forget_place: Callable[[str], None] = lambda _session_id: None
        self.on_offer: Callable[[float], None] = lambda _deadline_s: None
        self.on_timeout: Callable[[], None] = lambda: None
        self.offers_made = 0
        self.offers_timed_out = 0

    # ------------------------------------------------------------------ terminals

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
        return SessionSnapshot(
            session_id=session.id,
            state=SessionState(session.state),
            version=session.version,
            step=session.step,
            service_id=session.service_id,
            care_mode=session.care_mode,
            ice_servers=[IceServer.model_validate(i) for i in session.ice_servers],
            call=call,
        )

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
    ) -> SessionSnap:
        """Queue a new session for ``service_id``; one active session per terminal.

        ``offer`` is the terminal's SDP offer if it made one ahead; the accepting clerk gets it.
        """
        if self.draining is not None:
            refuse_if_draining(self.draining)
        service = self.catalogue.service(service_id)
        priority = PRIORITY_CARE if care_mode else 0
        if recall_of is not None:
            if not await routing.recall_allowed(self.db, terminal_id, recall_of):
                raise IllegalTransition(
                    f"Session {recall_of} is not a call this kiosk lost in the last 15 minutes;"
                    " ask for the service without recall_of"
                )
            priority = PRIORITY_RECALL
        actor = f"terminal:{terminal_id}"
        session_id = uuid.uuid4().hex
        ice = self.ice_servers_for(session_id)
        try:
            session = await routing.open_session(
                self.db,
                session_id=session_id,
                terminal_id=terminal_id,
                service_id=service.id,
                language=language,
                care_mode=care_mode,
                priority=priority,
                recall_of=recall_of,
                ice_servers=[i.model_dump(mode="json", by_alias=True) for i in ice],
                early_offer=offer,
                actor=actor,
            )
        except AlreadyActive as exc:
            raise IllegalTransition(exc.message) from exc
        context_log(log, session_id, actor).info(
            "queued for %s%s", service.id, " (care mode)" if care_mode else ""
        )
        opened = SessionOpened(
            session_id=session_id,
            ice_servers=ice,
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
        current = await routing.get(self.db, offer.session_id)
        if current is None or current.terminal_id != terminal_id:
            raise NotYourSession(
                f"Session {offer.session_id} is not yours; you can only signal your own call"
            )
        if current.state not in (SessionState.QUEUED, SessionState.OFFERED):
            # a call never goes back to waiting: relay it, without a write transaction for
            # every offer of every call
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
        session = await self._terminal_session(terminal_id, session_id)
        if session.state not in (SessionState.QUEUED, SessionState.OFFERED):
            raise IllegalTransition(
                f'Cannot cancel session {session_id} in state "{session.state}"; hang up instead'
            )
        await self._finish(session, "cancelled", Role.TERMINAL, f"terminal:{terminal_id}")

    # ------------------------------------------------------------------ clerks

    async def clerk_connected(
        self,
        clerk_id: int,
        username: str,
        display_name: str,
        departments: frozenset[str],
        sid: str,
        resume: str | None,
    ) -> ClerkGreeting:
        """A clerk's console connected; one coming back with its token keeps state and call."""
        self.clerk_names[clerk_id] = (username, display_name)
        attached = await presence.clerk_attach(
            self.db, clerk_id, departments, self.process_id, sid, resume
        )
        old_local = self.local_clerks.get(clerk_id)
        self.local_clerks[clerk_id] = sid
        for old in {attached.replaced_sid, old_local} - {None, sid}:
            assert old is not None
            await self.emitter.drop(Role.CLERK, old)
        if attached.clerk.session_id and not attached.resumed:
            # a console without the token is a new page: its media and screens are gone
            session = await routing.get(self.db, attached.clerk.session_id)
            if session is not None and session.state == SessionState.OFFERED:
                await self._withdraw(session, clerk_id, "declined", ClerkState.AWAY, False)
            elif session is not None and session.active:
                await self._finish(session, "clerk_left", Role.CLERK, f"clerk:{username}")
        self.request_dispatch()
        self.on_queue_change()
        return ClerkGreeting(clerk_id, attached.resume_token, attached.resumed)

    async def greet_clerk(self, sid: str, greeting: ClerkGreeting) -> None:
        """The first status of a console that just connected: ICE servers and resume token."""
        clerk = await presence.clerk(self.db, greeting.clerk_id)
        if clerk is None:
            return
        status = await self._clerk_status(
            clerk,
            ice_servers=self.ice_servers_for(f"clerk-{clerk.clerk_id}"),
            resume_token=greeting.resume_token,
        )
        await self.emitter.to_local(Role.CLERK, sid, Event.CLERK_STATUS, status)

    def on_session_resync(self, session_id: str) -> None:
        """A kiosk asked for its state again: its place is sent again too."""
        self.forget_place(session_id)
        self.on_queue_change()

    async def clerk_disconnected(self, clerk_id: int, sid: str, left: bool = False) -> None:
        """The console's socket dropped: a ringing call goes on to another clerk; the clerk's
        state and a call in progress wait for them through the grace period. A console that
        signed out (``left``) ends its call and signs the clerk off."""
        if self.local_clerks.get(clerk_id) == sid:
            del self.local_clerks[clerk_id]
        clerk = await presence.clerk_detach(self.db, clerk_id, sid)
        self.on_queue_change()  # one clerk fewer on duty: the waiting are told at once
        if clerk is None:
            return
        if left:
            await self._sign_off(clerk_id, "clerk_left", f"clerk:{self._username(clerk_id)}")
            return
        if clerk.state != ClerkState.RINGING or clerk.session_id is None:
            return
        session = await routing.get(self.db, clerk.session_id)
        if session is not None:
            await self._withdraw(session, clerk_id, "declined", ClerkState.AWAY, False)

    async def sync_clerk(self, clerk_id: int) -> None:
        """Send the clerk their full state again (they noticed a gap)."""
        clerk = await presence.clerk(self.db, clerk_id)
        if clerk is not None:
            await self._send_clerk_status(clerk)

    async def set_availability(self, clerk_id: int, available: bool) -> None:
        """The clerk toggles between available and away."""
        clerk = await self._clerk(clerk_id)
        if available:
            changed = await presence.set_clerk_state(
                self.db, clerk_id, ClerkState.AVAILABLE, (ClerkState.AWAY, ClerkState.AVAILABLE)
            )
            if changed is None:
                raise IllegalTransition(
                    f'You are "{clerk.state}"; availability can change after the call ends'
                )
        elif clerk.state == ClerkState.RINGING and clerk.session_id:
            session = await routing.get(self.db, clerk.session_id)
            if session is not None:
                await self._withdraw(session, clerk_id, "declined", ClerkState.AWAY, True)
            changed = await presence.set_clerk_state(
                self.db, clerk_id, ClerkState.AWAY, (ClerkState.AVAILABLE, ClerkState.AWAY)
            )
        else:
            changed = await presence.set_clerk_state(
                self.db,
                clerk_id,
                ClerkState.AWAY,
                (ClerkState.AVAILABLE, ClerkState.AWAY, ClerkState.BUSY),
            )
        now = changed or await presence.clerk(self.db, clerk_id)
        if now is not None:
            await self._send_clerk_status(now)
        self.request_dispatch()
        self.on_queue_change()

    async def accept(self, clerk_id: int, session_id: str) -> None:
        """The clerk takes the offered call: both sides are told to start WebRTC."""
        await self._clerk(clerk_id)
        username = self._username(clerk_id)
        try:
            taken = await routing.accept(self.db, clerk_id, session_id, f"clerk:{username}")
        except RoutingConflict as exc:
            raise NotYourSession(exc.message) from exc
        session = taken.session
        self._parties[session.id] = (session.terminal_id, clerk_id, time.monotonic())
        to_terminal = await self._call_accepted(session)
        to_clerk = to_terminal.model_copy(
            update={"peer_name": await self._terminal_name(session.terminal_id)}
        )
        await self.emitter.to_room(
            Role.TERMINAL, terminal_room(session.terminal_id), Event.CALL_ACCEPTED, to_terminal
        )
        await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.CALL_ACCEPTED, to_clerk)
        if taken.early_offer is not None and not taken.offer_already_shown:
            offer = SessionDescription(session_id=session.id, type="offer", sdp=taken.early_offer)
            await self.emitter.to_room(Role.CLERK, clerk_room(clerk_id), Event.DESCRIPTION, offer)
        await self._send_clerk_status(taken.clerk)
        self.on_queue_change()

    async def decline(self, clerk_id: int, session_id: str) -> None:
        """The clerk passes the call on; it is offered to the next clerk."""
        await self._clerk(clerk_id)
        session = await routing.get(self.db, session_id)
        if session is None or session.clerk_id != clerk_id or session.state != "offered":
            raise NotYourSession(f"Call {session_id} is not ringing for you; nothing to decline")
        await self._withdraw(session, clerk_id, "declined", ClerkState.AVAILABLE, True)

    # ------------------------------------------------------------------ in call

    async def peer_room(self, role: Role, member_id: int, session_id: str) -> tuple[Role, str]:
        """The other member's room, checking that ``member_id`` is in the live call."""
        parties = self._parties.get(session_id)
        if parties is None or time.monotonic() - parties[2] > PARTIES_TTL_S:
            session = await routing.get(self.db, session_id)
            if session is None or not session.in_call:
                self._parties.pop(session_id, None)
                raise NotYourSession(f"Session {session_id} is not in a call; nothing to send")
            parties = (session.terminal_id, session.clerk_id, time.monotonic())
            self._parties[session_id] = parties
        terminal_id, clerk_id, _ = parties
        if role == Role.TERMINAL and terminal_id == member_id and clerk_id is not None:
            return Role.CLERK, clerk_room(clerk_id)
        if role == Role.CLERK and clerk_id == member_id:
            return Role.TERMINAL, terminal_room(terminal_id)
        raise NotYourSession(
            f"Session {session_id} is not yours; you can only signal your own call"
        )

    async def media_status(self, role: Role, member_id: int, session_id: str, state: str) -> None:
        """A peer reports its WebRTC connection: connected starts the call, failed ends it."""
        await self.peer_room(role, member_id, session_id)
        actor = self._actor(role, member_id)
        if state == "failed":
            session = await routing.get(self.db, session_id)
            if session is not None:
                await self._finish(session, f"media_failed_at_{role}", role, actor, "failed")
            return
        await routing.media_connected(self.db, session_id, actor)

    async def hangup(self, role: Role, member_id: int, session_id: str, reason: str) -> None:
        """Either member ends the call."""
        await self.peer_room(role, member_id, session_id)
        session = await routing.get(self.db, session_id)
        if session is not None:
            await self._finish(session, reason, role, self._actor(role, member_id), "ended")

    async def push_prompt(self, clerk_id: int, prompt: PushPrompt) -> Prompt:
        """The clerk puts a text, checklist or instruction on the applicant's screen."""
        _, room = await self.peer_room(Role.CLERK, clerk_id, prompt.session_id)
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
        await routing.record(
            self.db,
            prompt.session_id,
            "prompt.pushed",
            self._clerk_actor(clerk_id),
            sent.model_dump(mode="json", exclude={"session_id"}),
        )
        await self.emitter.to_room(Role.TERMINAL, room, Event.PROMPT, sent)
        return sent

    async def set_step(self, clerk_id: int, step: SetStep) -> None:
        """The clerk moves the session to another of the seven steps."""
        _, room = await self.peer_room(Role.CLERK, clerk_id, step.session_id)
        moved = await routing.set_step(
            self.db, step.session_id, step.step, self._clerk_actor(clerk_id)
        )
        if moved is None:
            raise NotYourSession(f"Session {step.session_id} is not in a call; nothing to send")
        await self.emitter.to_room(Role.TERMINAL, room, Event.STEP, step)

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

    # ------------------------------------------------------------------ what the sweeper finds

    async def offer_expired(self, session_id: str, clerk_id: int) -> None:
        """An offer rang out: the clerk is parked away and the call goes to the next clerk."""
        session = await routing.get(self.db, session_id)
        if session is None:
            return
        if await self._withdraw(session, clerk_id, "timeout", ClerkState.AWAY, True):
            self.offers_timed_out += 1
            self.on_timeout()

    async def terminal_lost(self, session_id: str) -> None:
        """The kiosk did not come back within the grace period."""
        session = await routing.get(self.db, session_id)
        if session is not None and session.active:
            await self._finish(session, "terminal_lost", Role.TERMINAL, "server")

    async def clerk_lost(self, clerk_id: int) -> None:
        """The clerk did not come back within the grace period: their call is lost and they
        are signed off."""
        await self._sign_off(clerk_id, "clerk_lost", "server")
        context_log(log, None, f"clerk:{clerk_id}").info("signed off: not back within grace")

    async def _sign_off(self, clerk_id: int, reason: str, actor: str) -> None:
        clerk = await presence.clerk(self.db, clerk_id)
        if clerk is None:
            return
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
            (ClerkState.AWAY, ClerkState.AVAILABLE, ClerkState.BUSY, ClerkState.RINGING),
        )
        self.on_queue_change()

    # ------------------------------------------------------------------ matching

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
        )
        if session.early_offer is not None:
            await routing.mark_offer_shown(self.db, session.id, clerk.clerk_id)
        await self.emitter.to_room(
            Role.CLERK, clerk_room(clerk.clerk_id), Event.CALL_OFFERED, offer
        )
        await self._send_clerk_status(clerk)
        self.on_offer(self.offer_timeout_s)
        context_log(log, session.id, "server").info("offered to clerk %d", clerk.clerk_id)

    # ------------------------------------------------------------------ shutdown

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; it is cancelled and awaited on :meth:`close`."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop background work; the sessions stay in the store for another process or a
        restart to carry on within the grace period."""
        tasks = [*self._tasks]
        if self._dispatcher is not None:
            tasks.append(self._dispatcher)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._dispatch_idle.set()

    # ------------------------------------------------------------------ internals

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
        waiting = session.state in (SessionState.QUEUED, SessionState.OFFERED)
        target = "cancelled" if waiting else (state or "failed")
        done = await routing.finish(
            self.db,
            session.id,
            state=target,
            reason=reason,
            actor=actor,
            allowed_from=(session.state,),
            clerk_next=clerk_next,
        )
        if done is None:
            # it moved on meanwhile: decide again from what is stored now
            fresh = await routing.get(self.db, session.id)
            if fresh is not None and fresh.active and fresh.state != session.state:
                await self._finish(fresh, reason, by, actor, state, clerk_next)
            return
        after, clerk = done
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
        self.request_dispatch()
        self.on_queue_change()

    async def _call_accepted(self, session: SessionSnap) -> CallAccepted:
        service = self.catalogue.service(session.service_id)
        clerk_name = ""
        if session.clerk_id is not None:
            clerk_name = await self._display_name(session.clerk_id)
        return CallAccepted(
            session_id=session.id,
            ice_servers=[IceServer.model_validate(i) for i in session.ice_servers],
            peer_name=clerk_name,
            service_name=service.names,
            department_id=session.department_id,
            language=session.language,
            care_mode=session.care_mode,
            version=session.version,
        )

    async def _clerk_status(
        self,
        clerk: ClerkSnap,
        *,
        ice_servers: list[IceServer] | None = None,
        resume_token: str | None = None,
    ) -> ClerkStatus:
        call = None
        if clerk.session_id and clerk.state == ClerkState.BUSY:
            session = await routing.get(self.db, clerk.session_id)
            if session is not None and session.in_call:
                call = (await self._call_accepted(session)).model_copy(
                    update={"peer_name": await self._terminal_name(session.terminal_id)}
                )
        return ClerkStatus(
            state=ClerkState(clerk.state),
            display_name=await self._display_name(clerk.clerk_id),
            departments=sorted(clerk.departments),
            session_id=clerk.session_id,
            ice_servers=ice_servers,
            version=clerk.version,
            resume_token=resume_token,
            call=call,
        )

    async def _send_clerk_status(self, clerk: ClerkSnap) -> None:
        status = await self._clerk_status(clerk)
        await self.emitter.to_room(
            Role.CLERK, clerk_room(clerk.clerk_id), Event.CLERK_STATUS, status
        )

    async def _clerk(self, clerk_id: int) -> ClerkSnap:
        clerk = await presence.clerk(self.db, clerk_id)
        if clerk is None or not clerk.connected:
            raise NotYourSession("You are not signed in to the console; sign in again")
        return clerk

    async def _terminal_session(self, terminal_id: int, session_id: str) -> SessionSnap:
        session = await routing.get(self.db, session_id)
        if session is None or session.terminal_id != terminal_id or not session.active:
            raise NotYourSession(f"Session {session_id} is not an active session of this terminal")
        return session

    async def _terminal_name(self, terminal_id: int) -> str:
        name = self._terminal_names.get(terminal_id)
        if name is None:
            name = self._terminal_names[terminal_id] = await store.terminal_name(
                self.db, terminal_id
            )
        return name

    async def _display_name(self, clerk_id: int) -> str:
        if clerk_id not in self.clerk_names:
            clerk = await store.get_clerk(self.db, clerk_id)
            self.clerk_names[clerk_id] = (clerk.username, clerk.display_name)
        return self.clerk_names[clerk_id][1]

    def _username(self, clerk_id: int) -> str:
        names = self.clerk_names.get(clerk_id)
        return names[0] if names else str(clerk_id)

    def _clerk_actor(self, clerk_id: int) -> str:
        return f"clerk:{self._username(clerk_id)}"

    def _actor(self, role: Role, member_id: int) -> str:
        if role == Role.CLERK:
            return self._clerk_actor(member_id)
        return f"{role.value}:{member_id}"


def check_description_role(role: Role, sdp_type: str) -> None:
    """Terminals send offers, clerks send answers; anything else is refused."""
    expected = "offer" if role == Role.TERMINAL else "answer"
    if sdp_type != expected:
        raise InvalidMessage(
            f'A {role.value} sends an SDP "{expected}", not "{sdp_type}"', field="type"
        )


__all__ = ["Message", "Router", "check_description_role"]
