"""Recording one side of a call into short WebM segments (VP8 + Opus), off the event loop.

A :class:`SegmentRecorder` takes decoded video and audio frames with the wall-clock time
they were captured (a local source's own timestamps, through :class:`SourceClock`) or decoded, and encodes them in its own thread into files of
``segment_s`` seconds each. Every timestamp is milliseconds since the call's ``t0``, on
both sides, so the two sides and the session's events share one timeline and the segments
of a side concatenate into one playable file (:func:`concatenate`).

Why these settings: VP8 in real-time mode at speed 8 and 15 fps costs a few milliseconds a
frame at 640×480 (the whole recorder stays well under 20 % of a core for both sides), WebM
with VP8/Opus plays in every Chromium build, and each segment starts with a key frame so it
decodes alone: a crash loses at most the segment being written.
"""

from __future__ import annotations

import contextlib
import fractions
import io
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from av.audio.resampler import AudioResampler
from av.container import OutputContainer
from av.video.reformatter import VideoReformatter

from media.errors import MediaError

log = logging.getLogger(__name__)

MS = fractions.Fraction(1, 1000)
AUDIO_RATE = 48_000
AUDIO_FRAME = 960  # 20 ms: what Opus encodes at once
# A gap longer than this between the audio timeline and the wall clock (the remote paused,
# packets were lost) re-anchors the audio to the wall clock instead of drifting.
AUDIO_RESYNC_S = 0.1
WEBM_MAGIC = b"\x1a\x45\xdf\xa3"


class RecordingError(MediaError):
    code = "recording_error"


# A frame whose own clock puts it this far behind its arrival is taken as the source's clock
# jumping (a restarted camera), not as delay: the track is re-anchored to the wall clock. A
# loaded 2-core machine hands frames over up to a second late; re-anchoring then would
# move one track against the other.
SOURCE_JUMP_S = 5.0


class SourceClock:
    """Maps one local track's frame timestamps (``pts × time_base``) onto the wall clock.

    A frame is stamped with when its source made it, not when a busy process got round to
    it: the offset between the track's media time and the wall clock is the smallest seen
    (the frame that waited least), so a frame held up by a loaded CPU keeps its place and
    audio and video stay together in the recording. Frames without timestamps, and a
    source whose clock jumps, fall back to the arrival time.
    """

    def __init__(self) -> None:
        self._offset: float | None = None

    def stamp(self, frame: av.VideoFrame | av.AudioFrame, wall: float) -> float:
        """When ``frame`` was captured, on the ``time.time()`` timeline (it arrived at ``wall``)."""
        if frame.pts is None or frame.time_base is None:
            return wall
        media = float(frame.pts * frame.time_base)
        if self._offset is None or wall - media < self._offset:
            self._offset = wall - media
        captured = self._offset + media
        if wall - captured > SOURCE_JUMP_S:
            self._offset = wall - media
            captured = wall
        return captured


@dataclass(frozen=True)
class RecordingSettings:
    """What a recording is made of; the defaults are measured in ``bench/recording.py``."""

    segment_s: float = 4.0
    width: int = 640
    height: int = 480
    fps: float = 15.0
    video_kbps: int = 500
    audio_kbps: int = 32


@dataclass(frozen=True)
class Segment:
    """A finished segment file of one side."""

    side: str
    index: int
    path: Path
    start_ms: int  # first frame, ms since t0
    end_ms: int  # end of the last frame
    video_frames: int
    audio_ms: int


class _Open:
    """The segment being written: its container, streams and counts."""

    def __init__(
        self, path: Path, index: int, settings: RecordingSettings, with_audio: bool = True
    ) -> None:
        self.path = path
        self.index = index
        self.container: OutputContainer = av.open(str(path), mode="w", format="webm")
        video = self.container.add_stream("libvpx", rate=round(settings.fps))
        video.width, video.height, video.pix_fmt = settings.width, settings.height, "yuv420p"
        video.bit_rate = settings.video_kbps * 1000
        video.codec_context.time_base = MS
        # real time, fastest speed, no look-ahead: every frame is encoded as it comes
        video.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        # one thread: the call's own encoders and decoders need the other cores more
        video.codec_context.thread_count = 1
        audio = None
        if with_audio:
            audio = self.container.add_stream("libopus", rate=AUDIO_RATE, layout="mono")
            audio.bit_rate = settings.audio_kbps * 1000
        self.video, self.audio = video, audio
        self.start_ms: int | None = None
        self.end_ms = 0
        self.video_frames = 0
        self.audio_samples = 0

    def note(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms if self.start_ms is None else min(self.start_ms, start_ms)
        self.end_ms = max(self.end_ms, end_ms)

    def close(self) -> None:
        for stream in (self.video, self.audio):
            if stream is None:
                continue
            for packet in stream.encode(None):
                self.container.mux(packet)
        self.container.close()


class SegmentRecorder:
    """Encodes one side (``"applicant"``, ``"clerk"`` or ``"document"``) into segments in its own thread.

    Call :meth:`push` from the event loop (cheap: it only queues); ``on_segment`` is called
    from the recorder's thread with each finished :class:`Segment`. :meth:`close` finishes
    the last segment.
    """

    def __init__(
        self,
        side: str,
        directory: Path,
        t0: float,
        on_segment: Callable[[Segment], None],
        settings: RecordingSettings | None = None,
        max_queue: int = 120,
        with_audio: bool = True,
    ) -> None:
        self.side = side
        # the document camera has no microphone: its segments are video only
        self.with_audio = with_audio
        self.directory = directory
        self.t0 = t0
        self.on_segment = on_segment
        self.settings = settings or RecordingSettings()
        self.dropped = 0
        self.cpu_s = 0.0  # CPU time spent by the recorder's thread
        self._queue: queue.Queue[tuple[av.VideoFrame | av.AudioFrame, float] | None] = queue.Queue(
            maxsize=max_queue
        )
        self._next_video = 0.0
        self._open: _Open | None = None
        self._reformatter = VideoReformatter()
        self._resampler = AudioResampler(
            format="s16", layout="mono", rate=AUDIO_RATE, frame_size=AUDIO_FRAME
        )
        self._audio_next: int | None = None  # next audio sample's pts (1/48000 s since t0)
        self._failed: BaseException | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name=f"record-{side}", daemon=True)
        self._thread.start()

    def push(self, frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        """Queue a frame captured or decoded at ``wall`` (``time.time()``); never blocks."""
        if isinstance(frame, av.VideoFrame):
            # at most ``fps`` pictures a second: the rest are not even queued
            if wall < self._next_video:
                return
            period = 1.0 / self.settings.fps
            self._next_video = max(self._next_video + period, wall - period / 2)
        try:
            self._queue.put_nowait((frame, wall))
        except queue.Full:
            self.dropped += 1  # the encoder fell behind: drop, never stall the call

    def close(self) -> None:
        """Finish the current segment and stop the thread (blocking: run it in a thread)."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=5)
        self._thread.join(timeout=30)
        if self._failed is not None:
            raise RecordingError(
                f"recording of the {self.side} side failed: {self._failed}; the segments"
                " written before it are kept"
            ) from self._failed

    def _run(self) -> None:
        started = time.thread_time()
        try:
            while (item := self._queue.get()) is not None:
                frame, wall = item
                self._write(frame, wall)
                self.cpu_s = time.thread_time() - started
            self._finish()
        except Exception as exc:
            self._failed = exc
            log.exception("recording of the %s side failed", self.side)
            with contextlib.suppress(Exception):
                self._finish()
        self.cpu_s = time.thread_time() - started

    def _segment_for(self, t_ms: int) -> _Open:
        index = max(0, int(t_ms / (self.settings.segment_s * 1000)))
        current = self._open
        if current is not None and index > current.index:
            self._finish()
            current = None
        if current is None:
            path = self.directory / f"{self.side}-{index:05d}.webm"
            current = self._open = _Open(path, index, self.settings, self.with_audio)
        return current

    def _write(self, frame: av.VideoFrame | av.AudioFrame, wall: float) -> None:
        t_ms = round((wall - self.t0) * 1000)
        if t_ms < 0:
            return  # from before the call started
        if isinstance(frame, av.VideoFrame):
            segment = self._segment_for(t_ms)
            # one thread: swscale's own threads would compete with the call for the cores
            out = self._reformatter.reformat(
                frame, self.settings.width, self.settings.height, format="yuv420p", threads=1
            )
            out.pts, out.time_base = t_ms, MS
            for packet in segment.video.encode(out):
                segment.container.mux(packet)
            segment.video_frames += 1
            segment.note(t_ms, t_ms + round(1000 / self.settings.fps))
            return
        if self.with_audio:
            self._write_audio(frame, wall)

    def _write_audio(self, frame: av.AudioFrame, wall: float) -> None:
        start = round((wall - self.t0) * AUDIO_RATE) - frame.samples * AUDIO_RATE // max(
            1, frame.sample_rate
        )
        slack = AUDIO_RESYNC_S * AUDIO_RATE
        if self._audio_next is None or start > self._audio_next + slack:
            self._audio_next = max(0, start)  # the first frame, or a gap: jump to the clock
        elif start < self._audio_next - slack:
            # ahead of the clock (a burst after a stall already jumped over): timestamps only
            # ever grow, so this audio is dropped rather than written over the past
            self.dropped += 1
            return
        # A copy without timestamps: the frame is shared with the call's encoder (never touch
        # it), and the resampler would check our timeline against the source's.
        copy = av.AudioFrame.from_ndarray(
            frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
        )
        copy.sample_rate = frame.sample_rate
        for out in self._resampler.resample(copy):
            pts = self._audio_next
            t_ms = pts * 1000 // AUDIO_RATE
            segment = self._segment_for(t_ms)
            out.pts, out.time_base = pts, fractions.Fraction(1, AUDIO_RATE)
            assert segment.audio is not None  # only sides with audio get here
            for packet in segment.audio.encode(out):
                segment.container.mux(packet)
            segment.audio_samples += out.samples
            segment.note(t_ms, (pts + out.samples) * 1000 // AUDIO_RATE)
            self._audio_next = pts + out.samples

    def _finish(self) -> None:
        current, self._open = self._open, None
        if current is None:
            return
        current.close()
        if current.start_ms is None:
            current.path.unlink(missing_ok=True)  # nothing was written into it
            return
        self.on_segment(
            Segment(
                self.side,
                current.index,
                current.path,
                current.start_ms,
                current.end_ms,
                current.video_frames,
                current.audio_samples * 1000 // AUDIO_RATE,
            )
        )


def concatenate(segments: list[bytes], target: Path) -> None:
    """Remux one side's segments (in order) into one WebM at ``target``; no re-encoding.

    Blocking: run it in a thread. Raises :class:`RecordingError` naming a segment that is
    not a WebM recording.
    """
    if not segments:
        raise RecordingError("no segments to put together")
    tmp = target.with_suffix(".part")
    for number, data in enumerate(segments):
        if not data.startswith(WEBM_MAGIC):
            raise RecordingError(f"segment {number} is not a WebM recording")
    with av.open(str(tmp), mode="w", format="webm") as output:
        # every stream before the first packet: the muxer writes its header on the first one
        with av.open(io.BytesIO(segments[0]), mode="r", format="webm") as first:
            streams = {s.type: output.add_stream_from_template(s) for s in first.streams}
        for data in segments:
            with av.open(io.BytesIO(data), mode="r", format="webm") as source:
                for packet in source.demux():
                    target_stream = streams.get(packet.stream.type)
                    if packet.dts is None or target_stream is None:
                        continue
                    packet.stream = target_stream
                    output.mux(packet)
    tmp.replace(target)
