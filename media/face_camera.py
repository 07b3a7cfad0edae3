"""A simulated kiosk camera that shows a face, and the portrait for a simulated ID card.

For tests and benchmarks, beside :mod:`media.document_camera`: :class:`ReplayTrack` plays
prepared frames at camera pace (a ``MediaStreamTrack`` with ``pts`` and ``time_base``),
:func:`blinking` makes those frames from one face photo with a drawn blink (the liveness
judge's blink), and :func:`passport_photo` crops a photo as an ID card's portrait (for
:func:`terminal_client.id_reader.write_card`). Photos come from :mod:`media.face_samples`.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from cv2.typing import MatLike

from media.faces import Face, FaceEngine

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
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self.start is None:
            self.start = now
        due = self.start + self.index / self.fps
        if due > now:
            await asyncio.sleep(due - now)
        i = self.index % len(self.frames) if self.loop else min(self.index, len(self.frames) - 1)
        frame = av.VideoFrame.from_ndarray(np.asarray(self.frames[i], np.uint8), format="bgr24")
        frame.pts = int(self.index * CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, CLOCK)
        self.index += 1
        return frame


def close_eyes(image: MatLike, face: Face, amount: float = 1.0) -> MatLike:
    """``image`` with both eyes covered by skin-coloured lids (``amount`` 0 open .. 1 shut)."""
    out = np.asarray(image, np.float32)
    span = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
    for eye in face.landmarks[:2]:
        x, y = int(eye[0]), int(eye[1])
        r = max(int(0.06 * span), 1)
        below = y + int(0.22 * span)  # the cheek just under the eye gives the skin colour
        skin = np.median(
            np.asarray(image)[below - r : below + r, x - r : x + r].reshape(-1, 3), axis=0
        )
        lid = np.zeros(out.shape[:2], np.float32)
        cv2.ellipse(lid, (x, y), (int(0.19 * span), int(0.1 * span)), 0, 0, 360, 1.0, -1)
        k = int(0.05 * span) * 2 + 1
        lid = cv2.GaussianBlur(lid, (k, k), 0) * amount
        out = out * (1 - lid[..., None]) + skin.astype(np.float32)[None, None, :] * lid[..., None]
        lash = np.zeros(out.shape[:2], np.float32)
        cv2.ellipse(
            lash,
            (x, y),
            (int(0.16 * span), int(0.03 * span)),
            0,
            10,
            170,
            1.0,
            max(1, int(0.012 * span)),
        )
        lash = cv2.GaussianBlur(lash, (3, 3), 0) * 0.6 * amount
        out = out * (1 - lash[..., None]) + np.float32(50) * lash[..., None]
    return out.clip(0, 255).astype(np.uint8)


def squeeze(image: MatLike, factor: float) -> MatLike:
    """A flat photo turned about its vertical axis: squeezed horizontally, same canvas."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(int(w * factor), 1), h), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(np.asarray(image), 128)
    x0 = (w - small.shape[1]) // 2
    canvas[:, x0 : x0 + small.shape[1]] = small
    return canvas


def passport_photo(image: MatLike, box: tuple[float, float, float, float]) -> MatLike:
    """A passport-style crop of ``image`` around the face ``box`` (x, y, w, h): the head
    fills about 60 % of the height, as ICAO 9303's photo guidance asks."""
    x, y, w, h = box
    height = 1.7 * h
    width = height * 32 / 42
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(max(cx - width / 2, 0)), int(max(cy - height / 2, 0))
    x1, y1 = int(min(cx + width / 2, image.shape[1])), int(min(cy + height / 2, image.shape[0]))
    return np.ascontiguousarray(image[y0:y1, x0:x1])
