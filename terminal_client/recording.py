"""Recording a call at the kiosk and uploading it while the call goes on.

Two sides are recorded from frames, never re-decoded: the *applicant* side from the kiosk's
own camera and microphone (tapped as the call sends them), the *clerk* side from the
clerk's video and audio as the kiosk decoded them — what the applicant saw and heard. Each
finished segment is uploaded over HTTP at once (``PUT /api/sessions/{id}/recordings/...``)
and retried until the server has it, so a crash loses at most the segment being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc.mediastreams import MediaStreamTrack
from av.frame import Frame
from av.packet import Packet

from media.recording import RecordingSettings, Segment, SegmentRecorder, SourceClock
from media.sources import LocalMedia
from signaling.logs import context_log
from signaling.messages import SegmentMeta

log = logging.getLogger(__name__)

SIDES = ("applicant", "clerk")
DOCUMENT = "document"
# The paper lies still under the document camera: a few pictures a second show it being
# placed and turned, for a fraction of the applicant camera's encoding cost.
DOCUMENT_FPS = 5.0
RETRY_MAX_S = 5.0


class TapTrack(MediaStreamTrack):
    """A local track passed through unchanged, each frame also handed to ``record`` with
    when it was captured."""

    def __init__(
        self,
        source: MediaStreamTrack,
        record: Callable[[av.VideoFrame | av.AudioFrame, float], None],
    ) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.record = record
        self.clock = SourceClock()

    async def recv(self) -> Frame | Packet[Any]:
        frame = await self.source.recv()
        if isinstance(frame, av.VideoFrame | av.AudioFrame):
            # stamped in the source's media time: a frame the loaded CPU handed over late
            # would otherwise be recorded late, and the picture drift from the sound
            self.record(frame, self.clock.stamp(frame, time.time()))
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class CallRecorder:
    """Records one call's two sides and uploads their segments to the server.

    Wrap the local media with :meth:`tap`, give :meth:`clerk` the clerk's decoded frames,
    :meth:`start` when media connects, and ``await`` :meth:`close` when the call ends.
    """

    def __init__(
        self,
        server_url: str,
        token: str,
        settings: RecordingSettings | None = None,
        directory: Path | None = None,
        name: str = "kiosk",
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.token = token
        self.settings = settings or RecordingSettings()
        self.name = name
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="vcounter-rec-"))
        self.session_id: str | None = None
        self.t0: float | None = None
        self.uploaded: list[SegmentMeta] = []
        self._sides: dict[str, SegmentRecorder] = {}
        self._pending: asyncio.Queue[Segment | None] = asyncio.Queue()
        self._uploader: asyncio.Task[None] | None = None
        self._with_document = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def cpu_s(self) -> float:
        """CPU time the encoder threads have used so far."""
        return sum(side.cpu_s for side in self._sides.values())

    def tap(self, media: LocalMedia) -> LocalMedia:
        """``media`` with its camera and microphone also recorded (as the call sends them)."""
        return LocalMedia(
            TapTrack(media.video, self.applicant), TapTrack(media.audio, self.applicant),
            media.players,
        )  # fmt: skip

    def tap_document(self, track: MediaStreamTrack) -> MediaStreamTrack:
        """The document camera's ``track``, also recorded as the ``document`` side."""
        self._with_document = True
        return TapTrack(track, self.document)

    def start(self, session_id: str) -> None:
        """Media connected: from now on frames are recorded, on the timeline of ``time.time()``."""
        if self.t0 is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.session_id = session_id
        self.t0 = time.time()
        for side in SIDES:
            self._sides[side] = SegmentRecorder(
                side, self.directory / side, self.t0, self._finished, self.settings
            )
        if self._with_document:
            slow = dataclasses.replace(self.settings, fps=min(self.settings.fps, DOCUMENT_FPS))
            self._sides[DOCUMENT] = SegmentRecorder(
                DOCUMENT, self.directory / DOCUMENT, self.t0, self._finished, slow,
                with_audio=False,
            )  # fmt: skip
        self._uploader = self._loop.create_task(self._upload_loop(), name="recording-upload")
        self._log().info(
            "recording at %dx%d@%g fps in %g s segments",
            self.settings.width, self.settings.height, self.settings.fps, self.settings.segment_s,
        )  # fmt: skip

    def applicant(self, frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        """A frame of the kiosk's own camera or microphone."""
        side = self._sides.get("applicant")
        if side is not None:
            side.push(frame, wall)

    def document(self, frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        """A frame of the document camera, as the call sends it."""
        side = self._sides.get(DOCUMENT)
        if side is not None:
            side.push(frame, wall)

    def clerk(self, frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        """A frame of the clerk's video or audio, as the kiosk decoded it."""
        side = self._sides.get("clerk")
        if side is not None:
            side.push(frame, wall)

    async def close(self, upload_timeout_s: float = 20.0) -> None:
        """Finish the last segments and upload what is left (giving up after the timeout)."""
        sides, self._sides = self._sides, {}
        for side in sides.values():
            await asyncio.to_thread(side.close)
        uploader = self._uploader
        if uploader is not None:
            self._pending.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(uploader), upload_timeout_s)
            except TimeoutError:
                left = self._pending.qsize()
                self._log().warning("gave up uploading %d recording segments", left)
                uploader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await uploader
        if self._own_dir:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)

    def _finished(self, segment: Segment) -> None:
        # called in a recorder's thread: hand over to the event loop
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._pending.put_nowait, segment)

    async def _upload_loop(self) -> None:
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as http:
            while (segment := await self._pending.get()) is not None:
                await self._upload(http, segment)

    async def _upload(self, http: aiohttp.ClientSession, segment: Segment) -> None:
        assert self.session_id is not None and self.t0 is not None
        data = await asyncio.to_thread(segment.path.read_bytes)
        meta = SegmentMeta(
            side=segment.side,
            index=segment.index,
            sha256=hashlib.sha256(data).hexdigest(),
            start_ms=segment.start_ms,
            end_ms=segment.end_ms,
            video_frames=segment.video_frames,
            audio_ms=segment.audio_ms,
            t0=self.t0,
        )
        url = (
            f"{self.server_url}/api/sessions/{self.session_id}/recordings/"
            f"{segment.side}/{segment.index}"
        )
        headers = {"X-Segment": meta.model_dump_json(), "Content-Type": "video/webm"}
        delay = 0.25
        while True:
            try:
                async with http.put(url, data=data, headers=headers) as response:
                    if response.status in (200, 201):
                        break
                    body = await response.text()
                    if response.status < 500 and response.status != 429:
                        # refused for good (not this kiosk's session, not a recording)
                        self._log().error(
                            "server refused %s segment %d: %s %s",
                            segment.side, segment.index, response.status, body[:200],
                        )  # fmt: skip
                        return
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._log().warning("upload of %s segment %d failed: %s; retrying",
                                    segment.side, segment.index, exc)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        self.uploaded.append(meta)
        await asyncio.to_thread(segment.path.unlink, True)

    def _log(self) -> logging.LoggerAdapter[logging.Logger]:
        return context_log(log, self.session_id, f"terminal:{self.name}")
