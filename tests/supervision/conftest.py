"""Fixtures for the supervision tests: a finished, recorded call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from terminal_client.client import TerminalState
from tests.conftest import RunningServer
from tests.supervision.test_recording import call
from tests.teardown import bounded


@pytest.fixture
async def recorded(server: RunningServer) -> AsyncIterator[str]:
    """A finished, recorded call; yields its session id."""
    terminal, clerk, session_id = await call(server, seconds=3.0)
    try:
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await bounded(terminal.close(), "terminal")
        await bounded(clerk.close(), "clerk peer")
    await server.stored()
    yield session_id


# the console's Chromium fixtures, for the supervisor pages
from tests.browser.conftest import browser, chromium_path, page  # noqa: E402, F401
