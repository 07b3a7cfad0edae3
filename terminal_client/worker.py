"""A worker thread for the identity step's CPU work that yields the CPU to the call.

OCR, face detection and embedding run here, one job at a time. On Linux the thread's nice
value is raised (a per-thread attribute: ``setpriority(PRIO_PROCESS, tid)``), so when the two
cores are contended the call's encoder and decoder threads run first and the video keeps its
frame rate; the identity step just sees fewer frames. Processes started from the thread
(tesseract) inherit the lower priority. Elsewhere the thread runs at normal priority.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Self, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
NICE = 10


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: run as is
        log.warning("identity worker keeps normal priority: %s", exc)


class CpuWorker:
    """One low-priority thread; ``await worker.run(fn, *args)`` from the event loop."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="identity", initializer=_lower_priority
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    def close(self) -> None:
        """Drop queued jobs and let the thread end after the current one; safe twice."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
