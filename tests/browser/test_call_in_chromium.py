"""The clerk console in real Chromium takes a call from an aiortc kiosk, end to end."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Page

from media import sources
from media.sources import create_local_tracks
from signaling.router import matching
from storage.audit import AuditLog
from storage.store import get_session
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.polling import until_async
from tests.conftest import CLERK_PASSWORD, RunningServer

FRAMES_DECODED = """
async () => {
  const pc = window.vcounterConsole.peerConnection();
  if (!pc) return {video: 0, audio: 0};
  const stats = await pc.getStats();
  const out = {video: 0, audio: 0, width: 0};
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') { out.video = s.framesDecoded || 0; out.width = s.frameWidth || 0; }
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audio = s.totalSamplesReceived || 0;
  });
  return out;
}
"""


async def sign_in(page: Page, server: RunningServer, username: str) -> None:
    await page.goto(server.url)
    await page.fill("[data-testid=login-username]", username)
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_function(
        "() => window.vcounterConsole && window.vcounterConsole.state() === 'away'"
    )


async def available_with_kiosk(page: Page, server: RunningServer) -> TerminalClient:
    """Clerk alice signed in and available in Chromium; an aiortc kiosk (not yet connected)."""
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-macau-1")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    return TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )


async def test_clerk_in_chromium_takes_a_call(server: RunningServer, page: Any) -> None:
    terminal = await available_with_kiosk(page, server)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "zh-Hant")
        incoming = page.locator("[data-testid=incoming-call]")
        await incoming.wait_for(state="visible")
        # The clerk sees which service and the applicant's language before answering.
        text = await incoming.inner_text()
        assert "税务登记" in text or "Tax" in text
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.video_in.wait_for(30, timeout=20)
        await terminal.audio_in.wait_for(20, timeout=20)
        await until_async(page, f"async () => (await ({FRAMES_DECODED})()).video >= 30", 20000)
        stats = await page.evaluate(FRAMES_DECODED)
        assert (
            stats["video"] >= 30
            and stats["audio"] > 0
            and stats["width"] == sources.SYNTHETIC_VIDEO.width
        )
        assert terminal.video_in.count >= 30

        await page.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
        assert terminal.end_reason == "clerk_hangup"
        await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    finally:
        await terminal.close()

    await server.stored()
    row = await get_session(server.db, session_id)
    assert row.state == "ended" and row.end_reason == "clerk_hangup"
    report = await AuditLog(server.db).verify(session_id)
    assert report.ok and report.count >= 5
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors


async def test_a_kiosk_offer_that_overtakes_the_ringing_reaches_the_console(
    server: RunningServer, page: Any, monkeypatch: Any
) -> None:
    """The server relays the kiosk's offer to a ringing clerk the moment it comes, while the
    ringing itself (call_offered) leaves after the router's reads: on a loaded machine the offer
    came first, the console had no call to give it to, the accept did not send it again, and
    the call stayed "connecting". Here the router's read before the ringing is made slow."""
    read_scope = matching.kiosk_scope

    async def slow_scope(db: Any, terminal_id: int) -> Any:
        await asyncio.sleep(1.5)
        return await read_scope(db, terminal_id)

    monkeypatch.setattr(matching, "kiosk_scope", slow_scope)
    terminal = await available_with_kiosk(page, server)
    try:
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "en")
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
        row = await get_session(server.db, session_id)
        assert row.offer_shown_to is not None  # the offer went to the clerk while it rang
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.video_in.wait_for(10, timeout=20)
        assert terminal.media_attempt == 0  # the first peer connection, not a replacement
    finally:
        await terminal.close()
    kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
    assert "media.restarting" not in kinds, kinds
