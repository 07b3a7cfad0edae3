"""The console answers from a peer connection made while the clerk waited (warm-peer.js).

The console keeps the next call's RTCPeerConnection ready, candidates gathered and camera
attached: from sign-in (the clerk's status brings the ICE servers) and after every call.
Every call must use it, carry every candidate in the answer
and bring media both ways, also when the next call's ICE servers differ (TURN credentials
minted per call: the ready peer is re-configured, not thrown away).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.polling import until_async
from tests.browser.test_call_in_chromium import FRAMES_DECODED, sign_in
from tests.conftest import RunningServer, make_settings, start_server

ANSWER_CANDIDATES = """() => {
  const pc = window.vcounterConsole.peerConnection();
  return pc && pc.localDescription ? (pc.localDescription.sdp.match(/a=candidate:/g) || []).length : -1;
}"""


async def one_call(page: Any, terminal: TerminalClient) -> tuple[bool, int]:
    """A call accepted by hand; returns (answered from the warm peer, candidates in answer)."""
    await terminal.request_service("tax-registration", "en")
    await page.locator("[data-testid=accept-call]").click()
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    await terminal.video_in.wait_for(10, timeout=20)
    await until_async(page, f"async () => (await ({FRAMES_DECODED})()).video >= 10", 20000)
    warm = await page.evaluate("() => window.vcounterConsole.warmStart()")
    candidates = await page.evaluate(ANSWER_CANDIDATES)
    await page.click("[data-testid=hangup]")
    await terminal.wait_for(TerminalState.ENDED, timeout=10)
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    return bool(warm), int(candidates)


async def calls(server: RunningServer, page: Any) -> list[tuple[bool, int]]:
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-warm")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    try:
        await terminal.connect()
        return [await one_call(page, terminal) for _ in range(3)]
    finally:
        await terminal.close()


async def test_every_call_answers_from_the_warm_peer(server: RunningServer, page: Any) -> None:
    results = await calls(server, page)
    assert [warm for warm, _ in results] == [True, True, True]
    assert all(candidates > 0 for _, candidates in results), results
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors


async def test_per_call_turn_credentials_are_never_used_for_another_call(
    tmp_path: Path, page: Any
) -> None:
    """TURN credentials are minted per session: a peer gathered ahead under the last call's
    would relay this one on another session's allocation, so each call starts afresh."""
    # a TURN server that refuses (nothing listens on TCP port 9): credentials differ per
    # call, gathering fails fast, the host candidates connect
    settings = make_settings(
        tmp_path, turn_urls=["turn:127.0.0.1:9?transport=tcp"], turn_secret="s" * 32
    )
    server, runner = await start_server(settings)
    try:
        results = await calls(server, page)
    finally:
        await page.goto("about:blank")  # the console would reconnect to a stopping server
        await runner.cleanup()
    assert [warm for warm, _ in results] == [False, False, False]
    assert all(candidates > 0 for _, candidates in results), results
