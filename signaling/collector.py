"""Python's garbage collector in a long-running server with thousands of sockets.

Measured under load (2,000 kiosks, 200 clerks, two processes): the collector's full
(generation 2) pass ran every 5–10 s and took 200–500 ms each time, as every object of every
socket was scanned again; every message of every call waited behind it (answer relay p99 of
seconds). Objects that survive a while (sockets, sessions, caches) are moved out of the
collector's reach every ``freeze_every_s`` (``gc.freeze``), so the automatic passes scan only
what is new since. Freezing excludes objects from cycle detection, not from freeing by
reference count; a cycle that becomes garbage after being frozen waits for the next full
pass, which runs every ``full_every_s`` (unfreeze, collect everything, freeze again): one
pause in that interval instead of one every few seconds, and the memory bounded.

With what was frozen out of its count, Python's own rule for a full pass (a quarter more
objects than the last one left) holds after every tenth middle pass: under that load a pass
of 10-25 ms every two seconds. Making those passes only at each freeze instead (the same
work, five times less often) was tried and measured worse: one pass over ten seconds of
survivors took up to 100 ms, and the answer relay p99 went up with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import time
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger(__name__)


def watch_pauses(observe: Callable[[int, float], None]) -> Callable[[], None]:
    """Report each collection's generation and duration (s) to ``observe``; returns undo."""
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            observe(int(info["generation"]), time.perf_counter() - started[0])

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return cast("Callable[[int], int] | None", trim)


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``; a no-op on a
    C library without it)."""
    # Freed buffers stay in glibc's heap, so a server's resident memory kept the high-water
    # mark of every burst of messages: bench.load's two servers, 2,200 sockets, after a
    # minute of load, 501 MB without it, 475 MB with it every freeze (idle 350 MB).
    if _TRIM is not None:
        _TRIM(0)


def full_pass() -> int:
    """Collect everything, frozen objects included, then freeze what survived; returns the
    number of objects collected."""
    gc.unfreeze()
    collected = gc.collect()
    gc.freeze()
    release_free_memory()
    return collected


def freeze_survivors() -> None:
    """Collect the young generations, then freeze what is left: young cyclic garbage frozen
    would wait for the next full pass (minutes of memory) instead of going now."""
    gc.collect(1)
    gc.freeze()
    release_free_memory()


# new sockets since the last freeze that bring the next one forward: measured, right after
# 2,200 sockets connected the automatic full passes took 40-90 ms each until the first freeze
# (up to 10 s later), then 10-25 ms
FREEZE_AFTER_SOCKETS = 200
# how often the socket count is looked at between freezes
LOOK_EVERY_S = 1.0


async def keep_collector(
    freeze_every_s: float, full_every_s: float, opened: Callable[[], int] = lambda: 0
) -> None:
    """Freeze survivors every ``freeze_every_s`` (sooner once :data:`FREEZE_AFTER_SOCKETS`
    sockets opened since, ``opened()`` counting them) and make a full pass every
    ``full_every_s``, until cancelled."""
    last_full = last_freeze = time.monotonic()
    opened_then = opened()
    while True:
        await asyncio.sleep(min(LOOK_EVERY_S, freeze_every_s))
        now = time.monotonic()
        if now - last_freeze < freeze_every_s and opened() - opened_then < FREEZE_AFTER_SOCKETS:
            continue
        last_freeze, opened_then = now, opened()
        if now - last_full >= full_every_s:
            started = time.perf_counter()
            collected = full_pass()
            last_full = time.monotonic()
            log.info(
                "full collection: %d objects collected in %.0f ms; %d frozen",
                collected,
                (time.perf_counter() - started) * 1000,
                gc.get_freeze_count(),
            )
        else:
            freeze_survivors()
