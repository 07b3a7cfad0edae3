"""The kiosk page's server: the /ws contract, refusals as typed notices, strict headers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from terminal_client.kiosk.messages import HelloMessage, NoticeMessage, Screen, ViewMessage
from terminal_client.kiosk.server import MAX_COMMAND_BYTES
from tests.kiosk.conftest import RunningKiosk


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (views may come in between)."""
    while True:
        message = await ws.receive_json(timeout=5)
        if message["type"] == kind:
            return message  # type: ignore[no-any-return]


async def test_hello_then_view_then_a_view_per_change(kiosk: RunningKiosk) -> None:
    await kiosk.wait_screen(Screen.LANGUAGE)
    async with (
        aiohttp.ClientSession(headers=kiosk.key) as http,
        http.ws_connect(f"{kiosk.url}/ws") as ws,
    ):
        hello = HelloMessage.model_validate(await ws.receive_json(timeout=5))
        services = hello.catalogue["services"]
        assert isinstance(services, list) and len(services) > 10
        view = ViewMessage.model_validate(await ws.receive_json(timeout=5)).view
        assert (view.screen, view.language, view.care_mode) == (Screen.LANGUAGE, "zh-Hant", False)

        await ws.send_json({"type": "set_language", "language": "en"})
        await ws.send_json({"type": "start"})
        await ws.send_json({"type": "browse", "department_id": "taxation", "search": ""})
        seen = ViewMessage.model_validate(await _next(ws, "view")).view
        while seen.department_id != "taxation":
            seen = ViewMessage.model_validate(await _next(ws, "view")).view
        assert (seen.screen, seen.language) == (Screen.SERVICES, "en")


BAD_COMMANDS: list[tuple[str | bytes, str, str]] = [
    ("not json at all", "error.invalid_command", "invalid"),
    (json.dumps({"type": "fly_away"}), "error.invalid_command", "fly_away"),
    (json.dumps({"type": "rate", "rating": 9}), "error.invalid_command", "rating"),
    (json.dumps({"type": "set_language", "language": "fr"}), "error.invalid_command", "language"),
    (json.dumps({"type": "browse", "search": "x" * 101}), "error.invalid_command", "search"),
    (json.dumps([1, 2, 3]), "error.invalid_command", "invalid"),
    (b"\x00\x01", "error.invalid_command", "binary"),
    (json.dumps({"type": "hangup"}), "error.command_refused", 'cannot hang up on the "language"'),
    (json.dumps({"type": "call"}), "error.command_refused", "call a clerk"),
    (json.dumps({"type": "dismiss_prompt", "prompt_id": "x"}), "error.command_refused", "prompt"),
]


async def test_bad_commands_get_a_typed_notice_and_the_socket_stays_open(
    kiosk: RunningKiosk,
) -> None:
    await kiosk.wait_screen(Screen.LANGUAGE)
    async with (
        aiohttp.ClientSession(headers=kiosk.key) as http,
        http.ws_connect(f"{kiosk.url}/ws") as ws,
    ):
        await _next(ws, "view")
        for raw, key, detail in BAD_COMMANDS:
            if isinstance(raw, bytes):
                await ws.send_bytes(raw)
            else:
                await ws.send_str(raw)
            notice = NoticeMessage.model_validate(await _next(ws, "notice")).notice
            assert notice.key == key, (raw, notice)
            assert detail in notice.detail, (raw, notice)
        assert not ws.closed
        # still the same screen, and the socket still works
        assert kiosk.controller.view().screen == Screen.LANGUAGE
        await ws.send_json({"type": "set_care_mode", "on": True})
        view = ViewMessage.model_validate(await _next(ws, "view")).view
        assert view.care_mode


async def test_too_large_a_message_closes_only_that_socket(kiosk: RunningKiosk) -> None:
    async with aiohttp.ClientSession(headers=kiosk.key) as http:
        async with http.ws_connect(f"{kiosk.url}/ws") as ws:
            await _next(ws, "view")
            await ws.send_str(json.dumps({"type": "touch", "pad": "x" * (MAX_COMMAND_BYTES + 1)}))
            closing = await ws.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with http.ws_connect(f"{kiosk.url}/ws") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"


@pytest.mark.parametrize(
    "path", ["/", "/static/kiosk.js", "/static/kiosk.css", "/i18n/en.json", "/static/nope.js"]
)
async def test_every_response_has_a_strict_csp(kiosk: RunningKiosk, path: str) -> None:
    async with (
        aiohttp.ClientSession(headers=kiosk.key) as http,
        http.get(f"{kiosk.url}{path}") as response,
    ):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        if path != "/static/nope.js":
            assert response.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/i18n/fr.json",
        "/tts/abc.wav",
        "/tts/" + "0" * 64 + ".wav",
        "/static/../controller.py",
        "/static/%2e%2e/controller.py",
    ],
)
async def test_nothing_else_is_served(kiosk: RunningKiosk, path: str) -> None:
    async with (
        aiohttp.ClientSession(headers=kiosk.key) as http,
        http.get(f"{kiosk.url}{path}") as response,
    ):
        assert response.status in (403, 404), path


async def test_other_origins_cannot_drive_the_kiosk(kiosk: RunningKiosk) -> None:
    async with aiohttp.ClientSession(headers=kiosk.key) as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{kiosk.url}/ws", origin="http://evil.example")
        assert refused.value.status == 403


async def test_the_page_has_no_inline_script_or_style(kiosk: RunningKiosk) -> None:
    async with aiohttp.ClientSession(headers=kiosk.key) as http, http.get(kiosk.url) as response:
        html = await response.text()
    assert "<style" not in html and " style=" not in html
    assert "<script>" not in html and "onclick" not in html.lower()


async def test_no_other_process_or_rebinding_page_can_use_the_kiosk(kiosk: RunningKiosk) -> None:
    """Hole 9: without this launch's secret, or under another Host name, nothing is served."""
    async with aiohttp.ClientSession() as http:
        async with http.get(kiosk.url) as response:
            assert response.status == 403  # a local process without the secret
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{kiosk.url}/ws")
        assert refused.value.status == 403
        # DNS rebinding: evil.example resolved to 127.0.0.1 still says so in Host
        rebinding = {**kiosk.key, "Host": "evil.example:" + kiosk.url.rsplit(":", 1)[1]}
        async with http.get(f"{kiosk.url}/i18n/en.json", headers=rebinding) as response:
            assert response.status == 421
        async with http.get(kiosk.launch.replace("launch=", "launch=x")) as response:
            assert response.status == 403
    # the launch link sets the cookie the page then uses, and leaves the address bar
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(kiosk.launch) as response:
            assert response.status == 200 and str(response.url) == f"{kiosk.url}/"
        async with http.ws_connect(f"{kiosk.url}/ws") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
