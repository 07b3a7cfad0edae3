"""What every part of the router shares: the store, the emitter, names, and the status and
call messages built from stored state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from signaling.catalogue import Catalogue
from signaling.directions import kiosk_scope
from signaling.errors import NotYourSession
from signaling.messages import (
    CallAccepted,
    ClerkState,
    ClerkStatus,
    DispositionCode,
    Event,
    IcePolicy,
    IceServer,
    Role,
    WrapUpView,
)
from signaling.rooms import Emitter, clerk_room
from storage import presence, routing, store
from storage.audit import AuditLog
from storage.db import Database
from storage.routing import ClerkSnap, SessionSnap

log = logging.getLogger(__name__)

# how long a relay trusts its cached view of who is in a call
PARTIES_TTL_S = 2.0
# the cache is swept of stale entries when it reaches this size, then twice what is left:
# a call that ended on another process is never popped here
PARTIES_PRUNE_MIN = 1024


@dataclass(frozen=True)
class Admitted:
    """A booked applicant's call as the appointments desk lets it in: its priority and the
    chain events that follow ``session.created`` (the check-in, the priority given or lost)."""

    priority: int
    events: list[tuple[str, dict[str, Any]]]


class Admissions(Protocol):
    """The appointments desk as the queue sees it (signaling/appointment_desk.py)."""

    async def admit(self, terminal_id: int, number: str, service_id: str) -> Admitted: ...

    async def queued(self, number: str, session_id: str, actor: str) -> None: ...


class Handovers(Protocol):
    """Self-service as the queue sees it (signaling/self_service/flow.py): a self-service
    service is called only as a hand-over of the kiosk's self-service session."""

    async def admit(
        self, terminal_id: int, service_id: str, handover_of: str | None
    ) -> Admitted: ...

    async def handed_over(self, handover_of: str, session_id: str, actor: str) -> None: ...


class RouterBase:
    """State and helpers shared by the router's parts; see signaling/router/__init__.py."""

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
        aging_ceiling_s: float = routing.AGING_CEILING_S,
        draining: asyncio.Event | None = None,
        ice_policy: IcePolicy = "all",
        media_recovery_s: float = 60.0,
        media_restart_s: float = 8.0,
        wrap_up_s: float = 0.0,
        wrap_up_extend_s: float = 30.0,
        wrap_up_max_s: float = 300.0,
        away_reasons: Sequence[str] = ("break", "meal", "training", "meeting"),
        transfer_reserve_s: float = 60.0,
    ) -> None:
        self.catalogue = catalogue
        self.db = db
        self.audit = AuditLog(db)
        self.emitter = emitter
        self.offer_timeout_s = offer_timeout_s
        self.ice_servers_for = ice_servers_for
        self.ice_ttl_s = ice_ttl_s
        self.ice_policy: IcePolicy = ice_policy
        self.media_recovery_s = media_recovery_s
        self.media_restart_s = media_restart_s
        # after a call, the clerk's wrap-up (0: none; the server's setting defaults to 60 s)
        self.wrap_up_s = wrap_up_s
        self.wrap_up_extend_s = wrap_up_extend_s
        self.wrap_up_max_s = wrap_up_max_s
        self.away_reasons = list(away_reasons)
        # a call transferred to a named clerk is kept for them this long, then their department's
        self.transfer_reserve_s = transfer_reserve_s
        self.process_id = process_id or uuid.uuid4().hex
        self.decline_pause_s = decline_pause_s
        self.aging_ceiling_s = aging_ceiling_s
        # each service's skill rule (the catalogue is checked and fixed at start-up)
        self.skill_rules = catalogue.skill_rules()
        self.draining = draining
        # this process's sockets, by the person on them (the store knows everyone's)
        self.local_terminals: dict[int, str] = {}
        self.local_clerks: dict[int, str] = {}
        self.clerk_names: dict[int, tuple[str, str]] = {}
        self._terminal_names: dict[int, str] = {}
        self._parties: dict[str, tuple[int, int | None, float]] = {}
        self._parties_prune_at = PARTIES_PRUNE_MIN
        self._tasks: set[asyncio.Task[None]] = set()
        self._dispatch_wanted = asyncio.Event()
        self._dispatch_idle = asyncio.Event()
        self._dispatch_idle.set()
        self._dispatcher: asyncio.Task[None] | None = None
        self.on_queue_change: Callable[[], None] = lambda: None
        self.forget_place: Callable[[str], None] = lambda _session_id: None
        self.on_offer: Callable[[float], None] = lambda _deadline_s: None
        self.on_timeout: Callable[[], None] = lambda: None
        # what else holds state of other processes' making (the supervisors' monitors)
        self.on_processes_gone: Callable[[set[str]], Awaitable[None]] | None = None
        # booked applicants' calls are let in with priority by the appointments desk
        self.appointments: Admissions | None = None
        # self-service sessions handed to a clerk ("Ask a clerk"); None: no self-service
        self.handovers: Handovers | None = None
        self.offers_made = 0
        self.offers_timed_out = 0

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

    async def _call_accepted(self, session: SessionSnap) -> CallAccepted:
        service = self.catalogue.service(session.service_id)
        clerk_name = ""
        if session.clerk_id is not None:
            clerk_name = await self._display_name(session.clerk_id)
        return CallAccepted(
            session_id=session.id,
            ice_servers=[IceServer.model_validate(i) for i in session.ice_servers],
            ice_transport_policy=self.ice_policy,
            peer_name=clerk_name,
            service_name=service.names,
            department_id=session.department_id,
            language=session.language,
            care_mode=session.care_mode,
            version=session.version,
            service_id=session.service_id,
            applicant_zone=(await kiosk_scope(self.db, session.terminal_id)).zone,
        )

    async def _clerk_status(
        self,
        clerk: ClerkSnap,
        *,
        ice_servers: list[IceServer] | None = None,
        resume_token: str | None = None,
        call: CallAccepted | None = None,
    ) -> ClerkStatus:
        """The clerk's status message; ``call`` is their call's, when the caller has it."""
        if call is None and clerk.session_id and clerk.state == ClerkState.BUSY:
            session = await routing.get(self.db, clerk.session_id)
            if session is not None and session.in_call:
                call = (await self._call_accepted(session)).model_copy(
                    update={"peer_name": await self._terminal_name(session.terminal_id)}
                )
        return ClerkStatus(
            away_reason=clerk.away_reason,
            away_reasons=self.away_reasons,
            wrap_up=await self._wrap_up_view(clerk),
            state=ClerkState(clerk.state),
            display_name=await self._display_name(clerk.clerk_id),
            departments=sorted(clerk.departments),
            session_id=clerk.session_id,
            ice_servers=ice_servers,
            ice_transport_policy=self.ice_policy,
            version=clerk.version,
            resume_token=resume_token,
            call=call,
        )

    async def _wrap_up_view(self, clerk: ClerkSnap) -> WrapUpView | None:
        """The clerk's wrap-up as their console shows it, if they are in one."""
        if clerk.state != ClerkState.WRAP_UP or not clerk.wrap_up_session_id:
            return None
        session = await routing.get(self.db, clerk.wrap_up_session_id)
        if session is None or clerk.wrap_up_deadline is None:
            return None
        codes = self.catalogue.department(session.department_id).dispositions
        return WrapUpView(
            session_id=session.id,
            started_at=clerk.state_since,
            deadline=clerk.wrap_up_deadline,
            remaining_s=round((clerk.wrap_up_deadline - datetime.now(UTC)).total_seconds(), 1),
            extend_s=self.wrap_up_extend_s,
            max_s=self.wrap_up_max_s,
            codes=[DispositionCode(id=c.id, names=c.names) for c in codes],
        )

    async def _send_clerk_status(self, clerk: ClerkSnap, call: CallAccepted | None = None) -> None:
        status = await self._clerk_status(clerk, call=call)
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

    def _fresh_parties(self, session_id: str) -> tuple[int, int | None, float] | None:
        """Who is in ``session_id``'s call as read within :data:`PARTIES_TTL_S`, else None."""
        parties = self._parties.get(session_id)
        if parties is None or time.monotonic() - parties[2] > PARTIES_TTL_S:
            return None
        return parties

    def _remember_parties(self, session: SessionSnap) -> tuple[int, int | None, float]:
        """Who is in ``session``'s call, as just read, for the relays of the next moments."""
        now = time.monotonic()
        if len(self._parties) >= self._parties_prune_at:
            self._parties = {k: v for k, v in self._parties.items() if now - v[2] <= PARTIES_TTL_S}
            self._parties_prune_at = max(PARTIES_PRUNE_MIN, 2 * len(self._parties))
        parties = (session.terminal_id, session.clerk_id, now)
        self._parties[session.id] = parties
        return parties

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
