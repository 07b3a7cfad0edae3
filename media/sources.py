"""Local media for a peer: a real camera and microphone through PyAV, or synthetic ones.

The synthetic sources stand in when a kiosk has no devices (tests, demos, CI): a moving
colour-bar pattern with a visible clock and frame number, and a steady tone.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from dataclasses import dataclass, field
from datetime import datetime

import av
import cv2
import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.errors import DeviceUnavailable

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_SAMPLE_RATE = 48_000
AUDIO_PTIME = 0.020
AUDIO_SAMPLES = int(AUDIO_SAMPLE_RATE * AUDIO_PTIME)

_BARS_BGR = [
    (192, 192, 192),
    (0, 192, 192),
    (192, 192, 0),
    (0, 192, 0),
    (192, 0, 192),
    (0, 0, 192),
    (192, 0, 0),
]


class _Pacer:
    """Paces a source in real time from its first frame, as a capture device would."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.start: float | None = None
        self.index = 0

    async def next(self) -> int:
        """Sleep until the next frame is due and return its index."""
        now = time.monotonic()
        if self.start is None:
            self.start = now
        else:
            self.index += 1
            due = self.start + self.index * self.period
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 1.0:
                # Resynchronise after a long stall instead of bursting frames to catch up.
                self.start = now - self.index * self.period
        return self.index


@dataclass(frozen=True)
class VideoFormat:
    """A picture size and frame rate."""

    width: int
    height: int
    fps: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


# What a synthetic camera sends unless told otherwise: a kiosk camera's VGA at 30 fps. Read at
# each track's start, so a test run can make every synthetic camera smaller (tests/conftest.py).
SYNTHETIC_VIDEO = VideoFormat(640, 480, 30)


class SyntheticVideoTrack(MediaStreamTrack):
    """A test pattern (640×480@30 unless :data:`SYNTHETIC_VIDEO` says otherwise): colour bars
    drifting sideways, a clock and a frame counter."""

    kind = "video"

    def __init__(
        self,
        width: int | None = None,
        height: int | None = None,
        fps: int | None = None,
        label: str = "",
    ) -> None:
        super().__init__()
        default = SYNTHETIC_VIDEO
        self.width = width or default.width
        self.height = height or default.height
        self.fps = fps or default.fps
        self.label = label
        self._pacer = _Pacer(1 / self.fps)
        self._bars = self._draw_bars(self.width * 2, self.height)
        # the layout is drawn for 480 lines and scaled to the picture, once, not per frame
        self._k = k = self.height / 480
        self._band_top = self.height - round(90 * k)
        self._left = round(20 * k)
        self._thick, self._thin = max(1, round(3 * k)), max(1, round(2 * k))

    @staticmethod
    def _draw_bars(width: int, height: int) -> np.ndarray:
        bars = np.zeros((height, width, 3), dtype=np.uint8)
        step = width // (2 * len(_BARS_BGR))
        for i in range(2 * len(_BARS_BGR)):
            bars[:, i * step : (i + 1) * step] = _BARS_BGR[i % len(_BARS_BGR)]
        return bars

    def _render(self, index: int) -> av.VideoFrame:
        offset = (index * 4) % (self.width)
        image = np.ascontiguousarray(self._bars[:, offset : offset + self.width])
        clock = datetime.now().strftime("%H:%M:%S.") + f"{datetime.now().microsecond // 1000:03d}"
        k, left, thick, thin = self._k, self._left, self._thick, self._thin
        image[self._band_top :, :] = (32, 32, 32)
        font = cv2.FONT_HERSHEY_SIMPLEX
        white, grey = (255, 255, 255), (200, 200, 200)
        cv2.putText(image, clock, (left, self.height - round(40 * k)), font, 1.4 * k, white, thick)
        cv2.putText(
            image, f"#{index}", (left, self.height - round(12 * k)), font, 0.7 * k, grey, thin
        )
        if self.label:
            cv2.putText(image, self.label, (left, round(40 * k)), font, 1.0 * k, white, thin)
        # A ball sweeping a circle makes motion obvious even when the bars look still.
        angle = index * 2 * math.pi / (self.fps * 2)
        centre = (
            int(self.width / 2 + 120 * k * math.cos(angle)),
            int(self.height / 2 - 40 * k + 120 * k * math.sin(angle)),
        )
        cv2.circle(image, centre, round(24 * k), white, -1)
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        return frame

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.next()
        frame = self._render(index)
        frame.pts = int(index * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        return frame


class SyntheticAudioTrack(MediaStreamTrack):
    """A 440 Hz tone, 48 kHz mono s16, in 20 ms frames."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, level: float = 0.2) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = int(32767 * level)
        self._pacer = _Pacer(AUDIO_PTIME)
        self._time_base = fractions.Fraction(1, AUDIO_SAMPLE_RATE)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.next()
        start = index * AUDIO_SAMPLES
        t = (np.arange(start, start + AUDIO_SAMPLES) / AUDIO_SAMPLE_RATE).astype(np.float64)
        samples = (self.amplitude * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = start
        frame.time_base = self._time_base
        return frame


@dataclass
class LocalMedia:
    """The tracks a peer sends, and whatever devices must be released with them."""

    video: MediaStreamTrack
    audio: MediaStreamTrack
    players: list[MediaPlayer] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the tracks and release the devices; safe to call twice."""
        self.video.stop()
        self.audio.stop()
        for player in self.players:
            for track in (player.video, player.audio):
                if track is not None:
                    track.stop()


def open_camera(device: str, width: int = 640, height: int = 480, fps: int = 30) -> MediaPlayer:
    """Open a V4L2 camera through PyAV; raise :class:`DeviceUnavailable` if it cannot be used."""
    options = {"video_size": f"{width}x{height}", "framerate": str(fps)}
    try:
        player = MediaPlayer(device, format="v4l2", options=options)
    except (av.FFmpegError, OSError) as exc:
        raise DeviceUnavailable(
            f"Camera {device!r} cannot be opened ({exc}); check it is plugged in and not in "
            "use, or run the terminal with --synthetic."
        ) from exc
    if player.video is None:
        raise DeviceUnavailable(f"{device!r} has no video stream; pass another --camera.")
    return player


def open_microphone(device: str) -> MediaPlayer:
    """Open a microphone (PulseAudio, else ALSA) through PyAV; raise :class:`DeviceUnavailable`."""
    errors: list[str] = []
    for fmt in ("pulse", "alsa"):
        try:
            player = MediaPlayer(device, format=fmt)
        except (av.FFmpegError, OSError, ValueError) as exc:
            errors.append(f"{fmt}: {exc}")
            continue
        if player.audio is not None:
            return player
        errors.append(f"{fmt}: no audio stream")
    raise DeviceUnavailable(
        f"Microphone {device!r} cannot be opened ({'; '.join(errors)}); check the device name "
        "or run the terminal with --synthetic."
    )


def create_local_tracks(
    synthetic: bool, camera: str, microphone: str, label: str = ""
) -> LocalMedia:
    """The camera and microphone tracks a peer sends: synthetic ones, or the named devices."""
    if synthetic:
        return LocalMedia(SyntheticVideoTrack(label=label), SyntheticAudioTrack())
    cam = open_camera(camera)
    try:
        mic = open_microphone(microphone)
    except DeviceUnavailable:
        if cam.video is not None:
            cam.video.stop()
        raise
    assert cam.video is not None and mic.audio is not None
    return LocalMedia(cam.video, mic.audio, [cam, mic])
