"""The kiosk's network cut in a call: the real kiosk in its own network namespace, the clerk's
console in Chromium, the real server on the host between them.

The kiosk (tests/media/kiosk_in_netns.py: TerminalClient with its synthetic camera) reaches
the server and the clerk only over the namespace's veth pair (tests/netfault.py), which the
tests take down for a while: the same session carries on afterwards, with video both ways and
a recording that verifies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Page

from signaling.recordings import SEGMENT_EVENT, side_file
from storage.audit import AuditLog
from tests.browser.frames import clerk_frames, clerk_frames_after, watch_clerk_frames
from tests.browser.test_call_in_chromium import sign_in
from tests.conftest import RunningServer, make_settings, start_server
from tests.netfault import ImpairedLink, NetnsKiosk, require_netfault
from tests.teardown import bounded

CUTS_S = (2.0, 5.0, 15.0)
# frames at each end that count as "flowing again" (a third of a second of the camera's 30 fps)
AGAIN = 10
# the longest a picture may take to come back after the link does (the 15 s cut included)
RECOVER_S = 30.0


@pytest.fixture
async def link() -> AsyncIterator[ImpairedLink]:
    """The kiosk's namespace and link (made before the browser, which then sees its address)."""
    require_netfault()
    async with ImpairedLink() as made:
        yield made


@pytest.fixture
def server_extra() -> dict[str, object]:
    """Settings for :func:`link_server` beyond the suite's (a test parametrises this)."""
    return {}


@pytest.fixture
async def link_server(
    tmp_path: Path, link: ImpairedLink, server_extra: dict[str, object]
) -> AsyncIterator[RunningServer]:
    """The real server on loopback (for Chromium) and on the link's host end (for the kiosk)."""
    running, runner = await start_server(
        make_settings(tmp_path, **server_extra), also_on=(link.outside,)
    )
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "server")


def kiosk_url(server: RunningServer, link: ImpairedLink) -> str:
    """The server's URL as the namespaced kiosk reaches it: over the link."""
    return server.url.replace("127.0.0.1", link.outside)


async def answered_call(
    server: RunningServer, link: ImpairedLink, page: Page, kiosk: NetnsKiosk
) -> str:
    """The clerk signed in and available, the kiosk's call accepted and its video flowing
    both ways: the session id."""
    await sign_in(page, server, "alice")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'available'")
    await watch_clerk_frames(page)
    session_id = await kiosk.request_service("tax-registration", "en")
    await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
    await page.click("[data-testid=accept-call]")
    await kiosk.wait_state("in_call", timeout=30)
    started = time.time()
    await kiosk.frames_after(started - 5, count=30, timeout=30)
    await clerk_frames_after(page, started - 5, count=30, timeout=30)
    return session_id


async def cut_for(link: ImpairedLink, seconds: float) -> tuple[float, float]:
    """The link down for ``seconds``: the wall times it went down and came back."""
    await link.cut()
    cut = time.time()
    await asyncio.sleep(seconds)
    await link.restore()
    return cut, time.time()


async def check_recording(server: RunningServer, session_id: str) -> None:
    """The kiosk's recording of the call: in the chain, which verifies, both sides playable."""
    events = await AuditLog(server.db).events(session_id)
    report = await AuditLog(server.db).verify(session_id)
    assert report.ok, report
    for side in ("applicant", "clerk"):
        segments = [
            e.payload for e in events if e.kind == SEGMENT_EVENT and e.payload["side"] == side
        ]
        indexes = [s["index"] for s in segments]
        # each once, in order (a window the starved encoder dropped whole leaves a gap)
        assert indexes and indexes == sorted(set(indexes)) and indexes[0] == 0, (side, indexes)
        path = await side_file(server.app, session_id, side)
        with av.open(str(path)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == sum(s["video_frames"] for s in segments) > 0, (side, frames, segments)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_the_same_call_carries_on_after_cuts_of_2_5_and_15_s(
    link: ImpairedLink, link_server: RunningServer, page: Any
) -> None:
    server = link_server
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-netns")
    async with NetnsKiosk(link, kiosk_url(server, link), token) as kiosk:
        session_id = await answered_call(server, link, page, kiosk)
        for cut_s in CUTS_S:
            cut, restored = await cut_for(link, cut_s)
            kiosk_back, clerk_back = await asyncio.gather(
                kiosk.frames_after(restored, count=AGAIN, timeout=RECOVER_S),
                clerk_frames_after(page, restored, count=AGAIN, timeout=RECOVER_S),
            )
            # the link was down: nothing reached the kiosk (frames in flight aside)
            assert kiosk.frames_since(cut + 0.5) - kiosk.frames_since(restored) == 0, cut_s
            # the same session, still in its call, at the server and at the kiosk
            await server.stored()
            row = await server.session(session_id)
            assert (row.state, row.end_reason) == ("in_call", None), (cut_s, row)
            assert (kiosk.report.session_id, kiosk.report.state) == (session_id, "in_call")
            assert await page.evaluate("() => window.vcounterConsole.state()") == "busy"
            print(
                f"cut {cut_s:g} s: video again at the kiosk after {kiosk_back - restored:.2f} s,"
                f" at the clerk after {clerk_back - restored:.2f} s"
            )
        await kiosk.hangup()
        await kiosk.wait_state("ended", timeout=15)
        assert kiosk.report.end_reason == "applicant_hangup"
        await kiosk.close()  # waits for the recording's upload
        assert kiosk.report.closed is not None and kiosk.report.closed["pending"] == 0
    total, _ = await clerk_frames(page)
    assert total > 0
    await server.stored()
    row = await server.session(session_id)
    assert (row.state, row.end_reason) == ("ended", "applicant_hangup")
    await check_recording(server, session_id)
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
