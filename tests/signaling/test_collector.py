"""The server's garbage-collector keeper (signaling/collector.py), on the real collector."""

from __future__ import annotations

import asyncio
import gc
import os
import weakref
from collections.abc import Iterator

import pytest

from signaling.collector import (
    FREEZE_AFTER_SOCKETS,
    LOOK_EVERY_S,
    freeze_survivors,
    full_pass,
    keep_collector,
    release_free_memory,
    watch_pauses,
)


class Node:
    """An object that can take part in a reference cycle and be weakly referenced."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (the suite's process is shared)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_cycle_frozen_while_alive_is_collected_by_the_next_full_pass() -> None:
    alive = cycle()
    gc.freeze()  # as the keeper does: the cycle is still in use here
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the automatic passes' reach"
    full_pass()
    assert alive() is None, "the full pass must reach frozen garbage"
    assert gc.get_freeze_count() > 0, "what survived the full pass is frozen again"


def test_young_cyclic_garbage_is_collected_not_frozen() -> None:
    gone = cycle()  # garbage already: nothing refers to the pair but each other
    kept = Node()
    kept.other = kept
    freeze_survivors()
    assert gone() is None, "garbage frozen would wait for the next full pass"
    assert gc.get_freeze_count() > 0 and kept.other is kept


def test_collections_are_reported_with_their_generation() -> None:
    seen: list[tuple[int, float]] = []
    undo = watch_pauses(lambda generation, seconds: seen.append((generation, seconds)))
    try:
        gc.collect(1)
    finally:
        undo()
    assert seen and seen[-1][0] == 1 and seen[-1][1] >= 0
    gc.collect(0)
    assert len(seen) == 1, "after undo nothing more is reported"


async def test_the_keeper_freezes_survivors_and_makes_full_passes() -> None:
    held = Node()
    held.other = Node()
    held.other.other = held  # a cycle in use while the keeper freezes
    alive = weakref.ref(held)
    keeper = asyncio.create_task(keep_collector(freeze_every_s=0.01, full_every_s=0.05))
    try:
        for _ in range(500):  # the keeper's first freeze is 0.01 s away
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count(), "the keeper froze nothing"
        assert alive() is not None
        del held
        # the cycle is garbage now; only a full pass of the keeper can take it
        for _ in range(500):  # a full pass every 0.05 s
            if alive() is None:
                break
            await asyncio.sleep(0.01)
        assert alive() is None, "the keeper's full passes never reached the frozen cycle"
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


async def test_a_burst_of_new_sockets_brings_the_freeze_forward() -> None:
    opened = [0]
    keeper = asyncio.create_task(
        keep_collector(freeze_every_s=3600, full_every_s=7200, opened=lambda: opened[0])
    )
    try:
        gc.unfreeze()
        await asyncio.sleep(LOOK_EVERY_S * 1.5)
        assert gc.get_freeze_count() == 0, "froze with nothing new and the hour not up"
        opened[0] += FREEZE_AFTER_SOCKETS
        for _ in range(500):
            if gc.get_freeze_count():
                break
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count(), "a burst of sockets did not bring the freeze forward"
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_freed_memory_is_handed_back_to_the_system() -> None:
    """A burst of 1 KiB buffers (glibc's heap, not Python's arenas), one in a hundred kept:
    the heap cannot shrink from its top, so only the trim returns the pages between."""
    burst = [bytes(1024) for _ in range(200_000)]
    kept = burst[::100]
    del burst
    before = resident_mb()
    release_free_memory()
    after = resident_mb()
    assert before - after > 100, f"resident {before:.0f} MB before the trim, {after:.0f} after"
    assert len(kept) == 2000
