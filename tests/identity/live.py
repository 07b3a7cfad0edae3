"""A kiosk camera that shows a face: a video track replaying prepared frames at camera pace."""

from __future__ import annotations

import fractions
import time

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from cv2.typing import MatLike

from media.faces import FaceEngine
from tests.identity.synthetic import close_eyes

CLOCK = 90_000


def letterbox(image: MatLike, width: int = 640, height: int = 480) -> MatLike:
    """``image`` scaled into a ``width`` x ``height`` camera frame."""
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    small = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


def blinking(engine: FaceEngine, photo: MatLike, open_frames: int = 20) -> list[MatLike]:
    """Camera frames of ``photo`` that blink once after ``open_frames``, then stay open."""
    frame = letterbox(photo)
    face = engine.detect(frame)[0]
    # a slow blink (half a second): the judge samples at most 10 frames a second, fewer on a
    # busy machine, and must still catch the eyes shut at least once
    shut = [close_eyes(frame, face, a) for a in (0.6, *[1.0] * 6, 0.6)]
    return [frame] * open_frames + shut + [frame] * 10


class ReplayTrack(MediaStreamTrack):
    """Plays ``frames`` at ``fps`` and then keeps showing the last (or loops with ``loop``)."""

    kind = "video"

    def __init__(self, frames: list[MatLike], fps: float = 15.0, loop: bool = False) -> None:
        super().__init__()
        self.frames = frames
        self.fps = fps
        self.loop = loop
        self.index = 0
        self.start: float | None = None

    async def recv(self) -> av.VideoFrame:
        import asyncio

        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self.start is None:
            self.start = now
        due = self.start + self.index / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        i = self.index % len(self.frames) if self.loop else min(self.index, len(self.frames) - 1)
        frame = av.VideoFrame.from_ndarray(self.frames[i], format="bgr24")
        frame.pts = int(self.index * CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, CLOCK)
        self.index += 1
        return frame
