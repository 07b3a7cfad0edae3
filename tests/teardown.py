"""Bounded teardown: a fixture that cannot stop fails loudly, naming what it waited for.

Without a bound, a clean-up that waits for something that never comes (a task that swallows
its cancellation, a socket nobody closes) idles in ``select`` until pytest-timeout kills the
test 120 s later with a stack that shows only the idle loop. :func:`bounded` gives each
clean-up step its own few seconds and, when they run out, fails with the awaited chain of the
step itself plus the loop's other tasks and the process's other threads::

    await bounded(runner.cleanup(), "kiosk page server")
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections.abc import Awaitable
from types import CoroutineType, FrameType, GeneratorType
from typing import Any, TypeVar

T = TypeVar("T")

# a clean-up on loopback takes milliseconds; seconds leave room for a loaded 2-core machine
TEARDOWN_TIMEOUT_S = 10.0
# after the bound, how long the cancelled step gets to unwind before we stop waiting for it
_CANCEL_GRACE_S = 2.0


class TeardownTimeout(AssertionError):
    """A fixture's clean-up step did not finish within its bound; the message says where."""


def _awaited_chain(coro: Any) -> list[str]:
    """``file:line in function`` for each coroutine in the chain ``coro`` is suspended in."""
    lines: list[str] = []
    while coro is not None:
        frame: FrameType | None = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_name}")
        if isinstance(coro, CoroutineType):
            coro = coro.cr_await
        elif isinstance(coro, GeneratorType):
            coro = coro.gi_yieldfrom
        else:
            coro = None  # a future's iterator or a C awaitable: the task says what it waits for
    return lines


def describe_task(task: asyncio.Task[Any]) -> str:
    """A task's name, the chain of awaits it is suspended in and the future at its end."""
    lines = _awaited_chain(task.get_coro())
    # the future the task's innermost await is blocked on (a private attribute, but the only
    # place that names it: a task, a Future with its callbacks, a lock's waiter)
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is not None:
        lines.append(f"waiting for {waiter!r:.300}")
    return f"{task.get_name()} ({task.get_coro()!r:.120})\n" + "\n".join(
        f"      {line}" for line in lines
    )


def describe_threads() -> list[str]:
    """Every thread but the current one, with the innermost frames of what it runs."""
    frames = sys._current_frames()
    described = []
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.ident is None:
            continue
        frame = frames.get(thread.ident)
        stack = traceback.format_stack(frame, limit=3) if frame is not None else []
        where = "".join(stack).rstrip().replace("\n", "\n    ")
        daemon = " daemon" if thread.daemon else ""
        described.append(f"thread {thread.name!r}{daemon}:\n    {where}")
    return described


def leftovers(excluding: set[asyncio.Task[Any]] = frozenset()) -> str:  # type: ignore[assignment]
    """The running loop's other tasks and the process's other threads, one block each."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current and t not in excluding]
    parts = [f"  task {describe_task(t)}" for t in tasks]
    parts += [f"  {t}" for t in describe_threads()]
    return "\n".join(parts) or "  (none)"


async def bounded(aw: Awaitable[T], what: str, timeout: float = TEARDOWN_TIMEOUT_S) -> T:
    """Await the clean-up ``aw``; after ``timeout`` s fail naming ``what`` and where it waits.

    Use it for every step of a fixture's teardown that stops a server, a kiosk, a peer or a
    browser. Raises :class:`TeardownTimeout` listing the step's awaited chain and the
    leftover tasks and threads.
    """
    step: asyncio.Future[T] = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({step}, timeout=timeout)
    if step in done:
        return step.result()
    waiting = describe_task(step) if isinstance(step, asyncio.Task) else repr(step)
    others = leftovers(excluding={step} if isinstance(step, asyncio.Task) else set())
    step.cancel()
    await asyncio.wait({step}, timeout=_CANCEL_GRACE_S)
    raise TeardownTimeout(
        f"{what} did not stop within {timeout:g} s: waiting in\n  {waiting}\n"
        f"other tasks and threads:\n{others}"
    )
