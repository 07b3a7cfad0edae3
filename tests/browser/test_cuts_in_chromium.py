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
from dataclasses import dataclass
from datetime import UTC, datetime
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
from tests.netfault import ImpairedLink, KioskFailed, NetnsKiosk, require_netfault
from tests.teardown import bounded

CUTS_S = (2.0, 5.0, 15.0)
# frames at each end that count as "flowing again" (a third of a second of the camera's 30 fps)
AGAIN = 10
# the longest a picture may take to come back after the link does (the 15 s cut included)
RECOVER_S = 30.0
# the media_recovery_s of the test of a cut past it (60 s by default)
RECOVERY_LIMIT_S = 8.0


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
    """The link down for ``seconds``: the wall times it went down and came back. Nothing
    crosses it meanwhile (the kernel's packet counts of the namespace's end do not move)."""
    await link.cut()
    cut = time.time()
    before = await link.packets()
    await asyncio.sleep(seconds)
    crossed = await link.packets() - before
    await link.restore()
    assert crossed == 0, f"{crossed} packets crossed the link while it was cut"
    return cut, time.time()


@dataclass
class Break:
    """A break in the call's media as the chain has it: opened, closed (or not yet)."""

    opened: float  # wall time of media.interrupted
    reported_by: str
    closed: float | None = None  # of media.restored
    gap_ms: int | None = None
    link: str | None = None


def wall(at: datetime) -> float:
    """An event's time as a wall time (the store keeps UTC)."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


async def media_breaks(server: RunningServer, session_id: str) -> list[Break]:
    """The call's media breaks, in the order the chain has them."""
    breaks: list[Break] = []
    for event in await AuditLog(server.db).events(session_id):
        if event.kind == "media.interrupted":
            breaks.append(Break(wall(event.created_at), event.payload["reported_by"]))
        elif event.kind == "media.restored":
            assert breaks and breaks[-1].closed is None, ("restored, never interrupted", breaks)
            last = breaks[-1]
            last.closed, last.gap_ms = wall(event.created_at), event.payload["gap_ms"]
            last.link = event.payload["link"]
    return breaks


def of_cut(breaks: list[Break], down: float, back: float) -> list[Break]:
    """The breaks opened while the link was down (the clerk reports the stall within a
    second; the kiosk's own report waits behind the cut and comes after it)."""
    return [b for b in breaks if down - 0.5 <= b.opened <= back]


async def cut_break(server: RunningServer, session_id: str, down: float, back: float) -> Break:
    """Wait until the break the cut opened is closed in the chain (the console reports media
    flowing again once it decodes pictures, which can lag the first frame a little)."""
    breaks: list[Break] = []
    try:
        async with asyncio.timeout(15):
            while True:
                breaks = await media_breaks(server, session_id)
                during = of_cut(breaks, down, back)
                if during and during[0].closed is not None:
                    return during[0]
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(
            f"no closed break for the cut {down:.1f}-{back:.1f}: {breaks}"
        ) from None


def check_breaks(breaks: list[Break], cuts: list[tuple[float, float, float]]) -> None:
    """Each cut (length, down, back) left one break in the chain, opened while the link was
    down, closed with about the cut's gap, not blamed on the clerk's link. Other, short
    breaks may come between (a picture that stalled a second on the loaded machine, the
    kiosk's report of the cut arriving after it)."""
    for cut_s, down, back in cuts:
        during = of_cut(breaks, down, back)
        assert len(during) == 1 and during[0].closed is not None, (cut_s, down, back, breaks)
        gap_ms = during[0].gap_ms or 0
        assert (cut_s - 1) * 1000 <= gap_ms <= (cut_s + RECOVER_S) * 1000, (cut_s, during)
        # the kiosk's link broke; when the kiosk's late reports arrive as the link comes back,
        # the server may read it as the network's (seen with a 5 s cut), never the clerk's
        assert during[0].link in ("terminal", "network"), (cut_s, during)


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
        cuts: list[tuple[float, float, float]] = []
        for cut_s in CUTS_S:
            cut, restored = await cut_for(link, cut_s)
            kiosk_back, clerk_back = await asyncio.gather(
                kiosk.frames_after(restored, count=AGAIN, timeout=RECOVER_S),
                clerk_frames_after(page, restored, count=AGAIN, timeout=RECOVER_S),
            )
            # the same session, still in its call, at the server and at the kiosk
            await server.stored()
            row = await server.session(session_id)
            assert (row.state, row.end_reason) == ("in_call", None), (cut_s, row)
            assert (kiosk.report.session_id, kiosk.report.state) == (session_id, "in_call")
            assert await page.evaluate("() => window.vcounterConsole.state()") == "busy"
            cuts.append((cut_s, cut, restored))
            await cut_break(server, session_id, cut, restored)
            print(
                f"cut {cut_s:g} s: video again at the kiosk after {kiosk_back - restored:.2f} s,"
                f" at the clerk after {clerk_back - restored:.2f} s"
            )
        await kiosk.hangup()
        try:
            # after a long cut the kiosk's socket may still be in TCP's retransmission back-off
            # (or resuming): its hang-up can take seconds to arrive
            await kiosk.wait_state("ended", timeout=45)
        except KioskFailed as exc:
            row = await server.session(session_id)
            raise AssertionError(f"the hang-up did not end the call: {row}") from exc
        assert kiosk.report.end_reason == "applicant_hangup"
        await kiosk.close()  # waits for the recording's upload
        assert kiosk.report.closed is not None and kiosk.report.closed["pending"] == 0
    total, _ = await clerk_frames(page)
    assert total > 0
    await server.stored()
    row = await server.session(session_id)
    assert (row.state, row.end_reason) == ("ended", "applicant_hangup")
    check_breaks(await media_breaks(server, session_id), cuts)
    await check_recording(server, session_id)
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("server_extra", [{"media_recovery_s": RECOVERY_LIMIT_S}])
async def test_a_cut_past_the_recovery_limit_ends_the_call_with_a_recall(
    link: ImpairedLink, link_server: RunningServer, page: Any
) -> None:
    server = link_server
    await server.add_clerk("alice")
    token = await server.add_terminal("kiosk-netns")
    async with NetnsKiosk(link, kiosk_url(server, link), token) as kiosk:
        session_id = await answered_call(server, link, page, kiosk)
        await link.cut()
        try:
            # the server ends it while the kiosk is still cut off (its sweeper looks every 1 s)
            async with asyncio.timeout(RECOVERY_LIMIT_S + 6):
                while (await server.session(session_id)).active:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        except TimeoutError:
            pytest.fail(
                f"the call outlived its media by {RECOVERY_LIMIT_S + 6:g} s (the limit is"
                f" {RECOVERY_LIMIT_S:g} s): {await server.session(session_id)};"
                f" breaks {await media_breaks(server, session_id)}"
            )
        finally:
            await link.restore()
        row = await server.session(session_id)
        # the kiosk was not heard from in the break: its link is the one that broke
        assert (row.state, row.end_reason) == ("failed", "media_lost_at_terminal"), row
        # the kiosk hears it once its link is back: the call was lost, the front of the
        # queue is offered
        await kiosk.wait_state("ended", timeout=30)
        assert kiosk.report.end_reason == row.end_reason, kiosk.report
        assert kiosk.report.recall_of == session_id, kiosk.report
        breaks = await media_breaks(server, session_id)
        assert breaks and breaks[-1].closed is None, breaks
        # taken up again: a new session that names the lost one
        try:
            again = await kiosk.request_service("tax-registration", "en", recall_of=session_id)
        except KioskFailed as exc:
            # TerminalClient.request_service takes any error event as its refusal, also the
            # server's answer to a media report of the lost call still in flight: once more
            # (the request itself may still have gone through)
            assert "is not in a call" in str(exc), exc
            try:
                await kiosk.wait_state("queued", "ringing", timeout=5)
                again = str(kiosk.report.session_id)
            except KioskFailed:
                again = await kiosk.request_service("tax-registration", "en", recall_of=session_id)
        assert again != session_id
        assert (await server.session(again)).recall_of == session_id
