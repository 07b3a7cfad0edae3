"""The day's appointments in the clerk console and the supervisor console (Chromium): the
bookings of their own departments only, in time order, the name masked, the state kept up
(booked, then checked in once the applicant checks in at a kiosk)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
from playwright.async_api import Page, expect

from signaling.appointments import CLOCK
from storage import store
from tests.browser.test_console_ui import sign_in
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.supervision.test_supervisor_console import sign_in as supervisor_sign_in

HK = ZoneInfo("Asia/Hong_Kong")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 7, hour, minute, tzinfo=HK)


async def post(server: RunningServer, path: str, body: object, token: str = "") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + path, json=body, headers=headers) as r,
    ):
        assert r.status in (200, 201), await r.text()
        return dict(await r.json())


async def book(server: RunningServer, service: str, start: datetime, name: str, doc: str) -> str:
    body = {"service_id": service, "slot_start": start.isoformat(), "name": name,
            "document_number": doc}  # fmt: skip
    return (await post(server, "/api/appointments", body))["number"]


async def test_clerks_and_supervisors_see_their_departments_bookings_of_the_day(
    server: RunningServer, page: Page
) -> None:
    server.app[CLOCK].set(at(8))
    later = await book(server, "tax-filing", at(10), "Chan Tai Man", "A1234563")
    earlier = await book(server, "tax-registration", at(9), "陳大文", "B7654321")
    await book(server, "property-transfer-registration", at(9), "李小明", "C2223334")
    await server.add_clerk("tina", ["taxation"])
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", ["taxation"], "supervisor")

    await page.goto(server.url)
    await page.evaluate("localStorage.setItem('vcounter.console.language', 'en')")
    await sign_in(page, server, "tina")
    panel = page.locator("[data-testid=bookings-panel]")
    rows = panel.locator("[data-testid=booking-row]")
    await expect(rows).to_have_count(2)  # not the other department's
    await expect(rows.nth(0)).to_have_attribute("data-number", earlier)
    await expect(rows.nth(0)).to_contain_text("09:00")
    await expect(rows.nth(0)).to_contain_text("陳＊＊")
    await expect(rows.nth(0)).to_contain_text("Booked")
    await expect(rows.nth(1)).to_have_attribute("data-number", later)
    await expect(rows.nth(1)).to_contain_text("C*** T** M**")
    await expect(panel.locator("[data-testid=bookings-summary]")).to_have_text(
        "2 bookings · HKT (UTC+8)"
    )
    assert "Chan Tai Man" not in await panel.inner_text()
    assert "B7654321" not in await panel.inner_text()

    # the applicant checks in at a kiosk: the panel says so at the next refresh
    _, token = await store.register_terminal(server.db, "kiosk-1", "hall")
    server.app[CLOCK].set(at(8, 45))
    await post(server, "/api/appointments/check-in", {"number": earlier}, token)
    await panel.locator("[data-testid=bookings-refresh]").click()
    await expect(rows.nth(0)).to_have_attribute("data-state", "checked_in")
    await expect(rows.nth(0)).to_contain_text("Checked in")

    supervisor = await page.context.new_page()
    await supervisor.goto(server.url + "/supervisor")
    await supervisor.evaluate("localStorage.setItem('vcounter.console.language', 'zh-Hant')")
    await supervisor_sign_in(supervisor, server, "sue")
    await supervisor.click("[data-testid=tab-bookings]")
    board = supervisor.locator("[data-testid=bookings-panel]")
    await expect(board.locator("[data-testid=booking-row]")).to_have_count(2)
    await expect(board.locator("[data-testid=booking-row]").nth(0)).to_contain_text("已報到")
    await expect(board.locator("h2")).to_have_text("今日預約")
    # another day: nothing booked
    await board.locator("[data-testid=bookings-day]").fill("2026-12-08")
    await expect(board.locator("[data-testid=bookings-empty]")).to_have_text("這一天沒有預約。")
