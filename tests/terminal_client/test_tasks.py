"""Stopping background tasks: a cancellation lost by ``asyncio.wait_for`` is sent again."""

from __future__ import annotations

import asyncio

from terminal_client.tasks import cancel_and_wait


async def test_a_cancellation_lost_in_wait_for_is_sent_again() -> None:
    # the kiosk's reconnect loop, cancelled in the loop iteration its connection came up in
    connected = asyncio.get_running_loop().create_future()
    dropped = asyncio.Event()  # nobody drops the connection: only a cancellation ends this
    got_past_connect = asyncio.Event()

    async def keep_connected() -> None:
        await asyncio.wait_for(connected, 10)  # as socket.io's connect waits
        got_past_connect.set()
        await dropped.wait()

    task = asyncio.get_running_loop().create_task(keep_connected())
    await asyncio.sleep(0)  # the task now waits inside wait_for
    connected.set_result(None)
    async with asyncio.timeout(10):
        await cancel_and_wait({task})
    assert task.cancelled()
    # Python 3.11 lost the first cancellation: the task went on past connect
    assert got_past_connect.is_set()


async def test_tasks_added_to_the_live_set_meanwhile_are_cancelled_too() -> None:
    tasks: set[asyncio.Task[None]] = set()
    late: list[asyncio.Task[None]] = []

    async def forever() -> None:
        await asyncio.Event().wait()

    async def spawns_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            task = asyncio.get_running_loop().create_task(forever())
            tasks.add(task)
            late.append(task)

    first = asyncio.get_running_loop().create_task(spawns_on_cancel())
    tasks.add(first)
    await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await cancel_and_wait(tasks)
    assert first.cancelled()
    assert len(late) == 1 and late[0].cancelled()
