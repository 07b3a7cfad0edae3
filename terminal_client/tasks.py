"""Stopping a component's background tasks for good, also when a cancellation gets lost.

Python 3.11's ``asyncio.wait_for`` returns the awaited result instead of raising when the
cancellation arrives in the same loop iteration as the awaited thing completes (fixed in
3.12, python/cpython#86296). socket.io's ``connect`` waits that way, so a kiosk closed just as
its connection came up carried on as if nothing happened, and its ``close()`` waited for it
for good. :func:`cancel_and_wait` cancels again whatever survived a round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

# how long a cancelled task gets to end before it is cancelled again
RECANCEL_S = 0.5


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and return once every one of them has ended.

    ``tasks`` may be a component's live set: tasks added to it meanwhile are cancelled too.
    Like ``gather(..., return_exceptions=True)``, a task's own failure is not raised here:
    it is marked retrieved, for the task's done-callback (if any) to log.
    """
    seen: set[asyncio.Task[Any]] = set()
    while pending := {task for task in tasks if not task.done()}:
        seen |= pending
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=RECANCEL_S)
    for task in seen:
        if not task.cancelled():
            task.exception()
