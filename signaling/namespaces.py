"""Socket.io namespaces, one per role: authentication, payload validation, rate limits.

Every incoming event is validated against its pydantic model before a handler sees it; a
refused event gets a typed ``error`` event back and the connection stays up.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import socketio
from pydantic import ValidationError

from signaling.admission import Admission
from signaling.auth import authorize_clerk
from signaling.errors import AuthError, InvalidMessage, RateLimited, ServerBusy, SignalingError
from signaling.logs import context_log
from signaling.messages import (
    NAMESPACE_CLERK,
    NAMESPACE_TERMINAL,
    TERMINAL_EVENTS,
    ConsultAnswer,
    ConsultFinish,
    ConsultSignal,
    ConsultStart,
    ErrorEvent,
    Event,
    ExtendWrapUp,
    FileWrapUp,
    Hangup,
    IceCandidate,
    MediaStatus,
    Message,
    PushPrompt,
    RateSession,
    RequestService,
    Role,
    SessionDescription,
    SessionRef,
    SessionSnapshot,
    SetAvailability,
    SetStep,
    TransferCall,
)
from signaling.monitor_messages import CONSOLE_EVENTS, MonitorSignal
from signaling.ratelimit import TokenBucket
from signaling.rooms import NAMESPACES, clerk_room, terminal_room
from signaling.router import ClerkGreeting, Router, check_description_role
from storage import store
from storage.db import Database
from storage.errors import NotFound, VcounterError

if TYPE_CHECKING:
    from signaling.monitor import Monitors

log = logging.getLogger(__name__)


@dataclass
class Member:
    """Who is on a socket: role, id in the store, name, and their event budget."""

    role: Role
    id: int
    name: str
    bucket: TokenBucket
    refused: int = field(default=0)


@dataclass(frozen=True)
class Context:
    """What namespaces need from the running app (filled in once the app has started)."""

    db: Callable[[], Database]
    router: Callable[[], Router]
    signing_key: str
    events_per_second: float
    event_burst: int
    admission: Admission
    observe_event: Callable[[str, str, float], None]


Handler = Callable[[Member, str, Any], Awaitable[None]]


# an event name is echoed back in its refusal: no further, so a frame of junk in the name
# does not come back (and queue up) twice over
MAX_SHOWN_EVENT = 64


def _shown(event: str) -> str:
    return event if len(event) <= MAX_SHOWN_EVENT else event[:MAX_SHOWN_EVENT] + "…"


def refusal(exc: SignalingError) -> socketio.exceptions.ConnectionRefusedError:
    """A refused connection whose data is the typed error, so the console can say it in the
    clerk's language (the message alone is for logs and older clients)."""
    error = ErrorEvent(code=exc.code, message=exc.message)
    return socketio.exceptions.ConnectionRefusedError(exc.message, error.model_dump(mode="json"))


class RoleNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Shared plumbing: members by sid, validation, errors as data."""

    role: Role
    events: dict[Event, type[Message]]

    def __init__(self, namespace: str, ctx: Context) -> None:
        super().__init__(namespace)
        self.ctx = ctx
        self.members: dict[str, Member] = {}
        self.handlers: dict[Event, Handler] = {}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid: str = args[0] if args else ""
        if event == "connect" and sid not in self.members:
            return await super().trigger_event(event, *args)
        if event == "disconnect" and not self.server.manager.is_connected(sid, self.namespace):
            # the server's own disconnect: a client's event named so comes from a live socket
            return await super().trigger_event(event, *args)
        member = self.members.get(sid)
        if member is None:
            return None
        payload = args[1] if len(args) > 1 else None
        try:
            if not member.bucket.take():
                member.refused += 1
                raise RateLimited(
                    f"Too many events: at most {self.ctx.events_per_second:g} per second; "
                    "slow down and retry"
                )
            message = self._validate(event, payload)
            started = time.perf_counter()
            await self.handlers[Event(event)](member, sid, message)
            self.ctx.observe_event(self.role.value, event, time.perf_counter() - started)
        except VcounterError as exc:
            await self._error(sid, exc, event)
        return None

    def _validate(self, event: str, payload: Any) -> Message:
        model = self.events.get(Event(event)) if event in Event._value2member_map_ else None
        if model is None:
            known = ", ".join(sorted(e.value for e in self.events))
            raise InvalidMessage(
                f'Unknown event "{_shown(event)}" for a {self.role.value}; known: {known}'
            )
        if not isinstance(payload, dict):
            raise InvalidMessage(f'The "{event}" payload must be a JSON object')
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or None
            raise InvalidMessage(
                f'Invalid "{event}": field "{where}": {first["msg"]}', field=where
            ) from exc

    async def _error(self, sid: str, exc: VcounterError, event: str | None) -> None:
        member = self.members.get(sid)
        role = f"{self.role.value}:{member.id if member else '?'}"
        # A flood must not also flood the log: note the first refusals, then every 100th.
        if not isinstance(exc, RateLimited) or (member and member.refused % 100 == 1):
            context_log(log, None, role).info("refused %s: %s", event, exc.message)
        error = ErrorEvent(
            code=exc.code,
            message=exc.message,
            event=_shown(event) if event is not None else None,
            field=getattr(exc, "field", None),
        )
        await self.emit(Event.ERROR.value, error.model_dump(mode="json"), to=sid)

    def _left(self, sid: str) -> bool:
        """Whether the client behind ``sid`` closed its connection (gave up waiting)."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        socket = self.server.eio.sockets.get(eio_sid) if eio_sid else None
        return socket is None or bool(socket.closed)

    @contextlib.asynccontextmanager
    async def _handshake_turn(self, sid: str) -> AsyncIterator[None]:
        """A turn at the database for this handshake (see signaling/admission.py)."""
        try:
            async with self.ctx.admission.turn():
                if self._left(sid):
                    # it gave up while waiting for its turn: no database work for nobody
                    raise socketio.exceptions.ConnectionRefusedError("the client left")
                yield
        except ServerBusy as exc:
            raise refusal(exc) from exc

    def _bucket(self) -> TokenBucket:
        return TokenBucket(self.ctx.events_per_second, self.ctx.event_burst)

    async def _relay(self, member: Member, sid: str, event: Event, message: Message) -> None:
        assert isinstance(message, SessionDescription | IceCandidate)
        role, room = await self.ctx.router().peer_room(self.role, member.id, message.session_id)
        await self.server.emit(
            event.value, message.model_dump(mode="json"), to=room, namespace=NAMESPACES[role]
        )

    async def on_description(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, SessionDescription)
        check_description_role(self.role, message.type)
        if self.role == Role.TERMINAL and await self.ctx.router().hold_early_offer(
            member.id, message
        ):
            return  # made while waiting: the clerk who accepts gets it with the call
        await self._relay(member, sid, Event.DESCRIPTION, message)

    async def on_ice_candidate(self, member: Member, sid: str, message: Message) -> None:
        await self._relay(member, sid, Event.ICE_CANDIDATE, message)

    async def on_media_status(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, MediaStatus)
        await self.ctx.router().media_status(self.role, member.id, message)

    async def on_hangup(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, Hangup)
        await self.ctx.router().hangup(self.role, member.id, message.session_id, message.reason)

    def _common_handlers(self) -> dict[Event, Handler]:
        return {
            Event.DESCRIPTION: self.on_description,
            Event.ICE_CANDIDATE: self.on_ice_candidate,
            Event.MEDIA_STATUS: self.on_media_status,
            Event.HANGUP: self.on_hangup,
        }


class TerminalNamespace(RoleNamespace):
    """Kiosks: ask for a service, wait, cancel, signal their call."""

    role = Role.TERMINAL
    events = TERMINAL_EVENTS

    def __init__(self, ctx: Context) -> None:
        super().__init__(NAMESPACE_TERMINAL, ctx)
        self.handlers = {
            **self._common_handlers(),
            Event.SYNC: self.on_sync,
            Event.REQUEST_SERVICE: self.on_request_service,
            Event.CANCEL: self.on_cancel,
            Event.RATE: self.on_rate,
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise socketio.exceptions.ConnectionRefusedError(
                "no device token; register the terminal with `vcounter terminal register`"
            )
        resume = auth.get("resume") if isinstance(auth, dict) else None
        async with self._handshake_turn(sid):
            terminal = await store.find_terminal_by_token(self.ctx.db(), token)
            if terminal is None:
                raise socketio.exceptions.ConnectionRefusedError(
                    "unknown device token; register the terminal again"
                )
            self.members[sid] = Member(Role.TERMINAL, terminal.id, terminal.name, self._bucket())
            await self.enter_room(sid, terminal_room(terminal.id))
            # awaited here, before any event of this socket: a request must not race the resume
            snapshot = await self.ctx.router().terminal_connected(
                terminal.id, terminal.name, sid, resume if isinstance(resume, str) else None
            )
        context_log(log, snapshot.session_id, f"terminal:{terminal.id}").info(
            "connected (%s)%s", terminal.name, " resumed" if snapshot.resumed else ""
        )
        # sent once the connection is accepted, so it reaches the kiosk
        self.ctx.router().spawn(self._greet(sid, snapshot))

    async def _greet(self, sid: str, snapshot: SessionSnapshot) -> None:
        if sid in self.members:
            await self.emit(Event.SNAPSHOT.value, snapshot.model_dump(mode="json"), to=sid)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        member = self.members.pop(sid, None)
        if member is not None:
            left = reason == self.server.reason.CLIENT_DISCONNECT
            context_log(log, None, f"terminal:{member.id}").info(
                "disconnected (%s)", "left" if left else reason
            )
            await self.ctx.router().terminal_disconnected(member.id, sid, left=left)

    async def on_sync(self, member: Member, sid: str, message: Message) -> None:
        snapshot = await self.ctx.router().snapshot(member.id)
        if snapshot.session_id:
            self.ctx.router().on_session_resync(snapshot.session_id)
        await self.emit(Event.SNAPSHOT.value, snapshot.model_dump(mode="json"), to=sid)

    async def on_request_service(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, RequestService)
        await self.ctx.router().request_service(
            member.id, member.name, sid, message.service_id, message.language,
            message.care_mode, message.offer, message.recall_of, message.appointment,
            message.handover_of,
        )  # fmt: skip

    async def on_cancel(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, SessionRef)
        await self.ctx.router().cancel(member.id, message.session_id)

    async def on_rate(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, RateSession)
        await self.ctx.router().rate(member.id, message)


class ClerkNamespace(RoleNamespace):
    """Clerk consoles: availability, accept/decline, signal their call (and a supervisor's
    monitor of it)."""

    role = Role.CLERK
    events = CONSOLE_EVENTS

    def __init__(self, ctx: Context, monitors: Callable[[], Monitors]) -> None:
        super().__init__(NAMESPACE_CLERK, ctx)
        self.monitors = monitors
        self.handlers = {
            **self._common_handlers(),
            Event.SYNC: self.on_sync,
            Event.SET_AVAILABILITY: self.on_set_availability,
            Event.FILE_WRAP_UP: self.on_file_wrap_up,
            Event.EXTEND_WRAP_UP: self.on_extend_wrap_up,
            Event.ACCEPT: self.on_accept,
            Event.DECLINE: self.on_decline,
            Event.PUSH_PROMPT: self.on_push_prompt,
            Event.SET_STEP: self.on_set_step,
            Event.MONITOR_SIGNAL: self.on_monitor_signal,
            Event.TRANSFER: self.on_transfer,
            Event.CONSULT_START: self.on_consult_start,
            Event.CONSULT_ANSWER: self.on_consult_answer,
            Event.CONSULT_FINISH: self.on_consult_finish,
            Event.CONSULT_SIGNAL: self.on_consult_signal,
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        resume = auth.get("resume") if isinstance(auth, dict) else None
        try:
            async with self._handshake_turn(sid):
                # checks revocation and disabled accounts too, not only the signature
                claims = await authorize_clerk(self.ctx.db(), self.ctx.signing_key, token)
                clerk = await store.get_clerk(self.ctx.db(), claims.clerk_id)
                self.members[sid] = Member(Role.CLERK, clerk.id, clerk.username, self._bucket())
                await self.enter_room(sid, clerk_room(clerk.id))
                greeting = await self.ctx.router().clerk_connected(
                    clerk.id,
                    clerk.username,
                    clerk.display_name,
                    frozenset(clerk.departments),
                    sid,
                    resume if isinstance(resume, str) else None,
                    clerk.skills or {},
                )
        except AuthError as exc:
            raise refusal(exc) from exc
        except NotFound as exc:
            raise refusal(
                AuthError("this clerk account no longer exists; ask an administrator")
            ) from exc
        context_log(log, None, f"clerk:{clerk.username}").info(
            "connected%s", " resumed" if greeting.resumed else ""
        )
        # sent once the connection is accepted, so the first status reaches the console
        self.ctx.router().spawn(self._greet(sid, greeting))

    async def _greet(self, sid: str, greeting: ClerkGreeting) -> None:
        if sid in self.members:
            await self.ctx.router().greet_clerk(sid, greeting)
            if greeting.resumed:
                # after the status: the console has its call again before its monitors
                await self.monitors().clerk_back(sid, greeting.clerk_id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        member = self.members.pop(sid, None)
        if member is not None:
            # a goodbye from the client (sign-out, a kiosk shutting down) is not a lost
            # connection: nothing waits for it to come back
            left = reason == self.server.reason.CLIENT_DISCONNECT
            context_log(log, None, f"clerk:{member.name}").info(
                "disconnected (%s)", "left" if left else reason
            )
            await self.ctx.router().clerk_disconnected(member.id, sid, left=left)

    async def on_sync(self, member: Member, sid: str, message: Message) -> None:
        await self.ctx.router().sync_clerk(member.id)

    async def on_set_availability(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, SetAvailability)
        await self.ctx.router().set_availability(member.id, message.available, message.reason)

    async def on_file_wrap_up(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, FileWrapUp)
        await self.ctx.router().file_wrap_up(member.id, message)

    async def on_extend_wrap_up(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, ExtendWrapUp)
        await self.ctx.router().extend_wrap_up(member.id, message)

    async def on_accept(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, SessionRef)
        await self.ctx.router().accept(member.id, message.session_id)

    async def on_decline(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, SessionRef)
        await self.ctx.router().decline(member.id, message.session_id)

    async def on_push_prompt(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, PushPrompt)
        await self.ctx.router().push_prompt(member.id, message)

    async def on_set_step(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, SetStep)
        await self.ctx.router().set_step(member.id, message)

    async def on_transfer(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, TransferCall)
        await self.ctx.router().transfer(member.id, message)

    async def on_consult_start(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, ConsultStart)
        await self.ctx.router().consult_start(member.id, message)

    async def on_consult_answer(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, ConsultAnswer)
        await self.ctx.router().consult_answer(member.id, message)

    async def on_consult_finish(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, ConsultFinish)
        await self.ctx.router().consult_finish(member.id, message)

    async def on_consult_signal(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, ConsultSignal)
        await self.ctx.router().consult_signal(member.id, message)

    async def on_monitor_signal(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, MonitorSignal)
        await self.monitors().from_clerk(member.id, message)
