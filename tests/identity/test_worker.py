"""The identity worker thread yields the CPU to the call: it runs at a higher nice value."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from terminal_client.worker import NICE, CpuWorker


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice is Linux's")
async def test_worker_runs_below_the_event_loop_priority() -> None:
    loop_nice = _nice()
    with CpuWorker() as worker:
        assert await worker.run(_nice) == min(loop_nice + NICE, 19)
        assert await worker.run(lambda a, b: a + b, 2, 3) == 5
    assert _nice() == loop_nice  # the event loop's own thread is untouched
