"""The kiosk's screen in Chromium (the kiosk tests' fixtures) with a printer of our own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from media.sources import create_local_tracks
from terminal_client.kiosk.controller import KioskSettings
from terminal_client.kiosk.run import build_kiosk
from terminal_client.kiosk.tts import Speech
from terminal_client.printer import FakeCupsPrinter
from tests.conftest import RunningServer
from tests.kiosk.conftest import RunningKiosk, browser, clerk, page  # noqa: F401


@pytest.fixture
def printer() -> FakeCupsPrinter:
    """The kiosk's printer: a CUPS-like device that starts out of paper."""
    return FakeCupsPrinter(paper=0)


@pytest.fixture
async def kiosk(
    server: RunningServer, tmp_path: Path, printer: FakeCupsPrinter
) -> AsyncIterator[RunningKiosk]:
    """A kiosk whose receipts go to ``printer``, its queue under ``tmp_path``."""
    token = await server.add_terminal("kiosk-sign")
    settings = KioskSettings(idle_timeout_s=600, idle_warning_s=10, thanks_s=1.5)
    controller, app = build_kiosk(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"),
        Speech(tmp_path / "tts"), settings, name="sign-kiosk",
        printer=printer, print_dir=tmp_path / "print",
    )  # fmt: skip
    await controller.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield RunningKiosk(controller, url, server, tmp_path / "tts")
    finally:
        await runner.cleanup()
        await controller.close()
