"""Worker threads for CPU work kept off the event loop, split by who asked for it.

- ``staff``: work for people who have signed in before (a clerk's password check).
- ``public``: work anyone can cause without signing in (a password guess, a PDF uploaded to
  ``/verify``). Its threads run at a lower CPU priority (a per-thread nice value on Linux, which
  threads they start, such as argon2's lanes, inherit), so under load the kernel gives the
  event loop and the staff's work the cores first and a flood of anonymous requests only gets
  what is left over. Each anonymous path bounds its own concurrency as well.

Both pools live as long as the app (:func:`worker_pools`, a cleanup context).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from aiohttp import web

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# nice 10 weighs about a tenth of nice 0 with Linux's scheduler: starved under load, never stopped
PUBLIC_NICE = 10
STAFF_THREADS = 2
PUBLIC_THREADS = 2


def lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority by ``nice`` (Linux); elsewhere do nothing."""
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


class WorkerPools:
    """The ``staff`` and ``public`` thread pools; :meth:`close` them when the app stops."""

    def __init__(
        self,
        staff_threads: int = STAFF_THREADS,
        public_threads: int = PUBLIC_THREADS,
        public_nice: int = PUBLIC_NICE,
    ) -> None:
        self.staff = ThreadPoolExecutor(staff_threads, thread_name_prefix="vcounter-staff")
        self.public = ThreadPoolExecutor(
            public_threads,
            thread_name_prefix="vcounter-public",
            initializer=lower_priority,
            initargs=(public_nice,),
        )

    async def run_staff(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` for someone signed in, at normal priority."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.staff, functools.partial(fn, *args, **kwargs))

    async def run_public(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` that an anonymous caller asked for, at low priority."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.public, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop both pools; work not started is dropped (its callers are gone with the app)."""
        for pool in (self.staff, self.public):
            pool.shutdown(wait=True, cancel_futures=True)


WORKERS = web.AppKey("workers", WorkerPools)


async def worker_pools(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the app's worker pools, closed after everything that uses them."""
    app[WORKERS] = pools = WorkerPools()
    try:
        yield
    finally:
        await asyncio.to_thread(pools.close)
