"""A supervisor in a live call: monitor, whisper and barge (issue 16).

Media stays peer to peer and costs the kiosk nothing: the clerk's console, which already
receives the applicant's camera, microphone and document camera, offers the supervisor a
second peer connection carrying those tracks and its own camera and microphone, and one
audio track back for the supervisor's voice. Whisper plays that voice at the console only;
barge mixes it into the audio the console sends the kiosk, so the kiosk hears (and records)
both voices without a change of its own.

The server checks who may do what and relays the two browsers' SDP and ICE:

- Only a ``supervisor`` whose departments include the call's may watch it, and only while the
  call is in progress. Each start, change and leave is an event in the session's chain and in
  the staff log.
- A monitor is named by a signed ticket (:func:`issue_ticket`) that carries its parties, so
  whichever process holds the clerk's socket can check a relay without a shared table; the
  ticket is live while the supervisor's socket holds it (:class:`Monitors`), and a supervisor
  whose socket goes away leaves every call they were in.
- The applicant is told of a barge always and of monitoring where the department's
  ``announce_monitoring`` says so (:mod:`signaling.supervision_notice`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import socketio
from sqlalchemy.exc import SQLAlchemyError

from signaling.auth import authorize_clerk
from signaling.catalogue import Catalogue
from signaling.errors import AuthError, InvalidMessage, NotYourSession
from signaling.logs import context_log
from signaling.messages import (
    NAMESPACE_CLERK,
    NAMESPACE_SUPERVISOR,
    NAMESPACE_TERMINAL,
    Event,
    IcePolicy,
    IceServer,
    Message,
    Role,
    SupervisorInfo,
)
from signaling.monitor_messages import (
    MonitorChange,
    MonitorMode,
    MonitorSignal,
    MonitorStart,
    MonitorState,
    Supervision,
)
from signaling.namespaces import Context, Member, RoleNamespace, refusal
from signaling.rooms import clerk_room, supervisor_room, terminal_room
from signaling.supervision_notice import notice_of, present_monitors
from storage import presence, routing, store
from storage.audit import AuditLog
from storage.errors import NotFound
from storage.staff_audit import StaffLog

log = logging.getLogger(__name__)

MONITOR_ROLES = frozenset({"supervisor"})

SUPERVISOR_EVENTS: dict[Event, type[Message]] = {
    Event.MONITOR_START: MonitorStart,
    Event.MONITOR_CHANGE: MonitorChange,
    Event.MONITOR_SIGNAL: MonitorSignal,
}


@dataclass(frozen=True)
class Ticket:
    """The parties a monitor ticket names."""

    text: str
    session_id: str
    supervisor_id: int
    clerk_id: int
    terminal_id: int


def _mac(key: str, body: str) -> str:
    return hmac.new(key.encode(), f"monitor|{body}".encode(), hashlib.sha256).hexdigest()[:32]


def issue_ticket(
    key: str,
    session_id: str,
    supervisor_id: int,
    clerk_id: int,
    terminal_id: int,
    nonce: str | None = None,
) -> Ticket:
    """A monitor's name, signed with the server's key: a new one, or (``nonce`` from the
    chain) the same name again."""
    nonce = nonce or secrets.token_hex(8)
    body = f"{nonce}.{session_id}.{supervisor_id}.{clerk_id}.{terminal_id}"
    return Ticket(f"{body}.{_mac(key, body)}", session_id, supervisor_id, clerk_id, terminal_id)


def read_ticket(key: str, text: str) -> Ticket:
    """The parties of a ticket this server issued; :class:`InvalidMessage` for any other."""
    body, _, mac = text.rpartition(".")
    parts = body.split(".")
    if len(parts) != 5 or not hmac.compare_digest(mac, _mac(key, body)):
        raise InvalidMessage("Unknown monitor: start monitoring the call again", field="monitor_id")
    _, session_id, supervisor_id, clerk_id, terminal_id = parts
    return Ticket(text, session_id, int(supervisor_id), int(clerk_id), int(terminal_id))


@dataclass
class Watching:
    """One monitor held by a supervisor's socket of this process."""

    ticket: Ticket
    mode: MonitorMode
    department_id: str
    username: str  # the supervisor's, for the logs
    who: SupervisorInfo  # as the clerk and the applicant are shown them
    process: str  # the server process holding the supervisor's socket


@dataclass
class Monitors:
    """The monitors of this process's supervisor sockets, and the rules around them."""

    ctx: Context
    sio: socketio.AsyncServer
    catalogue: Catalogue
    ice_servers_for: Callable[[str], list[IceServer]]
    ice_policy: IcePolicy
    by_sid: dict[str, dict[str, Watching]] = field(default_factory=dict)

    async def start(self, member: Member, sid: str, display_name: str, start: MonitorStart) -> None:
        """Open a monitor on a call in progress, if this supervisor may."""
        db = self.ctx.db()
        session = await routing.get(db, start.session_id)
        if session is None or not session.in_call or session.clerk_id is None:
            raise NotYourSession(f"Session {start.session_id} has no call in progress to monitor")
        supervisor = await store.get_clerk(db, member.id)
        if session.department_id not in supervisor.departments:
            raise AuthError(
                f"Only supervisors of department {session.department_id} may monitor this call"
            )
        ticket = issue_ticket(
            self.ctx.signing_key, session.id, member.id, session.clerk_id, session.terminal_id
        )
        who = SupervisorInfo(name=display_name, role="supervisor")
        process = self.ctx.router().process_id
        watching = Watching(ticket, start.mode, session.department_id, member.name, who, process)
        self.by_sid.setdefault(sid, {})[ticket.text] = watching
        # which process holds the supervisor: if it dies, the others end its monitors
        started = {"mode": start.mode, "name": display_name, "process": process}
        await self._record(watching, "supervision.started", started)
        state = MonitorState(
            monitor_id=ticket.text,
            session_id=session.id,
            mode=start.mode,
            ice_servers=self.ice_servers_for(f"supervisor-{member.id}"),
            ice_policy=self.ice_policy,
        )
        # before the console hears of it: its offer, relayed at once, must find the page
        # knowing the monitor (the page drops signals of a monitor it was not told of)
        await self._to_supervisor(sid, Event.MONITOR_STATE, state)
        await self._tell_clerk(watching, start.mode)
        await self._tell_kiosk(watching)

    async def change(self, sid: str, change: MonitorChange) -> None:
        """Switch mode, or leave the call (``mode`` None)."""
        watching = self.by_sid.get(sid, {}).get(change.monitor_id)
        if watching is None:
            raise InvalidMessage(
                "Unknown monitor: start monitoring the call again", field="monitor_id"
            )
        if change.mode is None:
            await self._leave(sid, watching, "left")
            return
        if change.mode == watching.mode:
            return
        before, watching.mode = watching.mode, change.mode
        await self._record(watching, "supervision.changed", {"mode": change.mode, "from": before})
        await self._tell_clerk(watching, change.mode)
        await self._tell_kiosk(watching)
        state = MonitorState(
            monitor_id=watching.ticket.text, session_id=watching.ticket.session_id, mode=change.mode
        )
        await self._to_supervisor(sid, Event.MONITOR_STATE, state)

    async def leave_all(self, sid: str) -> None:
        """The supervisor's socket is gone: they leave every call they were in."""
        for watching in list(self.by_sid.get(sid, {}).values()):
            await self._leave(sid, watching, "supervisor_gone")
        self.by_sid.pop(sid, None)

    async def watch(self, every_s: float = 2.0) -> None:
        """End the monitors of calls that are over: the supervisor's page leaves when it sees
        it, but a page in the background, or gone quiet, may not."""
        while True:
            await asyncio.sleep(every_s)
            try:
                for sid, held in list(self.by_sid.items()):
                    for watching in list(held.values()):
                        session = await routing.get(self.ctx.db(), watching.ticket.session_id)
                        # handed over to another clerk (a warm transfer): the monitor was of
                        # the first clerk's console, which has left the call
                        if (
                            session is None
                            or not session.in_call
                            or session.clerk_id != watching.ticket.clerk_id
                        ):
                            await self._leave(sid, watching, "call_ended")
            except (SQLAlchemyError, OSError):
                # the database away for a moment: the next round tries again
                log.exception("monitors: could not check their calls")

    async def clerk_back(self, sid: str, clerk_id: int) -> None:
        """A console back in its call after a reload or on another process: the monitors the
        chain has in the call are offered again (the old page's connections went with it),
        and the console shows who is listening again."""
        for watching in await self._in_call_of(clerk_id):
            message = Supervision(
                monitor_id=watching.ticket.text,
                session_id=watching.ticket.session_id,
                supervisor=watching.who,
                mode=watching.mode,
                ice_servers=self.ice_servers_for(f"clerk-{clerk_id}"),
            )
            await self.sio.emit(
                Event.SUPERVISION.value,
                message.model_dump(mode="json"),
                to=sid,
                namespace=NAMESPACE_CLERK,
            )

    async def processes_gone(self, gone: set[str]) -> None:
        """Processes that died took their supervisors' sockets with them, leaving their
        monitors open in the chain: the process holding each call's clerk ends them (the
        clerk and the applicant are told)."""
        for clerk_id in list(self.ctx.router().local_clerks):
            for watching in await self._in_call_of(clerk_id):
                if watching.process in gone:
                    await self._record(watching, "supervision.ended", {"reason": "supervisor_gone"})
                    await self._tell_clerk(watching, None)
                    await self._tell_kiosk(watching)

    async def _in_call_of(self, clerk_id: int) -> list[Watching]:
        """The monitors the chain has open in the clerk's call, their tickets made again."""
        db = self.ctx.db()
        clerk = await presence.clerk(db, clerk_id)
        if clerk is None or clerk.session_id is None:
            return []
        session = await routing.get(db, clerk.session_id)
        if session is None or not session.in_call or session.clerk_id != clerk_id:
            return []
        found = []
        for one in present_monitors(await AuditLog(db).events(session.id)):
            username = one.actor.partition(":")[2]
            try:
                supervisor = await store.find_clerk(db, username)
            except NotFound:
                continue  # an account removed since: nobody to offer to
            ticket = issue_ticket(
                self.ctx.signing_key, session.id, supervisor.id, clerk_id, session.terminal_id,
                nonce=one.monitor,
            )  # fmt: skip
            mode = cast(MonitorMode, one.mode)
            found.append(
                Watching(ticket, mode, session.department_id, username, one.who, one.process)
            )
        return found

    async def from_supervisor(self, sid: str, signal: MonitorSignal) -> None:
        """The supervisor's answer or candidate, to the clerk's console."""
        watching = self.by_sid.get(sid, {}).get(signal.monitor_id)
        if watching is None:
            raise InvalidMessage(
                "Unknown monitor: start monitoring the call again", field="monitor_id"
            )
        await self.sio.emit(
            Event.MONITOR_SIGNAL.value,
            signal.model_dump(mode="json"),
            to=clerk_room(watching.ticket.clerk_id),
            namespace=NAMESPACE_CLERK,
        )

    async def from_clerk(self, clerk_id: int, signal: MonitorSignal) -> None:
        """The console's offer or candidate, to the supervisor (whichever process holds them)."""
        ticket = read_ticket(self.ctx.signing_key, signal.monitor_id)
        if ticket.clerk_id != clerk_id:
            raise NotYourSession("This monitor is of another clerk's call")
        await self.sio.emit(
            Event.MONITOR_SIGNAL.value,
            signal.model_dump(mode="json"),
            to=supervisor_room(ticket.supervisor_id),
            namespace=NAMESPACE_SUPERVISOR,
        )

    async def _leave(self, sid: str, watching: Watching, reason: str) -> None:
        if self.by_sid.get(sid, {}).pop(watching.ticket.text, None) is None:
            return  # already left (the sweep and the page at once)
        if reason == "left":
            session = await routing.get(self.ctx.db(), watching.ticket.session_id)
            if session is None or not session.in_call:
                reason = "call_ended"  # the page left because the call it watched was over
        await self._record(watching, "supervision.ended", {"reason": reason})
        await self._tell_clerk(watching, None)
        await self._tell_kiosk(watching)
        state = MonitorState(
            monitor_id=watching.ticket.text,
            session_id=watching.ticket.session_id,
            mode=None,
            ended=reason,
        )
        await self._to_supervisor(sid, Event.MONITOR_STATE, state)

    async def _record(self, watching: Watching, kind: str, payload: dict[str, Any]) -> None:
        """In the session's chain and the staff log, both."""
        actor = f"supervisor:{watching.username}"
        # which monitor: a supervisor may watch the same call from two pages
        payload = {**payload, "monitor": watching.ticket.text.split(".", 1)[0]}
        session_id = watching.ticket.session_id
        db = self.ctx.db()
        await routing.record(db, session_id, kind, actor, payload)
        await StaffLog(db).append(actor, kind, payload, session_id)
        context_log(log, session_id, actor).info("%s %s", kind, payload)

    async def _tell_clerk(self, watching: Watching, mode: MonitorMode | None) -> None:
        ticket = watching.ticket
        message = Supervision(
            monitor_id=ticket.text,
            session_id=ticket.session_id,
            supervisor=watching.who,
            mode=mode,
            ice_servers=self.ice_servers_for(f"clerk-{ticket.clerk_id}") if mode else [],
        )
        await self.sio.emit(
            Event.SUPERVISION.value,
            message.model_dump(mode="json"),
            to=clerk_room(ticket.clerk_id),
            namespace=NAMESPACE_CLERK,
        )

    async def _tell_kiosk(self, watching: Watching) -> None:
        """What the applicant is told now, from the chain: other supervisors (on any
        process) may be in the call as well."""
        notice = await notice_of(
            self.ctx.db(), self.catalogue, watching.ticket.session_id, watching.department_id
        )
        await self.sio.emit(
            Event.SUPERVISION_NOTICE.value,
            notice.model_dump(mode="json"),
            to=terminal_room(watching.ticket.terminal_id),
            namespace=NAMESPACE_TERMINAL,
        )

    async def _to_supervisor(self, sid: str, event: Event, message: Message) -> None:
        await self.sio.emit(
            event.value, message.model_dump(mode="json"), to=sid, namespace=NAMESPACE_SUPERVISOR
        )


class SupervisorNamespace(RoleNamespace):
    """Supervisors' pages: start, change and leave monitors; relay their answer and ICE."""

    role = Role.SUPERVISOR
    events = SUPERVISOR_EVENTS

    def __init__(self, ctx: Context, monitors: Callable[[], Monitors]) -> None:
        super().__init__(NAMESPACE_SUPERVISOR, ctx)
        self.monitors = monitors
        self.names: dict[str, str] = {}
        self.handlers = {
            Event.MONITOR_START: self.on_monitor_start,
            Event.MONITOR_CHANGE: self.on_monitor_change,
            Event.MONITOR_SIGNAL: self.on_monitor_signal,
        }

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            async with self._handshake_turn(sid):
                claims = await authorize_clerk(self.ctx.db(), self.ctx.signing_key, token)
                if claims.role not in MONITOR_ROLES:
                    raise AuthError(
                        "Only supervisors may watch calls; sign in with a supervisor account"
                    )
                account = await store.get_clerk(self.ctx.db(), claims.clerk_id)
        except AuthError as exc:
            raise refusal(exc) from exc
        self.members[sid] = Member(Role.SUPERVISOR, account.id, account.username, self._bucket())
        self.names[sid] = account.display_name
        await self.enter_room(sid, supervisor_room(account.id))
        context_log(log, None, f"supervisor:{account.username}").info("connected")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        member = self.members.pop(sid, None)
        self.names.pop(sid, None)
        if member is not None:
            await self.monitors().leave_all(sid)
            context_log(log, None, f"supervisor:{member.name}").info("disconnected")

    async def on_monitor_start(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, MonitorStart)
        await self.monitors().start(member, sid, self.names.get(sid, member.name), message)

    async def on_monitor_change(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, MonitorChange)
        await self.monitors().change(sid, message)

    async def on_monitor_signal(self, member: Member, sid: str, message: Message) -> None:
        assert isinstance(message, MonitorSignal)
        await self.monitors().from_supervisor(sid, message)
