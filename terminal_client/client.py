"""The kiosk's side of a call: socket.io to the server, an aiortc peer to the clerk.

The terminal makes the WebRTC offer (aiortc gathers its candidates before the offer is sent);
the clerk's browser answers and trickles its candidates, which arrive as ``ice_candidate``.

A UI (the kiosk controller) follows the client through callbacks instead of polling:
``on_change`` after every change of state, queue place, step or clerk details; ``on_prompt``
and ``on_step`` when the clerk pushes something; ``on_error`` when the server refuses an
event. Decoded frames of the clerk's media go to ``on_video_frame`` / ``on_audio_frame``.
A supervisor the applicant must be told of (``supervision_notice``) is :attr:`supervision`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

import av
import socketio
from aiortc import (
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from pydantic import ValidationError

from media.recording import RecordingSettings
from media.sinks import FrameCounter, FrameListener
from media.sources import LocalMedia
from signaling.logs import context_log
from signaling.messages import (
    NAMESPACE_TERMINAL,
    CallAccepted,
    CallEnded,
    CallTransferred,
    ErrorEvent,
    Event,
    Hangup,
    Hold,
    IceCandidate,
    IcePolicy,
    IceServer,
    Language,
    LocalizedText,
    MediaState,
    MediaStatus,
    Message,
    Prompt,
    QueueStatus,
    RateSession,
    RequestService,
    SessionDescription,
    SessionOpened,
    SessionRef,
    SessionSnapshot,
    SessionState,
    SetStep,
    SupervisionNotice,
    SyncRequest,
)
from terminal_client.errors import CallFailed, ServiceRefused, TerminalError
from terminal_client.link_quality import LinkMeter
from terminal_client.peer import (
    WarmPeer,
    ask_keyframe,
    attach_document,
    attach_media,
    make_peer,
    send_keyframe,
    share_bundle_candidates,
)
from terminal_client.recording import CallRecorder
from terminal_client.recording_backlog import RecordingBacklog
from terminal_client.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class TerminalState(StrEnum):
    DISCONNECTED = "disconnected"
    IDLE = "idle"
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTING = "connecting"
    IN_CALL = "in_call"
    ENDED = "ended"


_T = TerminalState
_TRANSITIONS: dict[TerminalState, frozenset[TerminalState]] = {
    _T.DISCONNECTED: frozenset({_T.IDLE}),
    _T.IDLE: frozenset({_T.QUEUED, _T.RINGING, _T.CONNECTING, _T.DISCONNECTED}),
    _T.QUEUED: frozenset({_T.RINGING, _T.CONNECTING, _T.ENDED, _T.DISCONNECTED}),
    _T.RINGING: frozenset({_T.QUEUED, _T.CONNECTING, _T.ENDED, _T.DISCONNECTED}),
    # back to QUEUED: the clerk transferred the call (it waits for the next clerk)
    _T.CONNECTING: frozenset({_T.IN_CALL, _T.QUEUED, _T.ENDED, _T.DISCONNECTED}),
    _T.IN_CALL: frozenset({_T.QUEUED, _T.ENDED, _T.DISCONNECTED}),
    _T.ENDED: frozenset({_T.IDLE, _T.DISCONNECTED}),
}


# the step a call is on once the clerk answered: the service was chosen (step 1) at the kiosk
FIRST_CALL_STEP = 2


# The clerk's picture stopped this long counts as a break in the call's media (reported to
# the server, which records it and tells both screens); checked this often.
STALL_S = 1.0
MEDIA_WATCH_S = 0.2
# the link's figures (round trip, loss, frame rate) are sampled this often
LINK_SAMPLE_S = 1.0

# Every call is recorded at the kiosk (what the applicant sent, saw and heard); None turns it off.
DEFAULT_RECORDING = RecordingSettings()


class TerminalClient:
    """One kiosk: connect, ask for a service, take the call, hang up, rate it."""

    def __init__(
        self,
        server_url: str,
        token: str,
        media_factory: Callable[[], LocalMedia],
        name: str = "terminal",
        *,
        on_change: Callable[[], None] | None = None,
        on_prompt: Callable[[Prompt], None] | None = None,
        on_step: Callable[[int], None] | None = None,
        on_error: Callable[[ErrorEvent], None] | None = None,
        on_video_frame: FrameListener | None = None,
        on_audio_frame: FrameListener | None = None,
        recording: RecordingSettings | None = DEFAULT_RECORDING,
        document_track: Callable[[], MediaStreamTrack] | None = None,
        recording_dir: Path | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.media_factory = media_factory
        self.name = name
        # Callbacks run on the event loop inside the socket.io handlers: they must not block.
        self.on_change = on_change
        self.on_prompt = on_prompt
        self.on_step = on_step
        self.on_error = on_error
        self.on_video_frame = on_video_frame
        self.on_audio_frame = on_audio_frame
        # every call is recorded at the kiosk unless recording is None (see recording.py)
        self.recording = recording
        self.recorder: CallRecorder | None = None
        # finished segments wait on disk until the server has them; a lasting folder
        # (the kiosk's data dir) keeps them across restarts, else one in the temp dir
        self._own_recording_dir = recording_dir is None
        self.backlog = RecordingBacklog(
            self.server_url, token,
            (recording_dir or Path(tempfile.mkdtemp(prefix="vcounter-backlog-"))) / "backlog",
            name=name,
        )  # fmt: skip
        # the document camera's live track for each call (terminal_client/documents.py)
        self.document_track = document_track
        self._document: MediaStreamTrack | None = None
        self._recorders_closing: set[asyncio.Task[None]] = set()
        self.state = TerminalState.DISCONNECTED
        self.session_id: str | None = None
        self.position: int | None = None
        self.estimated_wait_s: int | None = None
        self.callback_offered = False
        self.clerk_name: str | None = None
        self.department_id: str | None = None
        self.service_name: LocalizedText | None = None
        self.care_mode = False
        self.step = 1
        self.prompts: list[Prompt] = []
        self.end_reason: str | None = None
        # the clerk handed the call on: to whom, until the next clerk answers
        self.transfer: CallTransferred | None = None
        # the clerk is consulting a colleague about the call: the applicant holds
        self.on_hold = False
        self.recall_of: str | None = None
        self.clerks_on_duty: int | None = None
        self.errors: list[ErrorEvent] = []
        self.video_in = FrameCounter(on_frame=on_video_frame)
        self.audio_in = FrameCounter(on_frame=on_audio_frame)
        self.pc: RTCPeerConnection | None = None
        self._pc_session: str | None = None  # the session self.pc was made for
        # which peer connection of the call self.pc is (0 the first; see restart_media)
        self.media_attempt = 0
        # how the call's media stands after a break, as the server last said (None: flowing)
        self.media_state: MediaState | None = None
        # a supervisor in the call as the server last told this kiosk (see ``supervision``)
        self._supervision: SupervisionNotice | None = None
        # the media report the server last received (see _watch_media)
        self._reported: tuple[str, int] | None = None
        # the clerk's picture has stopped here (the kiosk's own view: during a cut of the
        # kiosk's link the server cannot say anything)
        self.media_stalled = False
        # round trip, loss and frame rate of the call's link; ``link.weak`` for the screen
        self.link = LinkMeter()
        self._media_watch: asyncio.Task[None] | None = None
        self._call_ice: list[IceServer] = []
        # the call's camera, microphone and document camera, copied to each peer connection
        self._relay = MediaRelay()
        self._warm: WarmPeer | None = None  # the next call's peer, offer made
        self._ice: tuple[list[IceServer], int | None] | None = None  # last ICE servers, ttl
        self.ice_policy: IcePolicy = "all"  # as the server says, with every set of servers
        self.media: LocalMedia | None = None
        self._pending_candidates: list[IceCandidate] = []
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        # Ctrl-C belongs to the entry point: engine.io's own SIGINT handler would cancel every
        # task in the process (the kiosk's page server included) without its clean-up.
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        handlers: dict[Event, Callable[[Any], Any]] = {
            Event.QUEUE_STATUS: self._on_queue_status,
            Event.SESSION_OPENED: self._on_session_opened,
            Event.CALL_ACCEPTED: self._on_call_accepted,
            Event.DESCRIPTION: self._on_description,
            Event.ICE_CANDIDATE: self._on_ice_candidate,
            Event.CALL_ENDED: self._on_call_ended,
            Event.CALL_TRANSFERRED: self._on_call_transferred,
            Event.HOLD: self._on_hold,
            Event.ERROR: self._on_error,
            Event.PROMPT: self._on_prompt,
            Event.STEP: self._on_step,
            Event.SNAPSHOT: self._on_snapshot,
            Event.MEDIA_STATE: self._on_media_state,
            Event.SUPERVISION_NOTICE: self._on_supervision_notice,
        }
        for event, handler in handlers.items():
            self.sio.on(event.value, handler, namespace=NAMESPACE_TERMINAL)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE_TERMINAL)
        self.sio.on("connect_error", self._on_refused, namespace=NAMESPACE_TERMINAL)
        self._refusal = ""
        # the server's token for taking up this kiosk's session after a dropped socket
        self.resume_token: str | None = None
        # how long to keep trying to come back before giving the session up (the server's
        # grace period is 30 s by default; a little longer does no harm)
        self.resume_for_s = 45.0
        self.version = 0
        self.online = False
        self._resuming: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.sync_every_s = 5.0
        self._closing = False

    # ------------------------------------------------------------------ public

    async def connect(self) -> None:
        """Connect to the server; raises :class:`TerminalError` with the server's reason."""
        try:
            auth = {"token": self.token}
            if self.resume_token:
                auth["resume"] = self.resume_token
            await self.sio.connect(
                self.server_url,
                namespaces=[NAMESPACE_TERMINAL],
                auth=auth,
                transports=["websocket"],
                # longer than the server's handshake_wait_s: a kiosk waiting its turn after
                # a server process died is taken in order, not sent round again
                wait_timeout=20,
            )
        except socketio.exceptions.ConnectionError as exc:
            reason = self._refusal or str(exc)
            raise TerminalError(f"cannot connect to {self.server_url}: {reason}") from exc
        except ValueError as exc:
            # engine.io is still closing the previous connection (it just dropped)
            raise TerminalError(
                f"cannot connect to {self.server_url} yet: {exc}; retry in a moment"
            ) from exc
        self.online = True
        if self.state == TerminalState.DISCONNECTED:
            await self._set_state(TerminalState.IDLE)
        # segments left by a server outage or an earlier run go up now
        await self.backlog.start()
        if self._watch is None or self._watch.done():
            self._watch = self._spawn(self._keep_in_sync())

    async def _keep_in_sync(self) -> None:
        """While waiting for a call, ask for the state now and then: a message between server
        processes can be lost (a Redis restart), and nothing else would notice."""
        while self.sio.connected:
            await asyncio.sleep(self.sync_every_s)
            if self.state in (TerminalState.QUEUED, TerminalState.RINGING) and self.sio.connected:
                with contextlib.suppress(socketio.exceptions.SocketIOError):
                    await self.sio.emit(
                        Event.SYNC.value,
                        SyncRequest().model_dump(mode="json"),
                        namespace=NAMESPACE_TERMINAL,
                    )

    async def request_service(
        self,
        service_id: str,
        language: Language = "zh-Hant",
        care_mode: bool = False,
        recall_of: str | None = None,
        appointment: str | None = None,
        handover_of: str | None = None,
    ) -> str:
        """Ask for a clerk for ``service_id``; returns the session id once queued.

        ``care_mode`` (关爱模式) gives the call queue priority and tells the clerk;
        ``recall_of`` names an interrupted call this one takes up again (front of the queue);
        ``appointment`` a booking checked in at this kiosk (its priority at the slot). Raises
        :class:`ServiceRefused` with the server's code and message if the request is refused.
        """
        if self.state == TerminalState.ENDED:
            await self._set_state(TerminalState.IDLE)
        self._forget_call()
        self.care_mode = care_mode
        errors = len(self.errors)

        def refusal() -> ErrorEvent | None:
            # only an answer to this request: a late report about the last call may be
            # refused meanwhile ("not in a call") and is not this request's fate
            return next(
                (e for e in self.errors[errors:] if e.event in (None, Event.REQUEST_SERVICE.value)),
                None,
            )

        warm = self._take_warm()
        if warm is not None:
            await self._close_peer()
            self._bind_peer(warm.pc)  # its session is named by session_opened
        request = RequestService(
            service_id=service_id,
            language=language,
            care_mode=care_mode,
            offer=warm.offer_sdp if warm else None,
            recall_of=recall_of,
            appointment=appointment,
            handover_of=handover_of,
        )
        await self._emit(Event.REQUEST_SERVICE, request)
        async with self._changed:
            with contextlib.suppress(TimeoutError):  # no answer: refused as "no_answer" below
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: self.state != TerminalState.IDLE or refusal() is not None
                    ),
                    15,
                )
        if self.session_id is None:
            await self._close_peer()
            refused = refusal()
            message = refused.message if refused else "no answer within 15 s"
            raise ServiceRefused(
                f"the server refused the request for {service_id!r}: {message}",
                refused.code if refused else "no_answer",
            )
        return self.session_id

    async def cancel(self) -> None:
        """Stop waiting in the queue."""
        if self.session_id is None:
            raise TerminalError("nothing to cancel: not waiting for a clerk")
        await self._emit(Event.CANCEL, SessionRef(session_id=self.session_id))

    async def hangup(self, reason: str = "applicant_hangup") -> None:
        """End the call from the kiosk."""
        if self.session_id is None:
            raise TerminalError("nothing to hang up: not in a call")
        await self._emit(Event.HANGUP, Hangup(session_id=self.session_id, reason=reason))

    async def rate(self, session_id: str, rating: int, comment: str = "") -> None:
        """Send the applicant's 1-5 rating of an ended call; the server stores it once.

        A refusal (already rated, not this terminal's call) arrives as an ``error`` event.
        """
        if self.state != TerminalState.ENDED:
            raise TerminalError(f'cannot rate while "{self.state}": rate a call after it ends')
        message = RateSession(session_id=session_id, rating=rating, comment=comment)
        await self._emit(Event.RATE, message)
        self._log().info("rated the call %d/5", rating)

    async def wait_for(self, *states: TerminalState, timeout: float = 30.0) -> TerminalState:
        """Wait until the state is one of ``states``; raises :class:`CallFailed` on timeout."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.state in states), timeout
                )
            except TimeoutError as exc:
                raise CallFailed(
                    f'still "{self.state}" after {timeout:g} s waiting for {", ".join(states)}'
                    + (f"; last error: {self.errors[-1].message}" if self.errors else "")
                ) from exc
        return self.state

    async def close(self) -> None:
        """Hang up media and disconnect; safe to call twice."""
        self._closing = True
        await self._close_peer()
        await asyncio.gather(*self._recorders_closing, return_exceptions=True)
        await self.backlog.close()
        if self._own_recording_dir and not await asyncio.to_thread(self.backlog.pending):
            await asyncio.to_thread(shutil.rmtree, self.backlog.folder.parent, True)
        warm, self._warm = self._warm, None
        if warm is not None:
            await warm.pc.close()
        await cancel_and_wait(self._tasks)
        # Also when connect() was cancelled half-way: the engine.io transport is then open
        # although socket.io never said "connected", and the server would wait for it.
        await self.sio.disconnect()
        self.state = TerminalState.DISCONNECTED

    # ------------------------------------------------------------------ internals

    def _log(self) -> logging.LoggerAdapter[logging.Logger]:
        return context_log(log, self.session_id, f"terminal:{self.name}")

    async def _set_state(self, new: TerminalState) -> None:
        old = self.state
        if new == old:
            return
        if new not in _TRANSITIONS[old]:
            raise TerminalError(f'cannot go from "{old}" to "{new}"')
        self.state = new
        self._log().info("terminal %s -> %s", old, new)
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
        if self.on_change is not None:
            self.on_change()

    def _forget_call(self) -> None:
        self.session_id = None
        self.position = None
        self.estimated_wait_s = None
        self.callback_offered = False
        self.clerk_name = None
        self.department_id = None
        self.service_name = None
        self.step = 1
        self.prompts = []
        self.end_reason = None
        self.transfer = None
        self.on_hold = False
        self.media_attempt = 0
        self.media_state = None
        self._supervision = None
        self._reported = None
        self.media_stalled = False
        self.link = LinkMeter()

    async def _emit(self, event: Event, message: Message) -> None:
        if not self.sio.connected:
            raise TerminalError(
                f"cannot send {event.value}: not connected to {self.server_url};"
                " wait for the kiosk to reconnect"
            )
        await self.sio.emit(
            event.value, message.model_dump(mode="json"), namespace=NAMESPACE_TERMINAL
        )

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _on_queue_status(self, data: dict[str, Any]) -> None:
        status = QueueStatus.model_validate(data)
        if self.state not in (TerminalState.IDLE, TerminalState.QUEUED, TerminalState.RINGING):
            return  # a late update for a call that has moved on
        if status.version < self.version and status.session_id == self.session_id:
            return  # older than what we know
        await self._check_version(status.version)
        self.clerks_on_duty = status.clerks_on_duty
        self.session_id = status.session_id
        self.position = status.position
        self.estimated_wait_s = status.estimated_wait_s
        self.callback_offered = status.callback_offered
        target = TerminalState.RINGING if status.state == "offered" else TerminalState.QUEUED
        if target == self.state:
            await self._notify()  # same state, new place in the queue
        else:
            await self._set_state(target)

    async def _on_call_accepted(self, data: dict[str, Any]) -> None:
        accepted = CallAccepted.model_validate(data)
        self.session_id = accepted.session_id
        self.version = max(self.version, accepted.version)
        self.clerk_name = accepted.peer_name
        self.transfer = None
        self.department_id = accepted.department_id
        self.service_name = accepted.service_name
        self.step = FIRST_CALL_STEP
        await self._set_state(TerminalState.CONNECTING)
        self.ice_policy = accepted.ice_transport_policy
        self._call_ice = accepted.ice_servers
        if self._pc_session != accepted.session_id:
            # no offer made while waiting (it was lost with a reconnect): make it now
            await self._open_peer(accepted.session_id, accepted.ice_servers)

    async def _on_session_opened(self, data: dict[str, Any]) -> None:
        opened = SessionOpened.model_validate(data)
        self.version = opened.version
        self._ice = (opened.ice_servers, opened.ice_ttl_s)
        self.ice_policy = opened.ice_transport_policy
        if self.pc is not None and self._pc_session is None:
            self._pc_session = opened.session_id  # the warm peer's offer came with the request
            return
        # No warm peer (the first call, or its credentials aged): make the offer now, while
        # the applicant waits; the server holds it for the clerk who accepts.
        await self._open_peer(opened.session_id, opened.ice_servers)

    async def _open_peer(self, session_id: str, ice_servers: list[IceServer]) -> None:
        """A fresh peer connection with the local media, and its offer sent for ``session_id``."""
        await self._close_peer()
        self._pc_session = (
            session_id  # claimed now: a call_accepted meanwhile must not make another
        )
        peer = await make_peer(
            ice_servers, document=self.document_track is not None, policy=self.ice_policy
        )
        if self._pc_session != session_id or self.pc is not None:
            await peer.pc.close()  # the session ended while the offer was being made
            return
        self._bind_peer(peer.pc)
        offer = SessionDescription(session_id=session_id, type="offer", sdp=peer.offer_sdp)
        await self._emit(Event.DESCRIPTION, offer)

    def _bind_peer(self, pc: RTCPeerConnection) -> None:
        """Make ``pc`` this call's peer: fresh frame counters, the camera and microphone on."""
        self.pc = pc
        self._pending_candidates = []
        media = self.media_factory()
        on_video, on_audio = self.on_video_frame, self.on_audio_frame
        if self.recording is not None:
            recorder = self.recorder = CallRecorder(
                self.server_url, self.token, self.recording, name=self.name,
                backlog=self.backlog,
            )  # fmt: skip
            media = recorder.tap(media)
            on_video = _both(on_video, recorder.clerk)
            on_audio = _both(on_audio, recorder.clerk)
        self.video_in = FrameCounter(on_frame=on_video)
        self.audio_in = FrameCounter(on_frame=on_audio)
        self.media = media
        self._relay = MediaRelay()
        attach_media(pc, self.media, self._relay)
        if self.document_track is not None:
            track = self.document_track()
            if self.recorder is not None:
                track = self.recorder.tap_document(track)
            self._document = attach_document(pc, track, self._relay)

        self._watch_peer(pc)

    def _watch_peer(self, pc: RTCPeerConnection) -> None:
        """Follow ``pc``'s tracks and connection state (only while it is the call's peer)."""
        attempt = self.media_attempt

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if self.pc is pc:
                (self.video_in if track.kind == "video" else self.audio_in).start(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            self._log().info("webrtc %s (attempt %d)", pc.connectionState, self.media_attempt)
            if self.session_id is None or self.pc is not pc or self.media_attempt != attempt:
                return  # a peer connection being replaced says nothing more
            if pc.connectionState == "connected":
                if self.recorder is not None:
                    self.recorder.start(self.session_id)
                if self.state == TerminalState.CONNECTING:
                    await self._set_state(TerminalState.IN_CALL)
                await self._report("connected")
                if self._media_watch is None or self._media_watch.done():
                    self._media_watch = self._spawn(self._watch_media())
            elif pc.connectionState == "failed":
                # the server asks for a new peer connection (media_state "restarting")
                await self._report("failed")

    async def _report(self, state: str, stalled_ms: int = 0) -> None:
        """Tell the server how this side's media stands; kept to send again after a
        reconnect when the socket is down."""
        if self.session_id is None or self.state not in (
            TerminalState.CONNECTING,
            TerminalState.IN_CALL,
        ):
            return  # the call is over: nothing to say about its media
        status = MediaStatus(
            session_id=self.session_id,
            state=state,
            attempt=self.media_attempt,
            stalled_ms=min(stalled_ms, 3_600_000),
            figures=self.link.figures,
        )
        try:
            await self._emit(Event.MEDIA_STATUS, status)
        except TerminalError:
            return  # offline: _watch_media sends the state again once back
        except socketio.exceptions.SocketIOError:
            return
        self._reported = (state, self.media_attempt)

    async def _watch_media(self) -> None:
        """While in a call: report ``interrupted`` once the clerk's picture has stopped for
        :data:`STALL_S`, ``connected`` once it moves again (the server records the break)."""
        loop = asyncio.get_running_loop()
        next_sample = loop.time() + LINK_SAMPLE_S
        while self.state == TerminalState.IN_CALL and self.pc is not None:
            await asyncio.sleep(MEDIA_WATCH_S)
            if loop.time() >= next_sample:
                next_sample = loop.time() + LINK_SAMPLE_S
                weak = self.link.weak
                self.link.sample(await self.pc.getStats(), self.video_in.count, loop.time())
                if self.pc is None:
                    return  # replaced or closed meanwhile; its successor starts its own watch
                if self.media_stalled and self.pc.connectionState == "connected":
                    await ask_keyframe(self.pc)  # again each second until the picture moves
                if self.media_state is not None and not self.media_stalled:
                    # the clerk sees nothing while this side receives: a keyframe a second
                    # lets the clerk's picture come back as soon as the path does
                    send_keyframe(self.pc)
                if self.link.weak != weak:
                    self._log().info("link %s: %s", "weak" if self.link.weak else "good",
                                     self.link.figures)  # fmt: skip
                    await self._notify()
            stalled_s = self.video_in.stalled_s()
            if stalled_s is None:
                continue  # no picture yet
            wanted = "interrupted" if stalled_s >= STALL_S else "connected"
            if self.media_stalled != (wanted == "interrupted"):
                self.media_stalled = wanted == "interrupted"
                if not self.media_stalled:
                    send_keyframe(self.pc)  # the link is back: let the clerk decode at once
                await self._notify()  # the screen says "reconnecting…", or stops saying it
            reported = self._reported[0] if self._reported else None
            current = self._reported is not None and self._reported[1] == self.media_attempt
            if reported == "failed" and current and wanted == "interrupted":
                continue  # already said: the server is getting a new peer connection made
            if wanted != reported or not current:
                if wanted == "connected" and self.pc.connectionState != "connected":
                    continue
                await self._report(wanted, round(stalled_s * 1000))

    @property
    def media_broken(self) -> bool:
        """Whether the call's media is broken now, as this kiosk sees it or the server says."""
        return self.state == TerminalState.IN_CALL and (
            self.media_stalled or self.media_state is not None
        )

    @property
    def supervision(self) -> SupervisionNotice | None:
        """The supervisor the applicant is told of in the call now (None: nobody, or no call)."""
        in_call = self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL)
        notice = self._supervision
        # stored until the next request forgets it: the call's end must hide it at once
        if not in_call or notice is None or notice.session_id != self.session_id:
            return None
        return notice

    async def restart_media(self, attempt: int | None = None) -> None:
        """Replace the call's peer connection with a new one (aiortc has no ICE restart) and
        offer it on the same session: the camera, microphone, recording and everything of
        the session carry on. ``attempt`` defaults to the next one."""
        session_id = self.session_id
        in_call = self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL)
        if session_id is None or self.media is None or not in_call:
            raise TerminalError("no call to reconnect: the kiosk is not in a call")
        attempt = self.media_attempt + 1 if attempt is None else attempt
        if attempt <= self.media_attempt:
            return  # that one is made already
        self.media_attempt = attempt
        self._log().warning("media: making peer connection %d for the same call", attempt)
        servers = self._call_ice or (self._ice[0] if self._ice else [])
        peer = await make_peer(servers, document=self._document is not None, policy=self.ice_policy)
        if self.session_id != session_id or self.media_attempt != attempt or self.media is None:
            await peer.pc.close()  # the call ended, or another attempt began, meanwhile
            return
        # the old one stays the call's until the new one is made: never no peer at all
        old, self.pc = self.pc, peer.pc
        self._pending_candidates = []
        await self.video_in.stop()
        await self.audio_in.stop()
        attach_media(peer.pc, self.media, self._relay)
        if self._document is not None:
            attach_document(peer.pc, self._document, self._relay)
        self._watch_peer(peer.pc)
        if old is not None:
            await old.close()
        # made before the tracks were attached: the offer's SDP does not depend on them
        offer = SessionDescription(
            session_id=session_id, type="offer", sdp=peer.offer_sdp, attempt=attempt
        )
        await self._emit(Event.DESCRIPTION, offer)

    async def _on_media_state(self, data: dict[str, Any]) -> None:
        state = MediaState.model_validate(data)
        if state.session_id != self.session_id:
            return
        await self._take_media_state(state)

    async def _take_media_state(self, state: MediaState) -> None:
        self.media_state = None if state.state == "restored" else state
        self._log().info("media %s (attempt %d, link %s)", state.state, state.attempt, state.link)
        await self._notify()
        if state.state == "interrupted" and self.pc is not None:
            # the server asks both sides how their media stands: an answer says this side
            # can reach it (a side that cannot is the one whose link broke)
            stalled_s = self.video_in.stalled_s() or 0.0
            await self._report(
                "interrupted" if self.media_stalled else "connected",
                round(stalled_s * 1000) if self.media_stalled else 0,
            )
        in_call = self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL)
        in_call = in_call and self.media is not None and not self._closing
        if state.state == "restarting" and state.attempt > self.media_attempt and in_call:
            await self.restart_media(state.attempt)

    async def _on_supervision_notice(self, data: Any = None) -> None:
        try:
            notice = SupervisionNotice.model_validate(data)
        except ValidationError as exc:
            # a notice this kiosk cannot read (a newer server's) must not take the call down
            self._log().warning("supervision notice not understood, ignored: %s", exc)
            return
        in_call = self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL)
        if notice.session_id != self.session_id or not in_call:
            return  # another call's, or one that is over
        self._supervision = None if notice.state == "none" else notice
        who = notice.supervisor
        self._log().info(
            "supervision %s%s", notice.state, f" by {who.name} ({who.role})" if who else ""
        )
        await self._notify()

    def _take_warm(self) -> WarmPeer | None:
        warm, self._warm = self._warm, None
        if warm is not None and not warm.fresh():
            self._spawn(warm.pc.close())
            return None
        return warm

    async def _warm_up(self) -> None:
        """Make the next call's peer and offer now, while nobody is waiting for them."""
        if self._ice is None or self._warm is not None or not self.sio.connected:
            return
        servers, ttl = self._ice
        if any(s.credential for s in servers):
            # TURN credentials are minted for one session: a peer made ahead would take its
            # relay allocation for the next call with the last one's. The offer is made when
            # the next session opens instead, with its own (while the applicant waits).
            return
        peer = await make_peer(
            servers, ttl, document=self.document_track is not None, policy=self.ice_policy
        )
        if self._warm is None and self.sio.connected:
            self._warm = peer
        else:
            await peer.pc.close()

    async def _on_description(self, data: dict[str, Any]) -> None:
        answer = SessionDescription.model_validate(data)
        if (
            self.pc is None
            or answer.session_id != self.session_id
            or answer.attempt != self.media_attempt
        ):
            return  # another call's, or an earlier peer connection's
        sdp = share_bundle_candidates(answer.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=answer.type))
        pending, self._pending_candidates = self._pending_candidates, []
        for candidate in pending:
            await self._add_candidate(candidate)

    async def _on_ice_candidate(self, data: dict[str, Any]) -> None:
        candidate = IceCandidate.model_validate(data)
        if candidate.attempt != self.media_attempt:
            return  # an earlier peer connection's (or one not made yet)
        if self.pc is None or self.pc.remoteDescription is None:
            self._pending_candidates.append(candidate)
            return
        await self._add_candidate(candidate)

    async def _add_candidate(self, message: IceCandidate) -> None:
        assert self.pc is not None
        if not message.candidate:
            await self.pc.addIceCandidate(None)
            return
        text = message.candidate.removeprefix("candidate:")
        try:
            candidate = candidate_from_sdp(text)
        except (ValueError, IndexError):
            self._log().warning("ignored unparsable ICE candidate %r", message.candidate[:80])
            return
        candidate.sdpMid = message.sdp_mid
        candidate.sdpMLineIndex = message.sdp_mline_index
        await self.pc.addIceCandidate(candidate)

    async def _on_call_ended(self, data: dict[str, Any]) -> None:
        ended = CallEnded.model_validate(data)
        if ended.session_id != self.session_id:
            return
        self.end_reason = ended.reason
        # a lost call (server, clerk or network gone) may be asked for again at the front
        self.recall_of = ended.session_id if ended.recall else None
        await self._close_peer()
        await self._set_state(TerminalState.ENDED)
        self._spawn(self._warm_up())

    async def _on_call_transferred(self, data: dict[str, Any]) -> None:
        moved = CallTransferred.model_validate(data)
        in_call = self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL)
        if moved.session_id != self.session_id or not in_call:
            return
        self.version = max(self.version, moved.version)
        self.transfer = moved
        self.clerk_name = None
        self.position = None
        self.estimated_wait_s = None
        self.media_state = None
        self._supervision = None
        self._reported = None
        self.media_stalled = False
        self._log().info(
            "transferred to %s%s",
            moved.department_id,
            f" ({moved.clerk_name})" if moved.clerk_name else "",
        )
        # the last clerk's peer connection goes; the next clerk's starts from attempt 0
        await self._close_peer()
        self.media_attempt = 0
        await self._set_state(TerminalState.QUEUED)
        # a fresh offer now, held by the server for whoever takes the call up
        servers = self._ice[0] if self._ice else self._call_ice
        await self._open_peer(moved.session_id, servers)

    async def _on_hold(self, data: dict[str, Any]) -> None:
        hold = Hold.model_validate(data)
        in_call = self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL)
        if hold.session_id != self.session_id or not in_call:
            return
        self.on_hold = hold.on
        if hold.clerk_name is not None:
            self.clerk_name = hold.clerk_name  # handed over: the call goes on with them
        self._log().info(
            "hold %s%s",
            "on" if hold.on else "off",
            f" (now {hold.clerk_name})" if hold.clerk_name else "",
        )
        await self._notify()
        if hold.attempt is not None and self.media is not None and not self._closing:
            # the new clerk's console answers this peer connection
            await self.restart_media(hold.attempt)

    async def _on_prompt(self, data: dict[str, Any]) -> None:
        prompt = Prompt.model_validate(data)
        if prompt.session_id != self.session_id:
            return
        self.prompts.append(prompt)
        self._log().info("clerk pushed a %s prompt", prompt.kind)
        if self.on_prompt is not None:
            self.on_prompt(prompt)
        await self._notify()

    async def _on_step(self, data: dict[str, Any]) -> None:
        step = SetStep.model_validate(data)
        if step.session_id != self.session_id:
            return
        self.step = step.step
        self._log().info("step %d", step.step)
        if self.on_step is not None:
            self.on_step(step.step)
        await self._notify()

    async def _on_error(self, data: dict[str, Any]) -> None:
        error = ErrorEvent.model_validate(data)
        self.errors.append(error)
        self._log().warning("server refused %s: %s", error.event, error.message)
        if self.on_error is not None:
            self.on_error(error)
        await self._notify()

    def _on_refused(self, data: Any) -> None:
        # socket.io reports a refused namespace only as "failed to connect"; keep the reason.
        self._refusal = data.get("message", "") if isinstance(data, dict) else str(data)

    async def _on_disconnect(self, *args: Any) -> None:
        self.online = False
        waiting_or_in_call = self.state in (
            TerminalState.QUEUED,
            TerminalState.RINGING,
            TerminalState.CONNECTING,
            TerminalState.IN_CALL,
        )
        if waiting_or_in_call and self.resume_token and not self._closing:
            # the call's media is peer to peer and may never have stopped: come back to the
            # server with the resume token and carry on where the session is
            self._log().warning("connection to the server lost; resuming")
            if self._resuming is None or self._resuming.done():
                self._resuming = self._spawn(self._resume())
            return
        self._spawn(self._close_peer())
        self.state = TerminalState.DISCONNECTED
        self._log().info("disconnected from server")
        await self._notify()

    async def _resume(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.resume_for_s
        delay = 0.2
        while loop.time() < give_up and not self._closing:
            # jittered: the kiosks of a lost server process must not all come back at once
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            try:
                await self.connect()
                return
            except TerminalError as exc:
                self._log().info("still offline: %s", exc.message)
                delay = min(delay * 2, 2.0)
        self._log().warning("the server did not come back in time; the session is given up")
        await self._close_peer()
        self.end_reason = "connection_lost"
        self.state = TerminalState.DISCONNECTED
        await self._notify()

    async def _on_snapshot(self, data: dict[str, Any]) -> None:
        snapshot = SessionSnapshot.model_validate(data)
        if snapshot.resume_token:
            self.resume_token = snapshot.resume_token
        self.ice_policy = snapshot.ice_transport_policy
        active = self.state in (
            TerminalState.QUEUED,
            TerminalState.RINGING,
            TerminalState.CONNECTING,
            TerminalState.IN_CALL,
        )
        if not active or self.session_id is None:
            return
        if snapshot.session_id != self.session_id:
            # the server ended it while we were away
            self._log().warning("session is gone after reconnecting")
            self.end_reason = "connection_lost"
            await self._close_peer()
            await self._set_state(TerminalState.ENDED)
            return
        self.version = max(self.version, snapshot.version)
        if (
            snapshot.call is not None
            and self.state in (TerminalState.QUEUED, TerminalState.RINGING)
            and snapshot.state in (SessionState.CONNECTING, SessionState.IN_CALL)
        ):
            # the call_accepted message was lost (a message bus restart): take it from here
            await self._on_call_accepted(snapshot.call.model_dump(mode="json"))
            return
        if snapshot.state in (SessionState.QUEUED, SessionState.OFFERED):
            target = (
                TerminalState.RINGING
                if snapshot.state == SessionState.OFFERED
                else TerminalState.QUEUED
            )
            if target != self.state and self.state in (TerminalState.QUEUED, TerminalState.RINGING):
                await self._set_state(target)
        self._log().info("resumed in state %s", snapshot.state)
        if snapshot.media is not None and self.state == TerminalState.IN_CALL:
            await self._take_media_state(snapshot.media)
        if self.state in (TerminalState.CONNECTING, TerminalState.IN_CALL):
            # a notice sent while this kiosk was away (a barge, or its end) is in the snapshot
            self._supervision = snapshot.supervision
        await self._notify()

    async def _check_version(self, version: int) -> None:
        """A message newer than the next one expected means one was lost: ask for a snapshot."""
        if version > self.version + 1 and self.sio.connected:
            await self.sio.emit(
                Event.SYNC.value,
                SyncRequest().model_dump(mode="json"),
                namespace=NAMESPACE_TERMINAL,
            )
        self.version = max(self.version, version)

    async def _close_peer(self) -> None:
        watch, self._media_watch = self._media_watch, None
        if watch is not None and watch is not asyncio.current_task():
            watch.cancel()
        pc, self.pc = self.pc, None
        self._pc_session = None
        media, self.media = self.media, None
        document, self._document = self._document, None
        recorder, self.recorder = self.recorder, None
        await self.video_in.stop()
        await self.audio_in.stop()
        if pc is not None:
            await pc.close()
        if media is not None:
            media.stop()
        if document is not None:
            document.stop()
        if recorder is not None:
            # the last segments upload in the background; close() waits for them
            task = asyncio.get_running_loop().create_task(recorder.close())
            self._recorders_closing.add(task)
            task.add_done_callback(self._recorders_closing.discard)


def _both(first: FrameListener | None, second: FrameListener) -> FrameListener:
    """A frame listener that calls ``first`` (if any), then ``second``."""
    if first is None:
        return second

    def both(frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        first(frame, wall)
        second(frame, wall)

    return both
