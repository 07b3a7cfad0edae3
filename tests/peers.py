"""Test peers: a clerk driven from Python (socket.io + aiortc), like the console does it."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import socketio
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from media.sinks import FrameCounter
from media.sources import LocalMedia, create_local_tracks
from signaling.messages import (
    NAMESPACE_CLERK,
    CallAccepted,
    CallOffered,
    ClerkStatus,
    ErrorEvent,
    Event,
    IceCandidate,
    MediaState,
    MediaStatus,
    SessionDescription,
)


async def login(url: str, username: str, password: str) -> str:
    """The console's login call; returns the token."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/login", json={"username": username, "password": password}) as r,
    ):
        body = await r.json()
        if r.status != 200:
            raise AssertionError(f"login failed: {r.status} {body}")
        return str(body["token"])


class ClerkPeer:
    """A clerk console in Python: answers offers with synthetic media, counts what it gets."""

    def __init__(self, url: str, token: str, auto_accept: bool = True) -> None:
        self.url = url
        self.token = token
        self.auto_accept = auto_accept
        self.sio = socketio.AsyncClient(reconnection=False)
        self.status: ClerkStatus | None = None
        self.resume_token: str | None = None
        self.offers: list[CallOffered] = []
        self.early_offers: dict[str, str] = {}
        self.withdrawn: list[dict[str, Any]] = []
        self.ended: list[dict[str, Any]] = []
        self.errors: list[ErrorEvent] = []
        self.session_id: str | None = None
        self.pc: RTCPeerConnection | None = None
        self.media: LocalMedia | None = None
        self.video_in = FrameCounter()
        self.audio_in = FrameCounter()
        self.document_in = FrameCounter()  # a kiosk's document camera, when it sends one
        self.connected = asyncio.Event()
        self.changed = asyncio.Event()
        self.attempt = 0  # the call's peer connection: +1 for each the kiosk makes anew
        self.media_states: list[MediaState] = []
        self._accepted: CallAccepted | None = None
        self._relay = MediaRelay()
        for event, handler in {
            Event.CLERK_STATUS: self._on_status,
            Event.CALL_OFFERED: self._on_offered,
            Event.CALL_WITHDRAWN: self.withdrawn.append,
            Event.CALL_ACCEPTED: self._on_accepted,
            Event.DESCRIPTION: self._on_description,
            Event.CALL_ENDED: self._on_ended,
            Event.MEDIA_STATE: lambda d: self.media_states.append(MediaState.model_validate(d)),
            Event.ERROR: lambda d: self.errors.append(ErrorEvent.model_validate(d)),
        }.items():
            self.sio.on(event.value, self._notify(handler), namespace=NAMESPACE_CLERK)

    def _notify(self, handler: Any) -> Any:
        async def wrapped(data: Any) -> None:
            result = handler(data)
            if asyncio.iscoroutine(result):
                await result
            self.changed.set()

        return wrapped

    async def connect(self, resume: bool = False) -> None:
        """Connect; with ``resume``, show the token of the last socket to carry on."""
        auth = {"token": self.token}
        if resume and self.resume_token:
            auth["resume"] = self.resume_token
        await self.sio.connect(
            self.url, namespaces=[NAMESPACE_CLERK], auth=auth,
            transports=["websocket"], wait_timeout=10,
        )  # fmt: skip

    async def emit(self, event: str, payload: Any) -> None:
        await self.sio.emit(event, payload, namespace=NAMESPACE_CLERK)

    async def wait(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, re-checking after every message."""

        async def loop() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), timeout)

    async def _on_status(self, data: Any) -> None:
        self.status = ClerkStatus.model_validate(data)
        if self.status.resume_token:
            self.resume_token = self.status.resume_token

    async def _on_offered(self, data: Any) -> None:
        offer = CallOffered.model_validate(data)
        self.offers.append(offer)
        if self.auto_accept:
            await self.emit("accept", {"session_id": offer.session_id})

    async def _on_accepted(self, data: Any) -> None:
        accepted = CallAccepted.model_validate(data)
        self.session_id = accepted.session_id
        self._accepted = accepted
        self.attempt = 0
        self._new_peer(accepted)
        # the kiosk's offer came with the call (or while it rang): answer it now
        rang = next((o for o in self.offers if o.session_id == accepted.session_id), None)
        held = self.early_offers.pop(accepted.session_id, None) or (rang.offer if rang else None)
        if held is not None:
            await self._answer(
                SessionDescription(session_id=accepted.session_id, type="offer", sdp=held)
            )

    def _new_peer(self, accepted: CallAccepted) -> None:
        servers = [
            RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in accepted.ice_servers
        ]
        # max-bundle: a kiosk with a document camera offers three m-lines on one transport
        config = RTCConfiguration(
            iceServers=servers,
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            iceTransportPolicy=RTCIceTransportPolicy(accepted.ice_transport_policy),
        )
        self.pc = RTCPeerConnection(config)
        if self.media is None:  # a new peer connection for the same call keeps the camera
            self.media = create_local_tracks(True, "", "", label="clerk")
        self.video_in, self.audio_in = FrameCounter(), FrameCounter()
        self.document_in = FrameCounter()
        pc = self.pc
        videos = 0

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            nonlocal videos
            if track.kind == "video":
                videos += 1  # the applicant's camera first, then the document camera
                (self.video_in if videos == 1 else self.document_in).start(track)
            else:
                self.audio_in.start(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected" and self.session_id and self.pc is pc:
                self.connected.set()
                status = MediaStatus(
                    session_id=self.session_id, state="connected", attempt=self.attempt
                )
                await self.emit("media_status", status.model_dump())

    async def report(self, state: str, stalled_ms: int = 0) -> None:
        """Report this side's media as the console does (``interrupted``, ``failed``, ...)."""
        assert self.session_id is not None
        status = MediaStatus(
            session_id=self.session_id,
            state=state,  # type: ignore[arg-type]
            attempt=self.attempt,
            stalled_ms=stalled_ms,
        )
        await self.emit("media_status", status.model_dump())

    async def _on_description(self, data: Any) -> None:
        offer = SessionDescription.model_validate(data)
        if self.pc is None or self.session_id != offer.session_id:
            self.early_offers[offer.session_id] = offer.sdp  # relayed while ringing
            return
        if offer.attempt > self.attempt and self._accepted is not None:
            # the kiosk made a new peer connection for the same call: answer with a new one
            old, self.pc = self.pc, None
            await self.video_in.stop()
            await self.audio_in.stop()
            await self.document_in.stop()
            await old.close()
            self.attempt = offer.attempt
            self._new_peer(self._accepted)
        elif offer.attempt < self.attempt:
            return
        await self._answer(offer)

    async def _answer(self, offer: SessionDescription) -> None:
        assert self.pc is not None and self.media is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        # copies of the tracks for each peer connection: aiortc stops a sender's own track
        # when the connection closes, and a new one for the same call needs the camera
        self.pc.addTrack(self._relay.subscribe(self.media.audio, buffered=False))
        self.pc.addTrack(self._relay.subscribe(self.media.video, buffered=False))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = SessionDescription(
            session_id=offer.session_id,
            type="answer",
            sdp=self.pc.localDescription.sdp,
            attempt=offer.attempt,
        )
        await self.emit("description", answer.model_dump())
        # aiortc puts its candidates in the SDP; say so, as a browser would after trickling.
        end = IceCandidate(
            session_id=offer.session_id, candidate="", sdp_mid="0", attempt=offer.attempt
        )
        await self.emit("ice_candidate", end.model_dump())

    async def _on_ended(self, data: Any) -> None:
        self.ended.append(data)
        await self.close_call()

    async def close_call(self) -> None:
        pc, self.pc = self.pc, None
        media, self.media = self.media, None
        await self.video_in.stop()
        await self.audio_in.stop()
        await self.document_in.stop()
        if pc is not None:
            await pc.close()
        if media is not None:
            media.stop()

    async def close(self) -> None:
        await self.close_call()
        # also when connect() was cancelled half-way: the engine.io transport may be open
        # although socket.io never said "connected", and the server's shutdown would wait for it
        await self.sio.disconnect()
