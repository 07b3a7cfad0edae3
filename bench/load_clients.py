"""Simulated kiosks and clerks for ``bench.load``: signalling only, the real wire protocol.

A kiosk asks for a service, waits, and on ``call_accepted`` sends a (fake) SDP offer; the
clerk answers it, both report media connected, the kiosk holds the call a few seconds and
hangs up, then asks again. A clerk makes itself available, and for each ``call_offered``
accepts after a random delay, or declines, or lets it ring out.

What they see goes into one :class:`Tally` per run, from the clients' point of view: a
double assignment is what a clerk or a kiosk would notice, not what the server believes.
Every wait has a deadline: a run never hangs on a message that does not come.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import engineio
import socketio
from engineio import base_client, packet
from socketio import packet as sio_packet

from signaling.messages import NAMESPACE_CLERK, NAMESPACE_TERMINAL

# Passes the wire contract's SDP check (starts "v=0"); the server never parses SDP.
FAKE_SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=load\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
)
CONNECT_S = 30.0
_IN_LINE = ("requested", "waiting")


class InLineEngineIO(engineio.AsyncClient):
    """engine.io's client with each packet written when sent and each message handled in line.

    The stock client hands every packet to a writer task and every message received to a new
    task, each through an ``asyncio.wait_for`` of its own: about three loop turns each way.
    With 2,200 clients in one loop every turn waits behind all the others, and the answer
    relay figure measured this generator's queue more than the servers'. As the servers'
    own sockets do since stop 30 (signaling/socket_server.py).
    """

    async def _send_packet(self, pkt: Any) -> None:
        # Until the writer has taken what was queued while connecting (socket.io's CONNECT
        # goes out before the websocket is handed over), queue behind it: order is kept.
        if self.state != "connected" or self.write_loop_task is None or not self.queue.empty():
            await super()._send_packet(pkt)
            return
        await self._write(pkt)

    async def _write(self, pkt: Any) -> None:
        try:
            if pkt.binary:
                await self.ws.send_bytes(pkt.encode())
            else:
                await self.ws.send_str(pkt.encode())
        except (aiohttp.ClientError, OSError):
            pass  # the connection is gone: the read loop reports the disconnect

    async def _write_loop(self) -> None:
        # what was queued while connecting, then nothing but the close marker (None)
        while self.state == "connected":
            pkt = await self.queue.get()
            self.queue.task_done()
            if pkt is None:
                break
            await self._write(pkt)
        self.write_loop_task = None

    async def _read_loop_websocket(self) -> None:
        while self.state == "connected" and self.write_loop_task:
            try:
                async with asyncio.timeout(self.ping_interval + self.ping_timeout):
                    message = await self.ws.receive()
            except Exception:  # the server went silent or the connection broke
                break
            if not isinstance(message.data, (str, bytes)):
                break  # closed
            pkt = packet.Packet(encoded_packet=message.data)
            if pkt.packet_type == packet.MESSAGE and _in_line(pkt.data):
                await self._trigger_event("message", pkt.data, run_async=False)
            else:
                # as engine.io does, on a task of its own: a DISCONNECT from the server closes
                # this client, which waits for this read loop to end (handled in line, it
                # waited for itself and left the client "disconnecting" for good: found by a
                # kiosk that never came back after the kill -9)
                await self._receive_packet(pkt)
        await self.queue.put(None)  # ends the writer
        if self.write_loop_task:
            await self.write_loop_task
        if self.state == "connected":
            await self._trigger_event("disconnect", self.reason.TRANSPORT_ERROR, run_async=False)
            if self in base_client.connected_clients:
                base_client.connected_clients.remove(self)
            await self._reset()


def _in_line(data: Any) -> bool:
    """Any socket.io packet but a DISCONNECT (its type is the first character of its text)."""
    return not (isinstance(data, str) and data[:1] == str(sio_packet.DISCONNECT))


class InLineClient(socketio.AsyncClient):
    """python-socketio's client over :class:`InLineEngineIO`."""

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return InLineEngineIO


@dataclass
class Tally:
    """What every client of one run saw."""

    requests: int = 0
    opened: int = 0
    accepted: int = 0  # call_accepted at a kiosk
    connected: int = 0  # the clerk's answer reached the kiosk: a call set up
    ended: Counter[str] = field(default_factory=Counter)  # call_ended reasons while waiting
    errors: Counter[str] = field(default_factory=Counter)  # error codes clients got
    error_texts: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)  # "session: why"
    double: list[str] = field(default_factory=list)
    # session -> (loop time of the request, a clerk was free then)
    requested_at: dict[str, tuple[float, bool]] = field(default_factory=dict)
    offered_at: dict[str, float] = field(default_factory=dict)  # first call_offered
    answered_at: dict[str, float] = field(default_factory=dict)  # clerk sent the answer
    accepted_by: dict[str, int] = field(default_factory=dict)
    relay_ms: list[float] = field(default_factory=list)
    # a clerk's call ended while others waited -> that clerk's next call_offered: routing
    # under load, where a clerk is free only for that moment
    refill_ms: list[float] = field(default_factory=list)
    # kiosks asking or waiting now: with the clerks ringing, whether anyone is ahead in line
    waiting: int = 0

    def route_ms(self) -> list[float]:
        """Request -> first ``call_offered``, for requests made while a clerk was free and
        nobody was waiting for one: what routing itself costs, not the time spent in line."""
        return [
            (self.offered_at[sid] - t) * 1000
            for sid, (t, free) in self.requested_at.items()
            if free and sid in self.offered_at
        ]


class SimClient:
    """A socket.io client of one role that reconnects like the real ones do."""

    namespace: str

    def __init__(
        self, index: int, url: str, tally: Tally, rng: random.Random, http: aiohttp.ClientSession
    ) -> None:
        self.index = index
        self.url = url
        self.tally = tally
        self.rng = rng
        # Reconnects are ours, as in terminal_client: the library's own reconnect waits only
        # 1 s for the namespace (its connect() default), so under a burst of reconnects every
        # try gave up just before the server answered, and tried again: a storm, not a load.
        self.sio = InLineClient(
            reconnection=False,
            handle_sigint=False,
            # one HTTP session for every client of the run, instead of one each
            http_session=http,
        )
        self.changed = asyncio.Event()
        self.connects = 0
        self.drops = 0
        # the last snapshot's session and state, for a lost request's line
        self.snapshot: tuple[Any, Any] | None = None
        self.resume_token: str | None = None
        self.last_error: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._reconnecting: asyncio.Task[None] | None = None
        self.sio.on("connect", self._on_connect, namespace=self.namespace)
        self.sio.on("disconnect", self._on_disconnect, namespace=self.namespace)
        self.sio.on("error", self._on_error, namespace=self.namespace)

    token = ""

    def auth(self) -> dict[str, str]:
        """What the server is shown at each (re)connect: the kiosk's or the clerk's token."""
        return {"token": self.token}

    def _auth(self) -> dict[str, str]:
        # A resume token, when the server hands one out (issue 13's reconnect path), goes
        # back with every reconnect; the server today ignores the extra field.
        auth = self.auth()
        if self.resume_token:
            auth["resume"] = self.resume_token
        return auth

    def _note_resume(self, data: Any) -> None:
        if isinstance(data, dict) and isinstance(data.get("resume_token"), str):
            self.resume_token = data["resume_token"]

    def _on_snapshot(self, data: Any) -> None:
        self._note_resume(data)
        if isinstance(data, dict):
            self.snapshot = (data.get("session_id"), data.get("state"))

    async def connect(self) -> None:
        await self.sio.connect(
            self.url, namespaces=[self.namespace], auth=self._auth,
            transports=["websocket"], wait_timeout=CONNECT_S,
        )  # fmt: skip

    async def _reconnect(self) -> None:
        """Come back after a dropped socket: jittered backoff, as the real kiosk does."""
        delay = 0.2
        while not self._closing and not self.sio.connected:
            await asyncio.sleep(delay * self.rng.uniform(0.5, 1.5))
            delay = min(delay * 2, 2.0)
            try:
                await self.connect()
            except ValueError:
                # engine.io is still closing the dropped connection; try again shortly
                pass
            except Exception as exc:
                # any failure is one try and the loop goes on: an exception type not foreseen
                # here would end this task, and the kiosk with it, counted as the server's loss
                self.tally.errors["reconnect try failed"] += 1
                self.tally.error_texts[f"reconnect: {type(exc).__name__} {str(exc)[:80]}"] += 1

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # shutdown, not disconnect: it also stops a reconnect loop in progress, which would
        # otherwise go on knocking at a server that is gone
        try:
            async with asyncio.timeout(5):
                await self.sio.shutdown()
        except TimeoutError:
            self.tally.errors["close_timed_out"] += 1

    def later(
        self,
        delay_s: float,
        event: str,
        data: dict[str, Any],
        still: Callable[[], bool] = lambda: True,
    ) -> None:
        """Emit ``event`` after ``delay_s`` (a clerk's reaction time) if ``still()`` holds
        then; :meth:`close` cancels."""

        async def run() -> None:
            await asyncio.sleep(delay_s)
            if still():
                await self.emit(event, data)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def emit(self, event: str, data: dict[str, Any]) -> bool:
        """Send; False when the socket is down (the state machine's deadlines cover it)."""
        try:
            await self.sio.emit(event, data, namespace=self.namespace)
        except socketio.exceptions.BadNamespaceError:
            self.tally.errors["send_while_disconnected"] += 1
            return False
        return True

    async def wait(self, predicate: Any, timeout_s: float) -> bool:
        """Wait until ``predicate()`` holds, at most ``timeout_s``; whether it did."""
        try:
            async with asyncio.timeout(max(0.0, timeout_s)):
                while not predicate():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            return bool(predicate())
        return True

    async def _on_connect(self) -> None:
        self.connects += 1
        self.changed.set()

    async def _on_disconnect(self, *reason: Any) -> None:
        self.drops += 1
        self.changed.set()
        if not self._closing and (self._reconnecting is None or self._reconnecting.done()):
            self._reconnecting = asyncio.get_running_loop().create_task(self._reconnect())
            self._tasks.add(self._reconnecting)
            self._reconnecting.add_done_callback(self._tasks.discard)

    async def _on_error(self, data: Any) -> None:
        code = data.get("code", "?") if isinstance(data, dict) else "?"
        self.tally.errors[code] += 1
        if isinstance(data, dict):
            self.tally.error_texts[f"{data.get('event')}: {data.get('message', '')[:90]}"] += 1
        self.last_error = code
        self.changed.set()


class SimKiosk(SimClient):
    """A kiosk that keeps asking for a service until told to stop."""

    namespace = NAMESPACE_TERMINAL

    def __init__(self, index: int, url: str, token: str, services: list[str], tally: Tally,
                 rng: random.Random, http: aiohttp.ClientSession,
                 clerks: list[SimClerk]) -> None:  # fmt: skip
        super().__init__(index, url, tally, rng, http)
        self.token = token
        self.services = services
        self.clerks = clerks
        self.session_id: str | None = None
        self._state = "idle"  # idle, requested, waiting, in_call, answered, over
        self.outcome: str | None = None
        self._request = (0.0, False)
        self.position_at: float | None = None  # loop time of the last queue_status
        for event, handler in {
            "session_opened": self._on_opened,
            "queue_status": self._on_queue_status,
            "call_accepted": self._on_accepted,
            "description": self._on_description,
            "call_ended": self._on_ended,
            "snapshot": self._on_kiosk_snapshot,
        }.items():
            self.sio.on(event, handler, namespace=self.namespace)

    @property
    def state(self) -> str:
        return self._state

    @state.setter
    def state(self, new: str) -> None:
        # the tally counts who is in line, for the route figure's "a clerk was free"
        self.tally.waiting += (new in _IN_LINE) - (self._state in _IN_LINE)
        self._state = new

    def _mine(self, data: Any) -> bool:
        return isinstance(data, dict) and data.get("session_id") == self.session_id

    async def _on_opened(self, data: dict[str, Any]) -> None:
        self._note_resume(data)
        if self.state == "requested":
            self.session_id = data["session_id"]
            self.state = "waiting"
            self.tally.opened += 1
            self.tally.requested_at[data["session_id"]] = self._request
        self.changed.set()

    async def _on_queue_status(self, data: dict[str, Any]) -> None:
        self._note_resume(data)
        if self._mine(data):
            self.position_at = asyncio.get_running_loop().time()
        self.changed.set()

    async def _on_kiosk_snapshot(self, data: dict[str, Any]) -> None:
        # as the kiosk does: a snapshot that shows the call accepted stands for a lost
        # call_accepted (its sender died between the commit and the send)
        self._on_snapshot(data)
        call = data.get("call")
        if self._mine(data) and data.get("state") in ("connecting", "in_call") and call:
            await self._on_accepted(call)
        self.changed.set()

    async def _on_accepted(self, data: dict[str, Any]) -> None:
        if self._mine(data) and self.state == "waiting":
            self.state = "in_call"
            self.tally.accepted += 1
            offer = {"session_id": self.session_id, "type": "offer", "sdp": FAKE_SDP}
            await self.emit("description", offer)
        self.changed.set()

    async def _on_description(self, data: dict[str, Any]) -> None:
        sid = data.get("session_id")
        sent = self.tally.answered_at.get(sid or "")
        if self._mine(data) and self.state == "in_call" and data.get("type") == "answer":
            if sent is not None:
                self.tally.relay_ms.append((asyncio.get_running_loop().time() - sent) * 1000)
            self.tally.connected += 1
            self.state = "answered"
            await self.emit("media_status", {"session_id": sid, "state": "connected"})
        self.changed.set()

    async def _on_ended(self, data: dict[str, Any]) -> None:
        if self._mine(data):
            self.outcome = f"ended:{data.get('reason')}"
            if self.state in ("requested", "waiting"):
                self.tally.ended[str(data.get("reason"))] += 1
            self.state = "over"
        self.changed.set()

    def clerk_free(self) -> bool:
        """A clerk is free and nobody is in line unrung: this request could be offered now."""
        ringing = sum(c.ringing is not None for c in self.clerks)
        return self.tally.waiting <= ringing and any(c.free for c in self.clerks)

    async def one_request(self, deadline: float, hold_s: float) -> None:
        """Ask once and follow the session to its end (or to ``deadline``: left waiting)."""
        loop = asyncio.get_running_loop()
        self.session_id, self.outcome, self.last_error = None, None, None
        self._request = (loop.time(), self.clerk_free())
        self.state = "requested"
        service = self.rng.choice(self.services)
        if not await self.emit("request_service", {"service_id": service, "language": "en"}):
            self.state = "idle"  # never sent: not a request
            return
        self.tally.requests += 1
        opened = await self.wait(
            lambda: self.state != "requested" or self.last_error is not None, 15.0
        )
        if self.state == "requested":
            # refused (an error event) is an outcome; silence is a lost request
            if not opened:
                self.tally.lost.append(f"kiosk {self.index}: no answer to request_service")
            self.state = "idle"
            return
        await self.wait(lambda: self.state not in ("waiting",), deadline - loop.time())
        if self.state == "waiting":
            return  # still waiting at the end of the run: settled by settle()
        if self.state == "in_call":
            # accepted: the answer should follow at once
            await self.wait(lambda: self.state != "in_call", 15.0)
            if self.state == "in_call":
                self.tally.lost.append(f"{self.session_id}: accepted, answer never arrived")
                await self.emit("hangup", {"session_id": self.session_id, "reason": "no_answer"})
                await self.wait(lambda: self.state == "over", 10.0)
                self.state = "idle"
                return
        if self.state == "answered":
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * hold_s)  # calls differ in length
            if self.state == "answered":
                await self.emit("hangup", {"session_id": self.session_id, "reason": "done"})
            if not await self.wait(lambda: self.state == "over", 10.0):
                self.tally.lost.append(f"{self.session_id}: hung up, call_ended never came")
        self.state = "idle"

    async def ask(self) -> None:
        """Ask once and stay waiting (no clerk will take it): for the kill -9 phase."""
        self.session_id, self.outcome, self.last_error = None, None, None
        self.state = "requested"
        self._request = (asyncio.get_running_loop().time(), False)
        if not await self.emit("request_service", {"service_id": self.rng.choice(self.services)}):
            self.state = "idle"
            return
        self.tally.requests += 1
        await self.wait(lambda: self.state != "requested" or self.last_error is not None, 15.0)
        if self.state == "requested":
            self.state = "idle"

    async def settle(self) -> None:
        """At the end of a run: a kiosk still waiting cancels, one a clerk took after its
        last request's deadline hangs up; the server must say so."""
        if self.state not in ("waiting", "in_call", "answered"):
            return
        if self.state == "waiting":
            self.last_error = None
            await self.emit("cancel", {"session_id": self.session_id})
            await self.wait(lambda: self.state != "waiting" or self.last_error is not None, 15.0)
        if self.state == "waiting" and self.last_error == "illegal_transition":
            # refused because a clerk took the call meanwhile: call_accepted is on its way
            await self.wait(lambda: self.state != "waiting", 10.0)
        if self.state == "waiting":
            why = f"error {self.last_error}" if self.last_error else "no answer to cancel"
            why += f" (socket drops {self.drops}, last snapshot {self.snapshot})"
            self.tally.lost.append(f"{self.session_id}: still waiting at the end, {why}")
        elif self.state in ("in_call", "answered"):
            # accepted at the last moment: finish it, once the answer is in (a hang-up
            # racing it has the clerk's answer refused: noise in the run's errors)
            await self.wait(lambda: self.state != "in_call", 5.0)
            await self.emit("hangup", {"session_id": self.session_id, "reason": "done"})
            if not await self.wait(lambda: self.state == "over", 10.0):
                self.tally.lost.append(f"{self.session_id}: hung up at the end, no call_ended")
        self.state = "idle"


class SimClerk(SimClient):
    """A clerk who takes most offered calls, declines some and lets some ring out."""

    namespace = NAMESPACE_CLERK

    def __init__(self, index: int, url: str, token: str, tally: Tally, rng: random.Random,
                 http: aiohttp.ClientSession, decline: float, ring_out: float) -> None:  # fmt: skip
        super().__init__(index, url, tally, rng, http)
        self.token = token
        self.decline_p = decline
        self.ring_out_p = ring_out
        self.working = True
        self.state = "offline"
        self.ringing: str | None = None
        self.call: str | None = None
        self.freed_at: float | None = None
        self.peers: list[SimClerk] = []  # every clerk of the run (set by the bench)
        self._asking = False
        for event, handler in {
            "clerk_status": self._on_status,
            "call_offered": self._on_offered,
            "call_withdrawn": self._on_withdrawn,
            "call_accepted": self._on_accepted,
            "description": self._on_description,
            "call_ended": self._on_ended,
        }.items():
            self.sio.on(event, handler, namespace=self.namespace)

    @property
    def free(self) -> bool:
        return self.state == "available" and self.ringing is None and self.call is None

    async def set_working(self, working: bool) -> None:
        """Start or stop taking calls."""
        self.working = working
        # going away needs a reason (the server's away_reasons; "break" is a default one)
        await self.emit(
            "set_availability",
            {"available": True} if working else {"available": False, "reason": "break"},
        )

    async def _on_status(self, data: dict[str, Any]) -> None:
        self._note_resume(data)
        self.state = data.get("state", "?")
        if self.state == "busy" and data.get("session_id") and self.call is None:
            # as the console does: a status that shows a call stands for a lost call_accepted
            self.call, self.ringing = data["session_id"], None
        if self.state != "away":
            self._asking = False
        if self.state == "away" and self.working and not self._asking:
            # back from a ring-out (the server sets a clerk who let a call ring out away)
            self._asking = True
            # unless told to stop working meanwhile (the kill phase sends every clerk away)
            self.later(0.2, "set_availability", {"available": True}, lambda: self.working)
        self.changed.set()

    async def _on_offered(self, data: dict[str, Any]) -> None:
        sid = data["session_id"]
        if self.freed_at is not None:
            self.tally.refill_ms.append((asyncio.get_running_loop().time() - self.freed_at) * 1000)
            self.freed_at = None
        # as the console does: the store rings only an available clerk, so a call still
        # open here is over and its call_ended (sent by another process) is on its way
        self.call = None
        self.tally.offered_at.setdefault(sid, asyncio.get_running_loop().time())
        self.ringing = sid
        roll = self.rng.random()
        if roll < self.decline_p:
            self.later(self.rng.uniform(0.05, 0.5), "decline", {"session_id": sid})
        elif roll >= self.decline_p + self.ring_out_p:
            self.later(self.rng.uniform(0.05, 0.5), "accept", {"session_id": sid})
        self.changed.set()

    async def _on_withdrawn(self, data: dict[str, Any]) -> None:
        if self.ringing == data.get("session_id"):
            self.ringing = None
        self.changed.set()

    async def _on_accepted(self, data: dict[str, Any]) -> None:
        sid = data["session_id"]
        if self.call is not None and self.call != sid:
            self.tally.double.append(f"clerk {self.index}: {sid} while in {self.call}")
        other = self.tally.accepted_by.setdefault(sid, self.index)
        if other != self.index:
            self.tally.double.append(f"{sid}: accepted by clerks {other} and {self.index}")
        self.call, self.ringing = sid, None
        self.changed.set()

    async def _on_description(self, data: dict[str, Any]) -> None:
        sid = data.get("session_id")
        # as the console does: the kiosk's offer may overtake this console's own
        # call_accepted (they come from different processes), so a call being accepted
        # takes it too
        if data.get("type") == "offer" and sid is not None and sid in (self.call, self.ringing):
            self.tally.answered_at[sid] = asyncio.get_running_loop().time()
            await self.emit("description", {"session_id": sid, "type": "answer", "sdp": FAKE_SDP})
            await self.emit("media_status", {"session_id": sid, "state": "connected"})
        self.changed.set()

    async def _on_ended(self, data: dict[str, Any]) -> None:
        if data.get("session_id") == self.call:
            self.call = None
            # free again; with kiosks in line (beyond those ringing) the next offer is due now
            ringing = sum(c.ringing is not None for c in self.peers)
            if self.working and self.tally.waiting > ringing:
                self.freed_at = asyncio.get_running_loop().time()
        self.changed.set()

    async def _on_disconnect(self, *reason: Any) -> None:
        # the server (or its process) is gone: whatever was ringing is not ours any more
        self.ringing = None
        self.freed_at = None
        await super()._on_disconnect(*reason)
