"""`vcounter terminal`: the kiosk with its screen by default, the headless caller on request."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from signaling.cli import main
from terminal_client.errors import TerminalError
from terminal_client.kiosk.run import KioskOptions, find_browser, run_kiosk
from tests.conftest import RunningServer


def test_help_explains_the_screen_options() -> None:
    result = CliRunner().invoke(main, ["terminal", "--help"], prog_name="vcounter")
    assert result.exit_code == 0, result.output
    for option in ("--ui / --headless", "--kiosk-port", "--open-browser / --no-open-browser"):
        assert option in result.output
    assert "--idle-timeout" in result.output and "Chromium" in result.output


def test_headless_still_needs_a_service() -> None:
    result = CliRunner().invoke(main, ["terminal", "--headless", "--token", "t"])
    assert result.exit_code == 2 and "--service with --headless" in result.output


def test_no_browser_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TerminalError, match=r"apt-get install chromium.*--no-open-browser"):
        find_browser()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_kiosk_serves_the_screen_until_stopped(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no display here: the kiosk serves its page and logs the URL instead of opening Chromium
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    port = _free_port()
    options = KioskOptions(
        server_url=server.url,
        token=await server.add_terminal("kiosk-run"),
        data_dir=tmp_path,
        language="en",
        port=port,
    )
    announced: list[str] = []
    task = asyncio.get_running_loop().create_task(run_kiosk(options, announced.append))
    try:
        # the browser's launch URL carries this launch's secret; it sets the page's cookie
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for _ in range(100):
                if announced:
                    async with http.get(announced[0]) as page:
                        assert page.status == 200
                        break
                await asyncio.sleep(0.05)
            assert announced[0].startswith(f"http://127.0.0.1:{port}/?launch=")
            async with http.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "hello"
                view: dict[str, object] = {}
                while view.get("screen") != "language":
                    message = await ws.receive_json(timeout=5)
                    # a page that came before the catalogue gets a second hello with it
                    if message["type"] == "view":
                        view = message["view"]
                assert view["language"] == "en"  # --language sets where the screen starts
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/"):
            pass
