"""Without the server the kiosk says so and keeps trying; after a drop it starts over."""

from __future__ import annotations

import socket
from pathlib import Path

from playwright.async_api import Page

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient
from terminal_client.kiosk.messages import Browse, Screen, SetLanguage, SimpleCommand
from terminal_client.kiosk.screens import KioskSettings
from tests.conftest import RunningServer
from tests.kiosk.conftest import RunningKiosk, open_kiosk, shot, start_kiosk


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_offline_screen_while_the_server_cannot_be_reached(
    server: RunningServer, tmp_path: Path, page: Page
) -> None:
    settings = KioskSettings(reconnect_min_s=0.2, reconnect_max_s=0.5)
    kiosk, runner = await start_kiosk(
        server, tmp_path, settings, server_url=f"http://127.0.0.1:{_closed_port()}"
    )
    try:
        await open_kiosk(page, kiosk, screen="offline")
        assert "Reconnecting" in await page.inner_text("[data-testid=screen-offline]") or (
            "重新連線" in await page.inner_text("[data-testid=screen-offline]")
        )
        await shot(page, "00-offline")
        assert kiosk.controller.view().screen == Screen.OFFLINE
    finally:
        await runner.cleanup()
        await kiosk.controller.close()


async def test_after_a_drop_the_kiosk_reconnects_and_starts_over(
    kiosk: RunningKiosk, server: RunningServer
) -> None:
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SetLanguage(type="set_language", language="en"))
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(Browse(type="browse", department_id="notary", search=""))
    # the same device token signing in elsewhere takes the server connection away
    intruder = TerminalClient(
        server.url,
        kiosk.controller.client.token,
        lambda: create_local_tracks(True, "", "", label="intruder"),
    )
    try:
        await intruder.connect()
        await kiosk.wait_screen(Screen.OFFLINE)
        view = await kiosk.wait_screen(Screen.LANGUAGE, timeout=10)
    finally:
        await intruder.close()
    assert (view.language, view.department_id, view.notice) == ("zh-Hant", None, None)
