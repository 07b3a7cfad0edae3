"""A deadline for each async test body that ends the test, not just whatever task was running.

pytest-timeout's signal method raises inside whichever frame holds the CPU when the alarm
rings; in an asyncio test that is usually some other task (a video encoder, a socket reader),
which dies while the test itself waits on for ever. Seen: a kiosk walk stuck for ten minutes
past its 300 s timeout. Here the test's own task is cancelled at its deadline, so it fails
with the traceback of the await it was stuck in, plus the loop's other tasks and threads.
pytest-timeout stays as the backstop for hangs outside the event loop (thread method).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from tests.teardown import leftovers

# beyond the body's deadline, time for fixtures' set-up and bounded teardown (each step of
# which has its own 10 s) before pytest-timeout ends the process
BACKSTOP_MARGIN_S = 60.0


class TestDeadline(AssertionError):
    """The test body ran past its deadline; the traceback shows the await it was stuck in."""

    __test__ = False  # a name pytest would otherwise collect


def test_timeout(item: pytest.Item) -> float:
    """The item's pytest-timeout bound in seconds, as pytest-timeout ranks them: its
    ``timeout`` mark, else ``--timeout`` on the command line, else the ini value."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    given = item.config.getoption("timeout", None)
    if given is not None:
        return float(given)
    return float(item.config.getini("timeout") or 0)


test_timeout.__test__ = False  # type: ignore[attr-defined]


def backstop(timeout: float) -> float:
    """pytest-timeout's bound for a test whose body has ``timeout`` seconds."""
    return timeout + BACKSTOP_MARGIN_S


def with_deadline(
    test: Callable[..., Coroutine[Any, Any, None]], seconds: float
) -> Callable[..., Coroutine[Any, Any, None]]:
    """``test`` cancelled after ``seconds``, failing with :class:`TestDeadline`."""

    @functools.wraps(test)
    async def bounded_test(*args: Any, **kwargs: Any) -> None:
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                await test(*args, **kwargs)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # the test's own time-out, not ours
            raise TestDeadline(
                f"the test did not finish within {seconds:g} s; the traceback above shows "
                f"where it waited. Other tasks and threads:\n{leftovers()}"
            ) from exc

    return bounded_test
