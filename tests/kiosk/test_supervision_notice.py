"""A supervisor in the call, as the applicant is told (``supervision_notice``, issue 16): who
joined or listens in, in the applicant's language, beside the clerk's video; gone with
``none``, the call's end or a new call; another call's or a malformed notice changes nothing.

The server's monitor is not driven here: the test emits the notice to the kiosk's room
through the running app's socket.io server, as ``signaling.monitor`` does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import pytest
from playwright.async_api import Page, expect

from signaling.messages import NAMESPACE_TERMINAL, Event, SupervisionNotice, SupervisorInfo
from signaling.rooms import terminal_room
from signaling.socket_server import SOCKET_SERVER
from terminal_client.client import TerminalState
from terminal_client.kiosk.messages import (
    ChooseService,
    KioskView,
    Screen,
    SetCareMode,
    SimpleCommand,
)
from terminal_client.kiosk.messages import SupervisionView as View
from tests.kiosk.conftest import (
    LANDSCAPE,
    PORTRAIT,
    Clerk,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    resize,
    set_language,
    shot,
    shown,
)
from tests.kiosk.test_call import call_clerk

WANG = SupervisorInfo(name="王芳", role="supervisor")
OTHER_SESSION = "f" * 32
NOTICE = "[data-testid=call-supervision]"


@dataclass
class KioskRoom:
    """The kiosk's socket.io room on the running server, and the call it is in."""

    kiosk: RunningKiosk
    terminal_id: int
    session_id: str

    async def tell(self, payload: object) -> None:
        """Emit ``supervision_notice`` to the kiosk, as the server's monitor does."""
        await self.kiosk.server.app[SOCKET_SERVER].emit(
            Event.SUPERVISION_NOTICE.value, payload,
            to=terminal_room(self.terminal_id), namespace=NAMESPACE_TERMINAL,
        )  # fmt: skip

    async def notice(
        self,
        state: Literal["monitored", "joined", "none"],
        supervisor: SupervisorInfo | None = WANG,
        session_id: str | None = None,
    ) -> None:
        """Tell the kiosk a well-formed notice (for its call unless ``session_id`` says)."""
        notice = SupervisionNotice(
            session_id=session_id or self.session_id,
            state=state,
            supervisor=supervisor,
        )
        await self.tell(notice.model_dump(mode="json"))


async def in_call(kiosk: RunningKiosk, clerk: Clerk, again: bool = False) -> KioskRoom:
    """A connected call, and the room its notices go to; ``again``: the clerk is still
    available after an earlier call and answers at once."""
    if again:
        controller = kiosk.controller
        await controller.handle(SimpleCommand(type="start"))
        await controller.handle(ChooseService(type="choose_service", service_id="tax-filing"))
        await controller.handle(SimpleCommand(type="call"))
        await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 20, "the call")
    else:
        await call_clerk(kiosk, clerk)
    session_id = kiosk.controller.client.session_id
    assert session_id is not None
    session = await kiosk.server.session(session_id)
    return KioskRoom(kiosk, session.terminal_id, session_id)


def supervision(view: KioskView) -> View | None:
    return view.call.supervision if view.call is not None else None


async def at_step(kiosk: RunningKiosk, clerk: Clerk, step: int) -> KioskView:
    """Have the clerk move the call to ``step`` and wait for it: the server sends it down the
    same socket after whatever the test told the kiosk before, so all of that was handled."""
    await clerk.step(step)
    return await kiosk.wait_view(
        lambda v: v.call is not None and v.call.step == step, what=f"step {step}"
    )


@pytest.mark.browser
async def test_the_applicant_sees_who_joined_or_listens_in_their_language(
    kiosk: RunningKiosk, clerk: Clerk, page: Page
) -> None:
    await open_kiosk(page, kiosk)
    room = await in_call(kiosk, clerk)
    await shown(page, "call")
    line = page.locator(NOTICE)
    assert await line.is_hidden()

    await set_language(page, "en")
    await room.notice("joined")
    await expect(line).to_have_text("王芳 (Supervisor) has joined the call: you can hear them")
    # someone new speaking in the call is said to a screen reader at once
    assert await line.get_attribute("role") == "status"
    assert await line.get_attribute("aria-live") == "assertive"
    assert await line.get_attribute("data-state") == "joined"
    await set_language(page, "zh-Hans")
    await expect(line).to_have_text("主管 王芳 已加入通话，您可以听到他们的声音")

    # beside the clerk's video, never over it, and fitting the screen either way up and in
    # care mode's large type
    video = await page.locator("[data-testid=clerk-video]").bounding_box()
    box = await line.bounding_box()
    assert video is not None and box is not None
    assert box["x"] >= video["x"] + video["width"] or box["y"] >= video["y"] + video["height"]
    problems: list[str] = []
    for care in (False, True):
        await kiosk.controller.handle(SetCareMode(type="set_care_mode", on=care))
        await page.wait_for_function(
            f"() => document.body.classList.contains('care') === {str(care).lower()}"
        )
        for name, size in (("landscape", LANDSCAPE), ("portrait", PORTRAIT)):
            await resize(page, size)
            await expect(line).to_be_visible()
            where = f"joined, {name}{', care' if care else ''}"
            problems += await layout_problems(page, where)
            await shot(page, f"supervision-{name}{'-care' if care else ''}")
    assert problems == []
    await kiosk.controller.handle(SetCareMode(type="set_care_mode", on=False))
    await resize(page, LANDSCAPE)

    await set_language(page, "zh-Hant")
    await room.notice("monitored")
    await expect(line).to_have_text("本次通話正由主管 王芳 旁聽")
    assert await line.get_attribute("aria-live") == "polite"
    assert await line.get_attribute("data-state") == "monitored"
    await set_language(page, "en")
    await expect(line).to_have_text("A supervisor (王芳) is listening to this call")

    # a role the kiosk has no word for is shown as the server gave it; no name, no name
    await room.notice("joined", SupervisorInfo(name="Li Wei", role="inspector"))
    await expect(line).to_have_text("Li Wei (inspector) has joined the call: you can hear them")
    await room.notice("joined", None)
    await expect(line).to_have_text("A supervisor has joined the call")

    await room.notice("none", None)
    await expect(line).to_be_hidden()
    assert supervision(kiosk.controller.view()) is None
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.browser
async def test_another_calls_or_a_malformed_notice_changes_nothing(
    kiosk: RunningKiosk, clerk: Clerk, page: Page, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="terminal_client.client")
    await open_kiosk(page, kiosk)
    room = await in_call(kiosk, clerk)
    await shown(page, "call")
    await set_language(page, "zh-Hans")
    line = page.locator(NOTICE)
    await room.notice("joined")
    await expect(line).to_have_text("主管 王芳 已加入通话，您可以听到他们的声音")

    await room.notice("none", None, session_id=OTHER_SESSION)
    await room.notice("monitored", SupervisorInfo(name="李四", role="supervisor"), OTHER_SESSION)
    malformed: list[object] = [
        {"session_id": room.session_id, "state": "left"},
        {"session_id": room.session_id, "state": "joined", "supervisor": {"name": "王芳"}},
        {"session_id": "not-a-session", "state": "none"},
        "joined",
    ]
    for payload in malformed:
        await room.tell(payload)
    view = await at_step(kiosk, clerk, 4)

    assert supervision(view) == View(state="joined", name="王芳", role="supervisor")
    await expect(page.locator("[data-testid=step-indicator] li.current")).to_have_attribute(
        "data-step", "4"
    )
    await expect(line).to_have_text("主管 王芳 已加入通话，您可以听到他们的声音")
    not_understood = [r for r in caplog.records if "supervision notice not understood" in r.message]
    assert len(not_understood) == len(malformed)
    assert kiosk.controller.client.state == TerminalState.IN_CALL
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_notice_ends_with_the_call_and_is_not_carried_into_the_next(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    room = await in_call(kiosk, clerk)
    await room.notice("joined")
    view = await kiosk.wait_view(lambda v: supervision(v) is not None, what="the notice")
    assert supervision(view) == View(state="joined", name="王芳", role="supervisor")
    assert kiosk.controller.client.supervision is not None

    await clerk.hangup()
    await kiosk.wait_screen(Screen.ENDED)
    assert kiosk.controller.client.supervision is None  # at once, not with the next call

    await kiosk.controller.handle(SimpleCommand(type="home"))
    first = room
    room = await in_call(kiosk, clerk, again=True)
    assert room.session_id != first.session_id
    assert supervision(kiosk.controller.view()) is None
    # a late notice about the first call, then the second call's own next step
    await first.notice("joined")
    view = await at_step(kiosk, clerk, 3)
    assert supervision(view) is None and kiosk.controller.client.supervision is None
    await room.notice("monitored")
    view = await kiosk.wait_view(lambda v: supervision(v) is not None, what="the notice")
    assert supervision(view) == View(state="monitored", name="王芳", role="supervisor")
