"""Checking in an appointment at the kiosk (its page in Chromium, the real kiosk process and
an aiortc clerk): the QR code read from the scanner glass, an early arrival waiting for the
slot and then called ahead of a walk-in who waited longer; a mistyped number refused in the
applicant's words; a late arrival told the priority is lost and joining as a walk-in.

The server's booking clock is set to a Monday morning in Hong Kong (``Clock.set``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import segno
from playwright.async_api import Page, expect

from signaling.appointments import CLOCK, DESK, day_list
from signaling.keys import CATALOGUE
from storage import appointments, routing, store
from storage.audit import AuditLog
from terminal_client.kiosk.documents_ui import DocumentDevices
from terminal_client.kiosk.messages import Screen
from terminal_client.kiosk.screens import KioskSettings
from terminal_client.scanner import SimulatedScanner
from tests.conftest import RunningServer
from tests.kiosk.conftest import (
    LANDSCAPE,
    PORTRAIT,
    Clerk,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    resize,
    shot,
    shown,
    start_kiosk,
    tap,
)
from tests.teardown import bounded

HK = ZoneInfo("Asia/Hong_Kong")
TAX = "tax-registration"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, 7, hour, minute, tzinfo=HK)


async def book(server: RunningServer, start: datetime, document: str) -> str:
    body = {
        "service_id": TAX,
        "slot_start": start.isoformat(),
        "name": "陳大文",
        "document_number": document,
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/api/appointments", json=body) as r,
    ):
        assert r.status == 201, await r.text()
        return str((await r.json())["number"])


@pytest.fixture
def server_extra() -> dict[str, object]:
    """The tests sweep with ``DESK.sweep()`` at the clock times they set: the desk's own
    5-second round would otherwise read a moved clock in the middle of a step (a booking
    swept to no-show while the applicant types its number)."""
    return {"appointment_sweep_s": 3600.0}


@pytest.fixture
async def booked(server: RunningServer, tmp_path: Path) -> str:
    """A 09:30 booking, made at 08:00; its QR code printed on the sheet the scanner holds."""
    server.app[CLOCK].set(at(8))
    number = await book(server, at(9, 30), "A1234563")
    sheet = tmp_path / "sheet"
    sheet.mkdir()
    segno.make_qr(number, error="m").save(str(sheet / "booking.png"), scale=10, border=6)
    return number


@pytest.fixture
async def kiosk_with_scanner(
    server: RunningServer, tmp_path: Path, kiosk_settings: KioskSettings, booked: str
) -> AsyncIterator[RunningKiosk]:
    devices = DocumentDevices(scanner=SimulatedScanner(tmp_path / "sheet", seconds_per_scan=0.1))
    running, runner = await start_kiosk(server, tmp_path, kiosk_settings, documents=devices)
    try:
        yield running
    finally:
        await bounded(runner.cleanup(), "kiosk page server")
        await bounded(running.controller.close(), "kiosk controller")


async def walk_in(server: RunningServer, name: str) -> str:
    terminal, _ = await store.register_terminal(server.db, name, "test hall")
    return (await server.router.request_service(terminal.id, name, "sid", TAX, "en")).id


async def test_an_early_arrival_scans_waits_for_the_slot_and_is_called_first(
    kiosk_with_scanner: RunningKiosk, page: Page, clerk: Clerk, booked: str
) -> None:
    kiosk, server = kiosk_with_scanner, kiosk_with_scanner.server
    await open_kiosk(page, kiosk)
    await tap(page, "lang-en")
    await tap(page, "appointment-open")
    await shown(page, "appointment")
    assert await layout_problems(page, "appointment pad") == []

    server.app[CLOCK].set(at(9, 10))  # 20 minutes early: within the 30 minutes allowed
    await tap(page, "appointment-scan")
    # a full-page scan and its QR decode take seconds on a busy 2-core machine: a bound, not
    # a figure (the first run of the merged suite waited past the default 5 s here)
    await expect(page.locator("[data-testid=appointment-waiting]")).to_be_visible(timeout=30_000)
    await expect(page.locator("[data-testid=appointment-slot]")).to_have_text(
        "Your appointment: 09:30 HKT (UTC+8)"
    )
    await expect(page.locator("[data-testid=appointment-home]")).to_be_hidden()
    assert await layout_problems(page, "appointment waiting") == []
    await shot(page, "appointment-waiting")
    stored = await appointments.get(server.db, booked)
    assert stored is not None and stored.state == "checked_in" and stored.session_id is None

    # a walk-in queues while the booked applicant waits, and waits longer than them
    first = await walk_in(server, "walk-in")
    await server.app[DESK].sweep()  # not yet the slot: nobody is told
    assert kiosk.controller.screen == Screen.APPOINTMENT

    server.app[CLOCK].set(at(9, 30))
    await server.app[DESK].sweep()
    await shown(page, "queue")
    view = await kiosk.wait_view(lambda v: v.session_id is not None, what="a queued session")
    session_id = view.session_id
    assert session_id is not None
    order = [e.id for e in await routing.queue_entries(server.db) if e.service_id == TAX]
    assert order == [session_id, first]

    # the clerk comes free: the booked applicant is called, the walk-in still waits
    await clerk.available()
    await kiosk.wait_screen(Screen.CALL, timeout=20)
    await shown(page, "call")
    assert clerk.peer.session_id == session_id
    assert (await server.session(first)).state == "queued"
    kinds = [e.kind for e in await AuditLog(server.db).events(session_id)]
    assert kinds[:3] == ["session.created", "appointment.checked_in", "appointment.priority_given"]

    # the consoles' list follows the call: in call, then done
    async def listed_state() -> str:
        day = await day_list(server.db, server.app[CATALOGUE], ["taxation"], None, at(9, 31))
        return next(b.state for b in day.bookings if b.number == booked)

    assert await listed_state() == "in_call"
    await clerk.hangup()
    await kiosk.wait_screen(Screen.ENDED)
    assert await listed_state() == "done"


async def test_a_mistyped_number_is_refused_and_a_late_arrival_joins_as_a_walk_in(
    kiosk: RunningKiosk, page: Page
) -> None:
    server = kiosk.server
    server.app[CLOCK].set(at(8))
    number = await book(server, at(9), "B7654321")
    first = await walk_in(server, "walk-in")

    await open_kiosk(page, kiosk)
    await tap(page, "lang-zh-Hant")
    await tap(page, "appointment-open")
    await shown(page, "appointment")
    await expect(page.locator("[data-testid=appointment-scan]")).to_be_hidden()  # no scanner
    # the pad fits in care mode (large keys) and in portrait
    await tap(page, "care-toggle")
    for size in (PORTRAIT, LANDSCAPE):
        await resize(page, size)
        assert await layout_problems(page, f"appointment pad, care mode, {size}") == []
    await shot(page, "appointment-care")
    await tap(page, "care-toggle")

    server.app[CLOCK].set(at(9, 25))  # the grace time (10 minutes) has passed
    digits = number.removeprefix("AP")
    mistyped = digits[:3] + ("1" if digits[3] != "1" else "2") + digits[4:]
    for key in mistyped:
        await tap(page, f"appointment-key-{key}")
    await expect(page.locator("[data-testid=appointment-number]")).to_have_text(f"AP {mistyped}")
    await tap(page, "appointment-confirm")
    await expect(page.locator("[data-testid=appointment-error]")).to_have_text(
        "預約號碼有一個字元輸入錯了，請核對後重新輸入。"
    )
    assert (await appointments.get(server.db, number)).state == "booked"  # type: ignore[union-attr]

    for _ in mistyped:
        await tap(page, "appointment-delete")
    for key in digits:
        await tap(page, f"appointment-key-{key}")
    await tap(page, "appointment-confirm")
    await expect(page.locator("[data-testid=appointment-late]")).to_be_visible()
    await expect(page.locator("[data-testid=appointment-late-text]")).to_have_text(
        "您的預約時間是 09:00 HKT (UTC+8)，已超過 10 分鐘寬限時間，預約不再優先。"
        "您仍可按一般次序排隊。"
    )
    assert await layout_problems(page, "appointment late") == []
    await shot(page, "appointment-late")
    await tap(page, "appointment-walk-in")
    await shown(page, "queue")
    view = await kiosk.wait_view(lambda v: v.session_id is not None, what="a queued session")
    assert view.session_id is not None
    session = await server.session(view.session_id)
    assert session.priority == 0
    order = [e.id for e in await routing.queue_entries(server.db) if e.service_id == TAX]
    assert order == [first, session.id]
    kinds = [e.kind for e in await AuditLog(server.db).events(session.id)]
    assert kinds == ["session.created", "appointment.checked_in", "appointment.priority_lost"]
    stored = await appointments.get(server.db, number)
    assert stored is not None and (stored.state, stored.session_id) == ("late", session.id)
