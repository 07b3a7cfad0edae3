"""Waiting for a clerk: live place and wait, cancel, care-mode priority, refusals shown."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page

from media.sources import create_local_tracks
from signaling.catalogue import Service
from storage.store import get_session
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.kiosk.messages import ChooseService, Screen, SetCareMode, SimpleCommand
from tests.conftest import RunningServer
from tests.kiosk.conftest import Clerk, RunningKiosk, open_kiosk, tap


@pytest.fixture
async def other_applicant(server: RunningServer) -> AsyncIterator[TerminalClient]:
    """Another kiosk, already waiting for a tax clerk."""
    client = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-next-door"),
        lambda: create_local_tracks(True, "", "", label="next-door"),
        name="next-door",
    )
    await client.connect()
    await client.request_service("tax-registration", "en")
    try:
        yield client
    finally:
        await client.close()


async def queue_for(kiosk: RunningKiosk, service_id: str, care: bool = False) -> None:
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SetCareMode(type="set_care_mode", on=care))
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(ChooseService(type="choose_service", service_id=service_id))
    await controller.handle(SimpleCommand(type="call"))


async def test_place_and_wait_update_live(
    kiosk: RunningKiosk, clerk: Clerk, other_applicant: TerminalClient, page: Page
) -> None:
    await open_kiosk(page, kiosk)
    await tap(page, "choose-en")
    await tap(page, "department-taxation")
    await tap(page, "service-tax-filing")
    await tap(page, "call-clerk")
    position = page.locator("[data-testid=queue-position]")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=queue-position]').textContent.includes('2')"
    )
    assert await position.inner_text() == "You are number 2 in line"
    view = kiosk.controller.view()
    # the only clerk is signed in but away: nobody serves this service, so no wait is promised
    assert view.queue is not None and view.queue.estimated_wait_s is None
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=queue-wait]').textContent"
        ".includes('No clerk is on duty')"
    )

    await other_applicant.cancel()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=queue-position]').textContent.includes('1')"
    )
    assert await position.inner_text() == "You are number 1 in line"

    await tap(page, "cancel-queue")
    await page.wait_for_selector("[data-testid=screen-materials]:not([hidden])")
    assert await page.locator("[data-testid=notice]").is_hidden()
    session_id = view.session_id
    assert session_id is not None
    await kiosk.server.stored()
    assert (await get_session(kiosk.server.db, session_id)).state == "cancelled"


async def test_care_mode_goes_first_and_is_flagged(
    kiosk: RunningKiosk, clerk: Clerk, other_applicant: TerminalClient
) -> None:
    await queue_for(kiosk, "tax-filing", care=True)
    view = await kiosk.wait_view(lambda v: v.queue is not None, what="a place")
    assert view.queue is not None and view.queue.position == 1
    await clerk.available()
    await kiosk.wait_screen(Screen.CALL, timeout=20)
    offer = clerk.peer.offers[0]
    assert offer.care_mode and offer.session_id == kiosk.controller.view().session_id
    assert other_applicant.state == TerminalState.QUEUED


async def test_a_refused_request_returns_to_the_materials_with_a_notice(
    kiosk: RunningKiosk, page: Page
) -> None:
    await kiosk.wait_screen(Screen.LANGUAGE)
    # a service the kiosk still lists but the server has since withdrawn
    catalogue = kiosk.controller.catalogue
    assert catalogue is not None
    gone = Service.model_validate(
        {**catalogue.services[0].model_dump(by_alias=True), "id": "withdrawn-service"}
    )
    kiosk.controller.catalogue = catalogue.model_copy(
        update={"services": [*catalogue.services, gone]}
    )
    await open_kiosk(page, kiosk)
    await tap(page, "choose-en")
    await page.fill("[data-testid=search]", catalogue.services[0].names.en)
    await tap(page, "service-withdrawn-service")
    await tap(page, "call-clerk")
    notice = page.locator("[data-testid=notice]")
    await notice.wait_for(state="visible")
    assert await notice.get_attribute("data-key") == "error.unknown_service"
    assert "not available" in await notice.inner_text()
    assert kiosk.controller.view().screen == Screen.MATERIALS
    await tap(page, "notice-dismiss")
    await notice.wait_for(state="hidden")
