"""The supervisor console in real Chromium: sign-in, live queues, figures, search, replay."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from media.sources import create_local_tracks
from storage import store
from storage.staff_audit import StaffLog
from terminal_client.client import TerminalClient
from tests.conftest import CLERK_PASSWORD, RunningServer

SERVICE = "tax-registration"
VIDEO_TIMES = """() => ['applicant', 'clerk'].map(
    (s) => document.querySelector(`[data-testid=video-${s}]`).currentTime)"""


async def sign_in(
    page: Page, server: RunningServer, username: str, path: str = "/supervisor"
) -> None:
    await page.goto(server.url + path)
    await page.fill("[data-testid=login-username]", username)
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")


async def add_supervisor(server: RunningServer) -> None:
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")


def real_errors(page: Any) -> list[str]:
    # refused requests (a clerk's 403) are logged by Chromium as failed resources
    return [e for e in page.errors if "Failed to load resource" not in e]


async def test_a_supervisor_signing_in_at_the_clerk_console_lands_here(
    server: RunningServer, page: Any
) -> None:
    await add_supervisor(server)
    await sign_in(page, server, "sue", path="/")
    await page.wait_for_url("**/supervisor")
    await expect(page.locator("[data-testid=tab-live]")).to_be_visible()
    await expect(page.locator("[data-testid=live-updated]")).not_to_be_empty()


async def test_a_clerk_account_is_turned_away(server: RunningServer, page: Any) -> None:
    await server.add_clerk("carl")
    await sign_in(page, server, "carl")
    await expect(page.locator("[data-testid=error-text]")).to_contain_text("办事员账号")
    await expect(page.locator("#app-view")).to_be_hidden()


async def test_live_view_shows_the_waiting_applicant(server: RunningServer, page: Any) -> None:
    await add_supervisor(server)
    await server.add_clerk("carl", ["taxation"])
    kiosk = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-hall"),
        lambda: create_local_tracks(True, "", "", label="k"),
        name="kiosk",
    )
    try:
        await sign_in(page, server, "sue")
        await expect(page.locator("[data-testid=live-updated]")).not_to_be_empty()
        await expect(page.locator("#queues-empty")).to_be_visible()
        await kiosk.connect()
        session_id = await kiosk.request_service(SERVICE, "en")
        row = page.locator(f"#queues-body tr[data-service={SERVICE}]")
        await expect(row).to_contain_text("税务登记")
        await expect(row.locator("td").nth(1)).to_have_text("1")
        await expect(
            page.locator(f"#live-sessions-body tr[data-session='{session_id}']")
        ).to_contain_text("kiosk-hall")
        await page.click("[data-testid=lang-en]")
        await expect(row).to_contain_text("Tax registration")
        await kiosk.cancel()
        await expect(page.locator("#queues-empty")).to_be_visible()
    finally:
        await kiosk.close()
    assert real_errors(page) == []


async def test_search_then_replay_seeks_both_videos(
    server: RunningServer, recorded: str, page: Any
) -> None:
    await add_supervisor(server)
    await sign_in(page, server, "sue")
    await page.click("[data-testid=tab-figures]")
    await page.click("[data-testid=fig-submit]")
    total = page.locator("#figures-body tr[data-service=total]")
    await expect(total.locator("td").nth(1)).to_have_text("1")
    await page.click("[data-testid=tab-sessions]")
    await page.fill("[data-testid=q-clerk]", "rita")
    await page.click("[data-testid=search-submit]")
    await expect(page.locator("[data-testid=search-count]")).to_contain_text("1")
    await page.click(f"#results-body tr[data-session='{recorded}'] [data-testid=replay-open]")
    timeline = page.locator("[data-testid=replay-timeline] li")
    await expect(timeline.first).to_be_visible()
    await expect(page.locator("[data-testid=replay-chain]")).to_contain_text("审计链完整")
    assert "/supervisor?session=" in page.url
    for side in ("applicant", "clerk"):
        await page.wait_for_function(
            f"() => document.querySelector('[data-testid=video-{side}]').readyState >= 1"
        )
    # clicking an event puts both videos at that moment of the call
    ended = page.locator("[data-testid=replay-timeline] li[data-kind='session.ended']")
    target = float(await ended.get_attribute("data-t") or "nan")
    assert 1.0 < target < 10.0, target
    await ended.locator("button").click()
    await page.wait_for_function(
        f"() => {VIDEO_TIMES}().every((t) => Math.abs(t - {target}) < 0.3)", timeout=5000
    )
    # a link with ?t= opens at that moment
    await page.goto(f"{server.url}/supervisor?session={recorded}&t=1.5")
    await page.wait_for_function(
        f"() => {VIDEO_TIMES}().every((t) => Math.abs(t - 1.5) < 0.3)", timeout=5000
    )
    await page.click("[data-testid=replay-play]")
    # both play on from 1.5 s (however slowly a loaded machine decodes), and together
    await page.wait_for_function(f"() => {VIDEO_TIMES}().every((t) => t > 1.6)", timeout=15000)
    times = await page.evaluate(VIDEO_TIMES)
    assert abs(times[0] - times[1]) < 0.3, times
    staff = await StaffLog(server.db).events(recorded)
    assert [e.kind for e in staff].count("replay.opened") == 2
    assert real_errors(page) == []


async def test_every_text_exists_in_both_languages(server: RunningServer, page: Any) -> None:
    await page.goto(server.url + "/supervisor")
    missing = await page.evaluate(
        """async () => {
          const { SUPERVISOR_TEXT } = await import('/static/supervisor-text.js');
          const [zh, en] = [SUPERVISOR_TEXT['zh-Hans'], SUPERVISOR_TEXT.en];
          const used = [...document.querySelectorAll('[data-st]')].map((e) => e.dataset.st);
          return {
            onlyZh: Object.keys(zh).filter((k) => !(k in en)),
            onlyEn: Object.keys(en).filter((k) => !(k in zh)),
            unknown: used.filter((k) => !(k in zh)),
          };
        }"""
    )
    assert missing == {"onlyZh": [], "onlyEn": [], "unknown": []}
