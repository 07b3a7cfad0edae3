"""A call over a long, lossy path: the real kiosk in its own network namespace, the clerk's
console in Chromium. 300 ms each way with 5 % loss for 30 s, then 300 ms each way without
loss for 60 s: the call is never dropped, pictures keep coming both ways, and both screens
say the connection is weak."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.browser.frames import clerk_frames
from tests.browser.test_cuts_in_chromium import (
    answered_call,
    kiosk_url,
    link,
    link_server,
    server_extra,
)
from tests.conftest import RunningServer
from tests.netfault import ImpairedLink, NetnsKiosk

__all__ = ["link", "link_server", "server_extra"]  # fixtures


async def frames_both_ways(kiosk: NetnsKiosk, page: Any, since: float) -> tuple[int, int]:
    """Video frames the kiosk and the console decoded since wall time ``since``."""
    at_kiosk = kiosk.frames_since(since)
    _, seen = await clerk_frames(page)
    before = [n for t, n in seen if t <= since]
    at_clerk = (seen[-1][1] if seen else 0) - (before[-1] if before else 0)
    return at_kiosk, at_clerk


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_call_holds_on_a_long_lossy_path_and_both_ends_say_it_is_weak(
    link: ImpairedLink, link_server: RunningServer, page: Any
) -> None:
    server = link_server
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-netns")
    async with NetnsKiosk(link, kiosk_url(server, link), token) as kiosk:
        session_id = await answered_call(server, link, page, kiosk)
        for delay_ms, loss, seconds in ((300.0, 0.05, 30.0), (300.0, 0.0, 60.0)):
            await link.impair(delay_ms, loss)
            start = time.time()
            # the console's hint: the round trip (600 ms) alone makes the link weak (the
            # browser measures it anew with each ICE check, every few seconds)
            await page.wait_for_function(
                "() => { const f = window.vcounterConsole.linkFigures();"
                " return f.weak && f.rtt_ms > 400; }",
                timeout=20_000,
            )
            await page.locator("[data-testid=weak-connection]").wait_for(
                state="visible", timeout=5_000
            )
            await asyncio.sleep(max(0.0, seconds - (time.time() - start)))
            row = await server.session(session_id)
            assert (row.state, row.end_reason) == ("in_call", None), row
            at_kiosk, at_clerk = await frames_both_ways(kiosk, page, start)
            # pictures kept coming both ways, at least a few a second on average
            assert at_kiosk >= 3 * seconds and at_clerk >= 3 * seconds, (at_kiosk, at_clerk)
            # the kiosk's screen says so too (its own reading of the round trip)
            await kiosk.until(lambda r: r.weak, 10, "say the connection is weak")
        await link.clear()
        assert (await server.session(session_id)).state == "in_call"
        await page.locator("[data-testid=weak-connection]").wait_for(state="hidden", timeout=20_000)
        await kiosk.hangup()
        await kiosk.wait_state("ended", timeout=45)
