"""Consumers of received tracks: decode every frame and count it, as a player would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)


class FrameCounter:
    """Pulls decoded frames from a remote track, counting them and noting the first one's time."""

    def __init__(self) -> None:
        self.count = 0
        self.size: tuple[int, int] | None = None
        self.first_frame = asyncio.Event()
        self.first_frame_wall: float | None = None
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
            if self.count == 0:
                self.first_frame_wall = time.time()
                self.first_frame.set()
            self.count += 1
            if isinstance(frame, av.VideoFrame):
                self.size = (frame.width, frame.height)
            async with self._changed:
                self._changed.notify_all()

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
