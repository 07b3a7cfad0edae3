"""The bounded teardown helper: in time it returns, past its bound it names what it waited for."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.teardown import TeardownTimeout, bounded


async def test_a_step_in_time_returns_its_result() -> None:
    async def stops() -> str:
        await asyncio.sleep(0)
        return "stopped"

    assert await bounded(stops(), "a quick server") == "stopped"


async def test_a_step_that_never_ends_fails_naming_where_it_waits() -> None:
    never = asyncio.Event()
    release = threading.Event()
    stuck = threading.Thread(target=release.wait, name="stuck-worker", daemon=True)
    stuck.start()

    async def background_chore() -> None:
        await never.wait()

    async def waits_for_the_chore() -> None:
        await chore  # a teardown that awaits a task nobody ends

    chore = asyncio.get_running_loop().create_task(background_chore(), name="the-chore")
    try:
        with pytest.raises(TeardownTimeout) as failed:
            await bounded(waits_for_the_chore(), "the widget server", timeout=0.2)
    finally:
        release.set()
        stuck.join()
        chore.cancel()
    message = str(failed.value)
    assert message.startswith("the widget server did not stop within 0.2 s: waiting in")
    assert "in waits_for_the_chore" in message  # the step's own awaited chain
    assert "the-chore" in message and "in background_chore" in message  # the leftover task
    assert "thread 'stuck-worker'" in message  # and the leftover thread
