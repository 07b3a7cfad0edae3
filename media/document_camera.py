"""The document camera: a live picture of the desk for the clerk, and full-resolution stills.

:class:`SyntheticDocumentCamera` stands in when the kiosk has no device: a sheet of paper
that drifts and turns slowly on a desk, sent at a modest size and rate (the clerk watches
the paper being placed; the captured page is what is read), and stills of the same sheet
at 300-dpi A4 size. :class:`DeviceDocumentCamera` opens a real V4L2 camera through PyAV
and keeps its newest frame for stills.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import cv2
import numpy as np
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.errors import DeviceUnavailable
from media.page_sample import a4_pixels, photograph, render_page
from media.pages import Image

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class DocumentCameraTrack(MediaStreamTrack):
    """The live document-camera video: frames from a camera's ``frame(index)``, paced."""

    kind = "video"

    def __init__(self, camera: SyntheticDocumentCamera, fps: int) -> None:
        super().__init__()
        self.camera = camera
        self.fps = fps
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            self._index += 1
            due = self._start + self._index / self.fps
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > 1.0:
                self._start = now - self._index / self.fps  # resync after a stall
        frame = av.VideoFrame.from_ndarray(self.camera.frame(self._index), format="bgr24")
        frame.pts = int(self._index * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        return frame


class SyntheticDocumentCamera:
    """A sheet of paper on a desk, live and as stills; ``page_seed`` picks the sheet."""

    def __init__(
        self, width: int = 640, height: int = 480, fps: int = 10, page_seed: int = 0
    ) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.page_seed = page_seed
        self.captures = 0
        self._preview_page = render_page(40, title="DOCUMENT", seed=page_seed)
        self._full_page: Image | None = None

    def track(self) -> DocumentCameraTrack:
        """A new live track of this camera (one per call)."""
        return DocumentCameraTrack(self, self.fps)

    def _pose(self, t: float) -> tuple[float, int]:
        # the sheet drifts a few degrees back and forth, as a hand settles it
        return 6.0 * math.sin(t / 3.0), int(t * 2) % 1000

    def frame(self, index: int) -> Image:
        """The live picture at frame ``index``: the sheet turning slowly on the desk."""
        angle, seed = self._pose(index / self.fps)
        photo = photograph(
            self._preview_page, (self.width, self.height), rotation_deg=angle, tilt=0.02,
            fill=0.8, shadow=0.3, noise=0, seed=seed,
        )  # fmt: skip
        image = photo.image
        cv2.putText(image, f"DOC #{index}", (10, self.height - 12), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, (230, 230, 230), 1)  # fmt: skip
        return image

    def still_sync(self) -> Image:
        """A full-resolution capture (a 300-dpi A4 frame, 2480 x 3508) of the sheet, now."""
        if self._full_page is None:
            self._full_page = render_page(300, title="DOCUMENT", seed=self.page_seed)
        self.captures += 1
        angle, seed = self._pose(time.monotonic())
        width, height = a4_pixels(300)
        # the sheet fills most of a portrait frame of the same size, slightly turned
        return photograph(
            self._full_page, (width, height), rotation_deg=angle, tilt=0.01, fill=0.9,
            shadow=0.3, noise=2, seed=seed + self.captures,
        ).image  # fmt: skip

    async def still(self) -> Image:
        """:meth:`still_sync` in a worker thread."""
        return await asyncio.to_thread(self.still_sync)

    def close(self) -> None:
        """Nothing to release for a synthetic camera."""


class DeviceDocumentCamera:
    """A real document camera (V4L2) through PyAV; stills are its newest frame."""

    def __init__(self, device: str, width: int = 1920, height: int = 1080) -> None:
        options = {"video_size": f"{width}x{height}", "framerate": "15"}
        try:
            self.player = MediaPlayer(device, format="v4l2", options=options)
        except (av.FFmpegError, OSError) as exc:
            raise DeviceUnavailable(
                f"document camera {device!r} cannot be opened ({exc}); check it is plugged in,"
                " or run the kiosk without --document-camera to use the synthetic one"
            ) from exc
        if self.player.video is None:
            raise DeviceUnavailable(f"{device!r} has no video stream; pass another device")
        self._latest: av.VideoFrame | None = None

    def track(self) -> MediaStreamTrack:
        """The device's live track, noting each frame for :meth:`still`."""
        return _Keeper(self)

    async def still(self) -> Image:
        """The newest frame at the device's full resolution."""
        for _ in range(50):
            if self._latest is not None:
                break
            await asyncio.sleep(0.05)
        if self._latest is None:
            raise DeviceUnavailable("the document camera sends no picture; check its cable")
        frame = self._latest
        return await asyncio.to_thread(
            lambda: np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
        )

    def close(self) -> None:
        """Release the device."""
        if self.player.video is not None:
            self.player.video.stop()


class _Keeper(MediaStreamTrack):
    kind = "video"

    def __init__(self, camera: DeviceDocumentCamera) -> None:
        super().__init__()
        self.camera = camera

    async def recv(self) -> av.VideoFrame:
        assert self.camera.player.video is not None
        frame = await self.camera.player.video.recv()
        assert isinstance(frame, av.VideoFrame)
        self.camera._latest = frame
        return frame
