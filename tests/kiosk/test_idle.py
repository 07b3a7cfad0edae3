"""Inactivity: warn, then start over and forget what was entered; never while waiting or in a call."""

from __future__ import annotations

import asyncio

import pytest

from terminal_client.kiosk.messages import (
    Browse,
    ChooseService,
    Screen,
    SetCareMode,
    SetLanguage,
    SimpleCommand,
)
from terminal_client.kiosk.screens import KioskSettings
from tests.kiosk.conftest import Clerk, RunningKiosk

IDLE_S = 0.4
WARNING_S = 1.2


@pytest.fixture
def kiosk_settings() -> KioskSettings:
    return KioskSettings(idle_timeout_s=IDLE_S, idle_warning_s=WARNING_S, thanks_s=1)


async def test_idle_warns_then_starts_over_and_forgets(kiosk: RunningKiosk) -> None:
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SetLanguage(type="set_language", language="en"))
    await controller.handle(SetCareMode(type="set_care_mode", on=True))
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(Browse(type="browse", department_id="taxation", search="tax"))
    await controller.handle(ChooseService(type="choose_service", service_id="tax-registration"))
    warned = await kiosk.wait_view(lambda v: v.idle_warning_s is not None, 3, "a warning")
    assert warned.screen == Screen.MATERIALS and warned.idle_warning_s == 2  # ceil(1.2)
    view = await kiosk.wait_screen(Screen.LANGUAGE, timeout=4)
    assert view.language == "zh-Hant" and not view.care_mode
    assert (view.service_id, view.department_id, view.search) == (None, None, "")
    assert (view.idle_warning_s, view.notice, view.session_id) == (None, None, None)


async def test_no_reset_while_waiting_for_a_clerk_or_in_a_call(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(ChooseService(type="choose_service", service_id="tax-registration"))
    await controller.handle(SimpleCommand(type="call"))
    await kiosk.wait_view(lambda v: v.queue is not None)
    await asyncio.sleep(IDLE_S + WARNING_S + 0.3)
    view = controller.view()
    assert (view.screen, view.idle_warning_s) == (Screen.QUEUE, None)
    await clerk.available()
    await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 20)
    await asyncio.sleep(IDLE_S + WARNING_S + 0.3)
    view = controller.view()
    assert (view.screen, view.idle_warning_s) == (Screen.CALL, None)
