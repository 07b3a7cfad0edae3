"""Recording a call at the kiosk and uploading it while the call goes on.

Two sides are recorded from frames, never re-decoded: the *applicant* side from the kiosk's
own camera and microphone (tapped as the call sends them), the *clerk* side from the
clerk's video and audio as the kiosk decoded them — what the applicant saw and heard. Each
finished segment is handed to the kiosk's :class:`RecordingBacklog` (kept on disk, uploaded
over HTTP at once with ``PUT /api/sessions/{id}/recordings/...`` and retried until the server
has it, also after a server outage or a kiosk restart), so a crash loses at most the segment
being written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamTrack
from av.frame import Frame
from av.packet import Packet

from media.recording import RecordingSettings, Segment, SegmentRecorder, SourceClock
from media.sources import LocalMedia
from signaling.logs import context_log
from signaling.messages import SegmentMeta
from terminal_client.recording_backlog import RecordingBacklog

log = logging.getLogger(__name__)

SIDES = ("applicant", "clerk")
DOCUMENT = "document"
# The paper lies still under the document camera: a few pictures a second show it being
# placed and turned, for a fraction of the applicant camera's encoding cost.
DOCUMENT_FPS = 5.0


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
    """Records one call's two sides and hands their segments to the upload backlog.

    Wrap the local media with :meth:`tap`, give :meth:`clerk` the clerk's decoded frames,
    :meth:`start` when media connects, and ``await`` :meth:`close` when the call ends.
    Without a ``backlog`` the recorder keeps its own (in a temporary folder, for one call).
    """

    def __init__(
        self,
        server_url: str,
        token: str,
        settings: RecordingSettings | None = None,
        directory: Path | None = None,
        name: str = "kiosk",
        backlog: RecordingBacklog | None = None,
    ) -> None:
        self.settings = settings or RecordingSettings()
        self.name = name
        self._own_dir = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="vcounter-rec-"))
        self._own_backlog = backlog is None
        self.backlog = backlog or RecordingBacklog(
            server_url, token, self.directory / "backlog", name=name
        )
        self.session_id: str | None = None
        self.t0: float | None = None
        self._sides: dict[str, SegmentRecorder] = {}
        self._pending: asyncio.Queue[Segment | None] = asyncio.Queue()
        self._uploader: asyncio.Task[None] | None = None
        self._with_document = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def uploaded(self) -> list[SegmentMeta]:
        """This call's segments the server has stored so far."""
        return [meta for sid, meta in self.backlog.uploaded if sid == self.session_id]

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
        self._uploader = self._loop.create_task(self._handover(), name="recording-handover")
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
        """Finish the last segments and wait (up to the timeout) for their upload.

        Segments the server has not stored by then stay in the backlog, on disk, and are
        uploaded when it is back (also after a kiosk restart, with a backlog folder that lasts).
        """
        sides, self._sides = self._sides, {}
        for side in sides.values():
            await asyncio.to_thread(side.close)
        handover = self._uploader
        if handover is not None:
            self._pending.put_nowait(None)
            await handover  # local moves only: quick, and nothing may be left behind
            if not await self.backlog.wait_uploaded(self.session_id, upload_timeout_s):
                left = [p for p in self.backlog.pending() if p.session_id == self.session_id]
                self._log().warning(
                    "%d recording segments not uploaded yet: kept in %s until the server has"
                    " them", len(left), self.backlog.folder,
                )  # fmt: skip
        if self._own_backlog:
            await self.backlog.close()
        # the finished segments were moved into the backlog: the folder holds at most an
        # unfinished one, unless it also holds this recorder's own backlog
        keep = self._own_backlog and bool(await asyncio.to_thread(self.backlog.pending))
        if self._own_dir and not keep:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)

    def _finished(self, segment: Segment) -> None:
        # called in a recorder's thread: hand over to the event loop
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._pending.put_nowait, segment)

    async def _handover(self) -> None:
        await self.backlog.start()
        while (segment := await self._pending.get()) is not None:
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
            await self.backlog.add(self.session_id, meta, segment.path)

    def _log(self) -> logging.LoggerAdapter[logging.Logger]:
        return context_log(log, self.session_id, f"terminal:{self.name}")
