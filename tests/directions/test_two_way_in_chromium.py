"""The issue's test: a mainland kiosk shows the two-way services (Hong Kong's and Macau's, for
mainland residents) and not the mainland's; a Hong Kong department's clerk takes the call in
Chromium, over real aiortc media, and reads the applicant's queue time and clock beside their
own (the clerk's browser is in London, the kiosk in Shenzhen)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from signaling.catalogue import Catalogue
from signaling.keys import CATALOGUE
from storage.audit import AuditLog
from storage.store import get_session
from terminal_client.kiosk.messages import Screen
from terminal_client.kiosk.screens import KioskSettings
from tests.browser.conftest import attach_error_log, without_call_media
from tests.browser.polling import until_async
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.directions.conftest import MAINLAND_PLACE, kiosk_at, two_way_ids
from tests.kiosk.conftest import LANDSCAPE, RunningKiosk, serving_kiosk, shown, tap
from tests.teardown import bounded

CLERK_ZONE = "Europe/London"
KIOSK_ZONE = "Asia/Shanghai"  # Shenzhen's
HK_DEPARTMENTS = ["hk-immigration", "hk-inland-revenue", "hk-companies-registry", "hk-transport"]
FRAMES_DECODED = """
async () => {
  const pc = window.vcounterConsole.peerConnection();
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0;
  });
  return frames;
}
"""
# "10:05(您的时间 03:05)": the applicant's clock, then the clerk's
PAIR = re.compile(r"^(\d\d):(\d\d)\(您的时间 (\d\d):(\d\d)\)$")


@pytest.fixture
async def mainland_kiosk(
    server: RunningServer, tmp_path: Path, kiosk_settings: KioskSettings
) -> AsyncIterator[RunningKiosk]:
    """A kiosk process (controller and page server) registered at the Futian Port place."""
    token = await kiosk_at(server, MAINLAND_PLACE, "futian-1")
    async with serving_kiosk(server, tmp_path, token, kiosk_settings, name="futian-1") as running:
        yield running


def _offset_h(zone: str, at: datetime) -> float:
    offset = ZoneInfo(zone).utcoffset(at) or timedelta()
    return offset.total_seconds() / 3600


def assert_pair(text: str) -> None:
    """``text`` is the applicant's clock and the clerk's, as far apart as their zones are."""
    found = PAIR.match(text.strip())
    assert found, f"not 'HH:MM(您的时间 HH:MM)': {text!r}"
    applicant = int(found[1]) * 60 + int(found[2])
    mine = int(found[3]) * 60 + int(found[4])
    now = datetime.now(UTC)
    apart = (_offset_h(KIOSK_ZONE, now) - _offset_h(CLERK_ZONE, now)) * 60
    assert (applicant - mine) % (24 * 60) == apart % (24 * 60), text


def assert_local_time(text: str, zone: str) -> None:
    """``text`` is HH:MM in ``zone`` now (or a minute ago: the clock turned meanwhile)."""
    now = datetime.now(ZoneInfo(zone))
    readings = {f"{t:%H:%M}" for t in (now, now - timedelta(minutes=1))}
    assert text.strip() in readings, (text, readings)


async def test_a_mainland_kiosk_shows_two_way_services_and_a_hong_kong_clerk_takes_one(
    server: RunningServer, mainland_kiosk: RunningKiosk, browser: Browser
) -> None:
    catalogue: Catalogue = server.app[CATALOGUE]
    await server.add_clerk("hk-clerk", HK_DEPARTMENTS)
    # the kiosk machine's own clock is set elsewhere: the screen shows its place's time
    kiosk_context = await browser.new_context(
        viewport=LANDSCAPE,  # type: ignore[arg-type]
        timezone_id="America/New_York",
    )
    clerk_context = await browser.new_context(
        permissions=["camera", "microphone"], timezone_id=CLERK_ZONE,
        viewport={"width": 1280, "height": 900},
    )  # fmt: skip
    try:
        screen = await kiosk_context.new_page()
        await without_call_media(screen)
        console = await clerk_context.new_page()
        attach_error_log(console)

        # the kiosk offers Hong Kong's and Macau's services only
        assert {s.id for s in mainland_kiosk.controller._catalogue().services} == two_way_ids(
            catalogue
        )
        await screen.goto(mainland_kiosk.launch)
        await shown(screen, "language")
        clock = screen.locator("[data-testid=local-clock]")
        await expect(clock).to_have_attribute("data-zone", KIOSK_ZONE)
        assert_local_time(await clock.inner_text(), KIOSK_ZONE)
        await tap(screen, "choose-zh-Hans")
        await shown(screen, "services")
        tiles = screen.locator("[data-testid=tiles] [data-testid^=department-]")
        await expect(tiles.first).to_be_visible()
        shown_ids = {
            (await t.get_attribute("data-testid") or "").removeprefix("department-")
            for t in await tiles.all()
        }
        two_way_departments = {
            d.id for d in catalogue.serving(("mainland-to-hk", "mainland-to-mo")).departments
        }
        assert shown_ids and shown_ids <= two_way_departments, shown_ids
        assert await screen.locator("[data-testid=department-taxation]").count() == 0
        await tap(screen, "department-hk-companies-registry")
        await tap(screen, "service-hk-company-search")
        await shown(screen, "materials")
        await tap(screen, "call-clerk")
        await shown(screen, "queue")

        # the Hong Kong clerk, in London, signs in and is offered the call
        await console.goto(server.url)
        await console.fill("[data-testid=login-username]", "hk-clerk")
        await console.fill("[data-testid=login-password]", CLERK_PASSWORD)
        await console.click("[data-testid=login-submit]")
        await console.wait_for_function("() => window.vcounterConsole?.state() === 'away'")
        await console.click("[data-testid=availability-toggle]")
        incoming = console.locator("[data-testid=incoming-call]")
        await incoming.wait_for(state="visible")
        assert "公司查册" in await console.inner_text("[data-testid=incoming-service]")
        assert "香港公司注册处" in await console.inner_text("[data-testid=incoming-department]")
        assert_pair(await console.inner_text("[data-testid=incoming-queued-at]"))

        await console.click("[data-testid=accept-call]")
        await shown(screen, "call")
        await mainland_kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 20)
        await until_async(console, f"async () => (await ({FRAMES_DECODED})()) >= 30", 20000)
        assert mainland_kiosk.controller.client.video_in.count > 0
        applicant_time = console.locator("[data-testid=call-applicant-time]")
        await expect(applicant_time).to_be_visible()
        assert_pair(await applicant_time.inner_text())

        session_id = mainland_kiosk.controller.view().session_id
        assert session_id is not None
        await console.click("[data-testid=hangup]")
        await mainland_kiosk.wait_screen(Screen.ENDED)
    finally:
        await bounded(kiosk_context.close(), "kiosk browser context")
        await bounded(clerk_context.close(), "console browser context")

    await server.stored()
    row = await get_session(server.db, session_id)
    assert row.department_id == "hk-companies-registry" and row.end_reason == "clerk_hangup"
    assert (await AuditLog(server.db).verify(session_id)).ok
    assert not [e for e in console.errors if "Failed to load resource" not in e]  # type: ignore[attr-defined]
