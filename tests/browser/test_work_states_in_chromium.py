"""A clerk's work states in real Chromium: after a real call with an aiortc kiosk the console
shows the wrap-up with its countdown and refuses to finish without a disposition; then away
with a reason; a supervisor's page follows both."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from media.sources import create_local_tracks
from storage import store
from storage.audit import AuditLog
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.conftest import attach_error_log
from tests.browser.polling import until_async
from tests.browser.test_call_in_chromium import FRAMES_DECODED, sign_in
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.teardown import bounded

STATE = "() => window.vcounterConsole.state()"


async def wait_state(page: Any, state: str) -> None:
    await page.wait_for_function(f"() => window.vcounterConsole.state() === '{state}'")


# short, so the test sees it run out (a condition waited for, not a sleep)
@pytest.mark.wrap_up(3)
async def test_wrap_up_then_away_with_a_reason_seen_by_a_supervisor(
    server: RunningServer, page: Any, browser: Browser
) -> None:
    await server.add_clerk("alice")
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [], "supervisor")
    token = await server.add_terminal("kiosk-macau-1")
    watch_context = await browser.new_context(viewport={"width": 1280, "height": 900})
    watch = await watch_context.new_page()
    attach_error_log(watch)
    terminal = TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )
    try:
        await watch.goto(server.url + "/supervisor")
        await watch.fill("[data-testid=login-username]", "sue")
        await watch.fill("[data-testid=login-password]", CLERK_PASSWORD)
        await watch.click("[data-testid=login-submit]")
        alice_row = watch.locator("#clerks-body tr[data-clerk=alice]")

        await sign_in(page, server, "alice")
        await page.click("[data-testid=availability-toggle]")
        await wait_state(page, "available")
        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "zh-Hant")
        await page.locator("[data-testid=incoming-call]").wait_for(state="visible")
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await until_async(page, f"async () => (await ({FRAMES_DECODED})()).video >= 10", 20000)

        await page.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
        await wait_state(page, "wrap_up")
        panel = page.locator("[data-testid=wrap-up-panel]")
        await expect(panel).to_be_visible()
        await expect(page.locator("[data-testid=clerk-state-label]")).to_contain_text("话后整理")
        countdown = page.locator("[data-testid=wrap-up-countdown]")
        await expect(countdown).not_to_be_empty()
        # the department's own codes (catalogue.json), in the console's language
        options = await page.locator("[data-testid=wrap-up-code] option").all_inner_texts()
        assert options[1:] == [
            "已办结",
            "已完成申报",
            "需补交材料",
            "已转介",
            "申请人已离开",
            "其他",
        ]
        await expect(alice_row.locator("[data-testid=clerk-state]")).to_contain_text("话后整理")
        # the time runs out: the console says so and still wants the code; the supervisor
        # sees the wrap-up as over time
        await expect(countdown).to_contain_text("整理时间已到", timeout=15_000)
        await expect(panel).to_have_attribute("data-overtime", "true")
        await expect(alice_row).to_have_attribute("data-overtime", "true")
        await expect(alice_row.locator("[data-testid=clerk-state]")).to_contain_text("已超时")

        # finishing without a code is refused on screen, and nothing changes
        await page.click("[data-testid=wrap-up-file]")
        error = page.locator("[data-testid=wrap-up-error]")
        await expect(error).to_have_text("请先选择处理结果,再提交。")
        assert (await server.clerk(1)).state == "wrap_up"
        await page.select_option("[data-testid=wrap-up-code]", "return-filed")
        await expect(error).to_be_hidden()
        await page.fill("[data-testid=wrap-up-note]", "申报已提交")
        await page.click("[data-testid=wrap-up-file]")
        await wait_state(page, "available")
        await expect(panel).to_be_hidden()
        await expect(alice_row.locator("[data-testid=clerk-state]")).to_have_text("空闲")

        # away for a meal: said beside the toggle, shown back on both pages
        await page.select_option("[data-testid=away-reason]", "meal")
        await page.click("[data-testid=availability-toggle]")
        await wait_state(page, "away")
        await expect(page.locator("[data-testid=clerk-state-label]")).to_have_text("暂离 · 用餐")
        assert (await server.clerk(1)).away_reason == "meal"
        state_cell = alice_row.locator("[data-testid=clerk-state]")
        await expect(state_cell).to_have_text("暂离 · 用餐")
        in_state = alice_row.locator("[data-testid=clerk-in-state]")
        first = await in_state.inner_text()
        # the time in the state is live: it moves on while the page polls
        await expect(in_state).not_to_have_text(first, timeout=10_000)

        # the day's work report on the supervisor's figures tab: the call, its wrap-up, the meal
        await watch.click("[data-testid=tab-figures]")
        await watch.click("[data-testid=fig-submit]")
        work_row = watch.locator("#work-clerks-body tr[data-clerk=alice]")
        await expect(work_row.locator("td").nth(5)).to_have_text("1")
        await expect(work_row.locator("td").nth(4)).to_contain_text("用餐")
        service_row = watch.locator("#work-services-body tr[data-service=tax-registration]")
        await expect(service_row).to_contain_text("税务登记")
        await expect(service_row.locator("td").nth(1)).to_have_text("1")
    finally:
        await bounded(terminal.close(), "terminal")
        await bounded(watch_context.close(), "supervisor's browser context")

    await server.stored()
    filed = [e for e in await AuditLog(server.db).events(session_id) if e.kind == "wrap_up.filed"]
    assert len(filed) == 1
    assert filed[0].payload["code"] == "return-filed" and filed[0].payload["note"] == "申报已提交"
    assert filed[0].payload["overtime"] is True and filed[0].actor == "clerk:alice"
    assert (await AuditLog(server.db).verify(session_id)).ok
    assert not [e for e in page.errors if "Failed to load resource" not in e], page.errors
    assert not [e for e in watch.errors if "Failed to load resource" not in e], watch.errors
