"""The SELF_SERVICE screen in Chromium: the real kiosk process (controller, page server, print
queue) against the real server and the department sandbox. Only the ID reader and camera are
faked (hardware): they "check" the applicant and report it as the identity step does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from storage import store
from storage.audit import AuditLog
from terminal_client.identity import Progress
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.messages import Screen
from tests.conftest import RunningServer
from tests.kiosk.conftest import RunningKiosk, open_kiosk, serving_kiosk, shot, tap
from tests.self_service.conftest import KNOWN, RunningDepartment

pytestmark = pytest.mark.browser


def card_and_face(server_url: str, token: str) -> Callable[..., object]:
    """The kiosk's reader and camera, faked: the card is read and the face matches, and the
    attempt is reported to the server as the identity step reports it."""

    async def identify(session_id: str, progress: Callable[[Progress], None]) -> None:
        progress(Progress("document"))
        document = {
            "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "HKG",
            "document_number": KNOWN, "surname": "CHAN", "given_names": "TAI MAN",
            "nationality": "CHN", "birth_date": "1990-01-01", "sex": "M",
            "expiry_date": "2034-12-31",
        }  # fmt: skip
        report = {
            "outcome": "verified", "document": document,
            "match": {"score": 0.9, "threshold": 0.4, "matched": True},
            "liveness": {"passed": True, "challenge": ["blink"], "completed": ["blink"],
                         "frames": 12, "matched_frames": 12},
        }  # fmt: skip
        progress(Progress("sending"))
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{server_url}/api/sessions/{session_id}/identity", json=report,
                headers={"Authorization": f"Bearer {token}"},
            ) as r,
        ):  # fmt: skip
            assert r.status == 201, await r.text()

    return identify


@pytest.fixture
async def kiosk(server: RunningServer, tmp_path: Path) -> AsyncIterator[RunningKiosk]:
    token = await server.add_terminal("kiosk-self")

    def reader(controller: KioskController) -> None:
        controller.self_service.identify = card_and_face(server.url, token)  # type: ignore[assignment]

    async with serving_kiosk(
        server, tmp_path, token, name="self", print_dir=tmp_path / "print", before_start=reader
    ) as running:
        yield running


async def state_is(page: Page, state: str) -> None:
    await page.wait_for_selector(
        f"[data-testid=self-service-status][data-state={state}]", timeout=20000
    )


async def choose(page: Page) -> None:
    await tap(page, "choose-en")
    await tap(page, "department-taxation")
    await tap(page, "service-income-tax-record-print")
    # the materials screen draws after the kiosk process answers the tap: wait for it
    await expect(page.locator("[data-testid=screen-materials]")).to_be_visible()
    await expect(page.locator("[data-testid=call-clerk]")).to_have_text("Start")
    await tap(page, "call-clerk")


@pytest.mark.parametrize("backend", ["sqlite"])  # the store's side runs on both in test_flow.py
async def test_slow_department_prints_then_a_failing_one_hands_over_to_a_clerk(
    kiosk: RunningKiosk, page: Page, department: RunningDepartment, tmp_path: Path
) -> None:
    server = kiosk.server
    await department.control(delay_ms=1500)
    await open_kiosk(page, kiosk)
    await choose(page)
    await state_is(page, "slow")
    slow = await page.locator("[data-testid=self-service-status]").inner_text()
    assert "slow" in slow and "still waiting" in slow
    await shot(page, "self-service-slow")
    await state_is(page, "printed")
    number = await page.locator("[data-testid=self-service-number]").inner_text()
    assert number.startswith("Acceptance number: VC")
    assert await page.locator("[data-testid=self-service-ask-clerk]").is_hidden()
    await shot(page, "self-service-printed")
    [printed] = list((tmp_path / "print" / "spool").glob("*.pdf"))
    assert printed.read_bytes().startswith(b"%PDF")
    first = kiosk.controller.view()
    await tap(page, "self-service-finish")
    await kiosk.wait_screen(Screen.LANGUAGE)

    # the department fails now: the reason in a sentence, and "Ask a clerk"
    await department.control(fail="http_500")
    await choose(page)
    await state_is(page, "failed")
    reason = page.locator("[data-testid=self-service-reason]")
    assert "not answering" in await reason.inner_text()
    await shot(page, "self-service-failed")
    session_id = kiosk.controller.self_service.session_id
    assert session_id is not None and session_id != first.session_id
    await tap(page, "self-service-ask-clerk")
    await page.wait_for_selector("[data-testid=screen-queue]:not([hidden])", timeout=15000)
    view = await kiosk.wait_view(lambda v: v.session_id is not None, 15, "queued")
    assert view.session_id is not None
    call = await store.get_session(server.db, view.session_id)
    assert call.state == "queued" and call.service_id == "income-tax-record-print"
    kinds = [e.kind for e in await AuditLog(server.db).events(call.id)]
    assert kinds == ["session.created", "self_service.handover", "identity.result"]
    ended = await store.get_session(server.db, session_id)
    assert ended.end_reason == "self_service_handed_over"
    assert page.errors == []  # type: ignore[attr-defined]
