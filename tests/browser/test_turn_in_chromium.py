"""A relay-only call with the console in real Chromium: its media goes through a real coturn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.polling import until_async
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer, bounded, make_settings, start_server
from tests.coturn import Coturn, require_coturn
from tests.integration.test_turn import SECRET, local_candidate_types

# the console's side of the call: what it decoded, and the kind of its chosen local candidate
RELAYED = """
async () => {
  const pc = window.vcounterConsole.peerConnection();
  if (!pc) return null;
  const stats = await pc.getStats();
  const out = {video: 0, audio: 0, local: null, policy: pc.getConfiguration().iceTransportPolicy};
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.video = s.framesDecoded || 0;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audio = s.totalSamplesReceived || 0;
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (pair) out.local = stats.get(pair.localCandidateId).candidateType;
  return out;
}
"""


@pytest.fixture
async def relay_server(tmp_path: Path) -> AsyncIterator[tuple[RunningServer, Coturn]]:
    require_coturn()
    async with Coturn(tmp_path / "coturn", SECRET) as turn:
        settings = make_settings(
            tmp_path, turn_urls=[turn.url("udp")], turn_secret=SECRET,
            ice_transport_policy="relay",
        )  # fmt: skip
        server, runner = await start_server(settings)
        try:
            yield server, turn
        finally:
            await bounded(runner.cleanup(), "server")


async def test_the_console_takes_a_relay_only_call_through_coturn(
    relay_server: tuple[RunningServer, Coturn], page: Any
) -> None:
    server, turn = relay_server
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-relay")
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    try:
        await terminal.connect()
        await terminal.request_service("tax-registration", "en")
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.video_in.wait_for(20, timeout=20)
        await terminal.audio_in.wait_for(20, timeout=20)
        seen = await until_async(
            page,
            f"async () => {{ const r = await ({RELAYED})();"
            " return r && r.video > 10 && r.audio > 0 && r.local ? r : null; }",
            20_000,
        )
        assert seen["policy"] == "relay"
        assert seen["local"] == "relay", seen
        assert terminal.pc is not None and local_candidate_types(terminal.pc) == {"relay"}
        assert turn.allocations() >= 2
        await terminal.hangup()
        await terminal.wait_for(TerminalState.ENDED)
    finally:
        await terminal.close()
