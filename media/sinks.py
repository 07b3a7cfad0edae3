"""Consumers of received tracks: decode every frame and count it, as a player would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)


FrameListener = Callable[[av.VideoFrame | av.AudioFrame, float], None]


class FrameCounter:
    """Pulls decoded frames from a remote track, counting them and noting the first one's time.

    ``on_frame(frame, wall_time)`` is called for each frame as it is decoded (e.g. to show it
    on the kiosk screen); it runs on the event loop, so it must hand heavy work elsewhere.
    """

    def __init__(self, on_frame: FrameListener | None = None) -> None:
        self.on_frame = on_frame
        self.count = 0
        self.size: tuple[int, int] | None = None
        self.first_frame = asyncio.Event()
        self.first_frame_wall: float | None = None
        self.last_frame_at: float | None = None  # time.monotonic() of the latest frame
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    def start(self, track: MediaStreamTrack) -> None:
        """Start consuming ``track`` in a task kept until :meth:`stop`."""
        if self._task is not None:
            raise RuntimeError("FrameCounter is already consuming a track; create another one")
        self._task = asyncio.get_running_loop().create_task(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.time()
            self.last_frame_at = time.monotonic()
            if self.count == 0:
                self.first_frame_wall = now
                self.first_frame.set()
            if self.on_frame is not None and isinstance(frame, av.VideoFrame | av.AudioFrame):
                self.on_frame(frame, now)
            self.count += 1
            if isinstance(frame, av.VideoFrame):
                self.size = (frame.width, frame.height)
            async with self._changed:
                self._changed.notify_all()

    def stalled_s(self) -> float | None:
        """Seconds since the latest frame; None before the first."""
        if self.last_frame_at is None:
            return None
        return time.monotonic() - self.last_frame_at

    async def wait_for(self, count: int, timeout: float) -> None:
        """Wait until at least ``count`` frames arrived; TimeoutError says how many did."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: self.count >= count)
        except TimeoutError:
            raise TimeoutError(
                f"only {self.count} of {count} frames arrived within {timeout:g} s"
            ) from None

    async def stop(self) -> None:
        """Stop consuming; returns once the task is gone."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
