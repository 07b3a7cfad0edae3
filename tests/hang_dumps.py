"""Every thread's stack when a test runs past its timeout, shown in the failure report.

pytest-timeout's thread method ends a hung worker with ``os._exit``; its stack dump goes to
the worker's own output, which pytest-xdist does not relay, so the report said only "worker
crashed". Each test therefore arms :func:`faulthandler.dump_traceback_later` a moment before
its timeout, into a file under ``test-artifacts/hangs/``, and the controller adds that file to
the crash report.
"""

from __future__ import annotations

import faulthandler
import re
from collections.abc import Generator
from pathlib import Path

import pytest

from tests.deadline import test_timeout

DUMPS = Path(__file__).resolve().parents[1] / "test-artifacts" / "hangs"
# the dump must land before pytest-timeout's own timer ends the process
_AHEAD_S = 1.0


def dump_path(nodeid: str) -> Path:
    """Where the stacks of ``nodeid`` go if it hangs."""
    return DUMPS / (re.sub(r"[^\w.-]+", "_", nodeid)[-180:] + ".txt")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    timeout = test_timeout(item)
    if timeout <= _AHEAD_S:
        yield
        return
    DUMPS.mkdir(parents=True, exist_ok=True)
    path = dump_path(item.nodeid)
    with path.open("w") as out:
        faulthandler.dump_traceback_later(timeout - _AHEAD_S, file=out)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
    if path.stat().st_size == 0:
        path.unlink()


@pytest.hookimpl(optionalhook=True)
def pytest_handlecrashitem(crashitem: str, report: pytest.TestReport) -> None:
    path = dump_path(crashitem)
    if path.is_file() and path.stat().st_size:
        report.longrepr = (
            f"{report.longrepr}: it ran past its timeout. Every thread's stack a second "
            f"before ({path}):\n{path.read_text()}"
        )
