"""A flash and a beep at the same instants: a source for checking audio/video sync.

:func:`sync_pattern` returns a camera and a microphone that share one clock: every
``period_s`` the picture turns white for two frames and a 1 kHz beep starts, otherwise the
picture is dark grey and the sound silent. Whatever records or relays them, the flash and
the onset of the beep must stay together.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.sources import AUDIO_PTIME, AUDIO_SAMPLE_RATE, AUDIO_SAMPLES, VIDEO_TIME_BASE, LocalMedia

BEEP_HZ = 1000.0
BEEP_S = 0.1
FLASH_FRAMES = 2


class _Clock:
    """The shared time origin, set by whichever track is pulled first."""

    def __init__(self) -> None:
        self.origin: float | None = None

    async def wait(self, t: float) -> None:
        if self.origin is None:
            self.origin = time.monotonic()
        delay = self.origin + t - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class FlashTrack(MediaStreamTrack):
    """Dark frames, white for :data:`FLASH_FRAMES` frames every ``period_s`` (from t = k × period)."""

    kind = "video"

    def __init__(self, clock: _Clock, period_s: float, fps: int = 30) -> None:
        super().__init__()
        self.clock, self.period_s, self.fps = clock, period_s, fps
        self.index = 0
        self._dark = np.full((480, 640, 3), 40, dtype=np.uint8)
        self._white = np.full((480, 640, 3), 255, dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        t = self.index / self.fps
        await self.clock.wait(t)
        # Two frames (66 ms at 30 fps): a recorder keeping every other frame still sees each
        # flash, its onset at most one source frame late.
        flash = (self.index % round(self.period_s * self.fps)) < FLASH_FRAMES
        frame = av.VideoFrame.from_ndarray(self._white if flash else self._dark, format="bgr24")
        frame.pts = round(t * 90_000)
        frame.time_base = VIDEO_TIME_BASE
        self.index += 1
        return frame


class BeepTrack(MediaStreamTrack):
    """Silence, with a ``BEEP_S`` 1 kHz beep starting every ``period_s``."""

    kind = "audio"

    def __init__(self, clock: _Clock, period_s: float) -> None:
        super().__init__()
        self.clock, self.period_s = clock, period_s
        self.index = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        start = self.index * AUDIO_SAMPLES
        await self.clock.wait(self.index * AUDIO_PTIME)
        n = np.arange(start, start + AUDIO_SAMPLES)
        t = n / AUDIO_SAMPLE_RATE
        on = (t % self.period_s) < BEEP_S
        samples = (on * 12000 * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = start
        frame.time_base = fractions.Fraction(1, AUDIO_SAMPLE_RATE)
        self.index += 1
        return frame


def sync_pattern(period_s: float = 1.0) -> LocalMedia:
    """A camera flashing and a microphone beeping together every ``period_s``."""
    clock = _Clock()
    return LocalMedia(FlashTrack(clock, period_s), BeepTrack(clock, period_s), [])
