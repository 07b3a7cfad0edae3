"""The public booking page on a phone (Chromium, 390×844): book a time in each language's
words, see a full slot as full and a holiday closed, get the number and its QR code, find
the booking again, refuse a mistyped number before any lookup, and cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from signaling.appointments import CLOCK
from storage import appointments
from tests.browser.conftest import attach_error_log
from tests.conftest import RunningServer
from tests.qr import qr_text

PHONE = {"width": 390, "height": 844}
HK = ZoneInfo("Asia/Hong_Kong")
MONDAY_8 = datetime(2026, 12, 7, 8, 0, tzinfo=HK)
MORTGAGE = "mortgage-registration"  # one place a slot


@pytest.fixture
async def phone(browser: Browser, server: RunningServer) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, locale="zh-HK")
    page = await context.new_page()
    errors = attach_error_log(page)
    try:
        yield page
    finally:
        await context.close()
    assert [e for e in errors if "status of 4" not in e] == []


async def fits(page: Page) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width


async def test_book_on_a_phone_find_it_and_cancel_it(phone: Page, server: RunningServer) -> None:
    server.app[CLOCK].set(MONDAY_8)
    # someone else has 09:00 already: it shows as full
    await phone.goto(f"{server.url}/book")
    await expect(phone.locator("[data-testid=book-title]")).to_have_text("辦事預約")
    await phone.click("[data-testid=lang-en]")
    await expect(phone.locator("[data-testid=book-title]")).to_have_text("Book an appointment")
    await phone.click(f"[data-testid=service-{MORTGAGE}]")
    await expect(phone.locator("[data-testid=zone]")).to_have_text("HKT (UTC+8)")
    await expect(phone.locator("[data-testid=day-2026-12-07]")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(phone.locator("[data-testid=day-2026-12-12]")).to_contain_text("Closed")
    # the slot is taken by someone else while the page shows it
    await phone.click("[data-testid=slot-0900]")
    await expect(phone.locator("[data-testid=chosen-slot]")).to_have_text(
        "Real estate mortgage registration · 2026-12-07 Monday 09:00 HKT (UTC+8)"
    )
    other = await _book_directly(server, MONDAY_8.replace(hour=9))
    await phone.fill("[data-testid=book-name]", "Chan Tai Man")
    await phone.fill("[data-testid=book-document]", "A123456(3)")
    await phone.click("[data-testid=book-submit]")
    await expect(phone.locator("[data-testid=book-error]")).to_have_text(
        "This time has just filled up; choose another."
    )
    await expect(phone.locator("[data-testid=slot-0900]")).to_be_disabled()
    await expect(phone.locator("[data-testid=slot-0900]")).to_contain_text("Full")
    await fits(phone)
    await phone.screenshot(path="test-artifacts/booking-slots.png", full_page=True)

    await phone.click("[data-testid=slot-0930]")
    await phone.click("[data-testid=lang-zh-Hans]")
    await expect(phone.locator("[data-testid=book-submit]")).to_have_text("确认预约")
    await phone.click("[data-testid=book-submit]")
    await expect(phone.locator("[data-testid=step-done]")).to_be_visible()
    number = await phone.locator("[data-testid=booking-number]").inner_text()
    assert number.startswith("AP") and len(number) == 13 and number != other
    await expect(phone.locator("[data-testid=step-done]")).to_contain_text(
        "请于 09:00 起到任一自助服务终端“我有预约”签到；09:40 后未签到，预约将失效。"
    )
    await fits(phone)
    await phone.screenshot(path="test-artifacts/booking-done.png", full_page=True)
    qr = await phone.locator("[data-testid=booking-qr]").screenshot()
    assert qr_text(qr) == number
    stored = await appointments.get(server.db, number)
    assert stored is not None and stored.state == "booked" and stored.name == "Chan Tai Man"
    assert stored.slot_start == MONDAY_8.replace(hour=9, minute=30)

    # find it again: a mistyped number is refused on the page, before any lookup
    await phone.click("[data-testid=lang-zh-Hant]")
    await phone.click("[data-testid=tab-mine]")
    wrong_digit = "1" if number[4] != "1" else "2"
    await phone.fill("[data-testid=lookup-number]", number[:4] + wrong_digit + number[5:])
    await phone.fill("[data-testid=lookup-document]", "A1234563")
    looked_up: list[str] = []
    phone.on("request", lambda r: looked_up.append(r.url) if "lookup" in r.url else None)
    await phone.click("[data-testid=lookup-submit]")
    await expect(phone.locator("[data-testid=book-error]")).to_have_text(
        "預約號碼有誤：最後一個字元與其他字元不符，可能輸入錯了一個字元，請核對。"
    )
    assert looked_up == []
    await phone.fill("[data-testid=lookup-number]", number.lower())
    await phone.fill("[data-testid=lookup-document]", "B7654321")
    await phone.click("[data-testid=lookup-submit]")
    await expect(phone.locator("[data-testid=book-error]")).to_have_text(
        "找不到與此證件號碼相符的預約，請核對預約號碼和證件號碼。"
    )
    await phone.fill("[data-testid=lookup-document]", "a123456(3)")
    await phone.click("[data-testid=lookup-submit]")
    await expect(phone.locator("[data-testid=found]")).to_contain_text("已預約")
    await phone.click("[data-testid=cancel-booking]")
    await expect(phone.locator("[data-testid=cancelled]")).to_have_text("預約已取消。")
    stored = await appointments.get(server.db, number)
    assert stored is not None and stored.state == "cancelled"
    await fits(phone)


async def _book_directly(server: RunningServer, start: datetime) -> str:
    """Another person's booking, made meanwhile through the same API."""
    body = {
        "service_id": MORTGAGE,
        "slot_start": start.isoformat(),
        "name": "李小明",
        "document_number": "Z7654321",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/appointments", json=body) as r,
    ):
        assert r.status == 201, await r.text()
        return str((await r.json())["number"])
