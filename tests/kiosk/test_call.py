"""The kiosk controller through a real call (no browser): prompts, steps, endings, rating."""

from __future__ import annotations

from typing import Any

import pytest

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient
from terminal_client.errors import CommandRefused
from terminal_client.kiosk.controller import KioskController
from terminal_client.kiosk.messages import (
    ChooseService,
    DismissPrompt,
    Rate,
    Screen,
    SetCareMode,
    SetLanguage,
    SimpleCommand,
)
from tests.conftest import RunningServer
from tests.kiosk.conftest import Clerk, RunningKiosk, open_kiosk, shown, stored_rating


async def call_clerk(
    kiosk: RunningKiosk, clerk: Clerk, service_id: str = "tax-registration"
) -> None:
    """From the start screen to a connected call for ``service_id``."""
    controller = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SimpleCommand(type="start"))
    await controller.handle(ChooseService(type="choose_service", service_id=service_id))
    await controller.handle(SimpleCommand(type="call"))
    await kiosk.wait_view(lambda v: v.queue is not None, what="a place in the queue")
    await clerk.available()
    await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 20, "a connected call")


async def test_prompts_and_steps_follow_the_clerk(kiosk: RunningKiosk, clerk: Clerk) -> None:
    await call_clerk(kiosk, clerk)
    view = kiosk.controller.view()
    assert view.call is not None
    assert (view.call.clerk_name, view.call.department_id, view.call.step) == (
        "Clerk alice",
        "taxation",
        2,  # the service was chosen at the kiosk: the call starts at the video link
    )
    await clerk.step(4)
    await kiosk.wait_view(lambda v: v.call is not None and v.call.step == 4, what="step 4")
    await clerk.push("text", "請稍候，我正在核對資料")
    await clerk.push("checklist", "請準備", ["身份證", "通行證"])
    view = await kiosk.wait_view(lambda v: len(v.prompts) == 2, what="two prompts")
    text, checklist = view.prompts
    assert (text.kind, text.text) == ("text", "請稍候，我正在核對資料")
    assert (checklist.kind, checklist.items) == ("checklist", ["身份證", "通行證"])
    assert text.audio_url is None  # not in care mode: nothing is spoken

    await kiosk.controller.handle(DismissPrompt(type="dismiss_prompt", prompt_id=checklist.id))
    assert [p.id for p in kiosk.controller.view().prompts] == [text.id]
    with pytest.raises(CommandRefused, match="no prompt"):
        await kiosk.controller.handle(DismissPrompt(type="dismiss_prompt", prompt_id="gone"))
    with pytest.raises(CommandRefused, match='cannot start again on the "call" screen'):
        await kiosk.controller.handle(SimpleCommand(type="home"))


async def test_clerk_hangs_up_then_the_rating_is_stored_once(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    await call_clerk(kiosk, clerk)
    session_id = kiosk.controller.view().session_id
    assert session_id is not None
    await clerk.hangup()
    view = await kiosk.wait_screen(Screen.ENDED)
    assert view.notice is None and view.call is None
    await kiosk.controller.handle(Rate(type="rate", rating=5, comment="Very helpful"))
    assert kiosk.controller.view().screen == Screen.THANKS
    with pytest.raises(CommandRefused):
        await kiosk.controller.handle(Rate(type="rate", rating=1))
    await kiosk.wait_screen(Screen.LANGUAGE)  # the thanks screen goes back by itself
    row = await stored_rating(kiosk.server, session_id)
    assert (row.rating, row.rating_comment, row.end_reason) == (5, "Very helpful", "clerk_hangup")


@pytest.mark.grace(1.0)
async def test_a_lost_clerk_offers_to_call_again_first_in_line(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    await call_clerk(kiosk, clerk)
    lost = kiosk.controller.view().session_id
    assert lost is not None
    sent: list[str | None] = []
    request = kiosk.controller.client.request_service

    async def request_service(*args: Any, **kwargs: Any) -> str:
        sent.append(kwargs.get("recall_of"))  # what the kiosk asks of the real server
        return await request(*args, **kwargs)

    kiosk.controller.client.request_service = request_service  # type: ignore[method-assign]
    await clerk.peer.close()
    view = await kiosk.wait_screen(Screen.INTERRUPTED)
    # not "how was our service?" with an error over it: a way back to a clerk
    assert (view.notice, view.call, view.service_id) == (None, None, "tax-registration")
    with pytest.raises(CommandRefused):
        await kiosk.controller.handle(Rate(type="rate", rating=1))
    await kiosk.controller.handle(SimpleCommand(type="call_again"))
    view = await kiosk.wait_view(lambda v: v.queue is not None, what="a place in the queue")
    assert view.screen == Screen.QUEUE and view.session_id not in (None, lost)
    assert sent == [lost]


@pytest.mark.grace(1.0)
async def test_finish_after_a_cut_off_call_forgets_it(kiosk: RunningKiosk, clerk: Clerk) -> None:
    await call_clerk(kiosk, clerk)
    await clerk.peer.close()
    await kiosk.wait_screen(Screen.INTERRUPTED)
    await kiosk.controller.handle(SimpleCommand(type="home"))
    view = kiosk.controller.view()
    assert (view.screen, view.session_id, view.notice) == (Screen.LANGUAGE, None, None)


async def test_care_mode_is_flagged_to_the_clerk_and_prompts_are_spoken(
    kiosk: RunningKiosk, clerk: Clerk
) -> None:
    controller: KioskController = kiosk.controller
    await kiosk.wait_screen(Screen.LANGUAGE)
    await controller.handle(SetLanguage(type="set_language", language="zh-Hans"))
    await controller.handle(SetCareMode(type="set_care_mode", on=True))
    view = await kiosk.wait_view(lambda v: v.speech_url is not None, what="spoken instruction")
    assert view.speech_url is not None
    await call_clerk(kiosk, clerk, "tax-registration")
    assert clerk.peer.offers[-1].care_mode and clerk.peer.offers[-1].language == "zh-Hans"
    await clerk.push("place_document", "护照")
    view = await kiosk.wait_view(lambda v: bool(v.prompts) and v.prompts[0].audio_url is not None)
    assert view.prompts[0].audio_url is not None
    assert view.speech_url is not None and view.speech_url != view.prompts[0].audio_url


async def test_a_call_lost_with_the_server_connection_is_offered_again(
    kiosk: RunningKiosk, clerk: Clerk, server: RunningServer
) -> None:
    await call_clerk(kiosk, clerk)
    lost = kiosk.controller.view().session_id
    # the same device token signing in elsewhere takes the kiosk's connection away mid-call
    intruder = TerminalClient(
        server.url, kiosk.controller.client.token,
        lambda: create_local_tracks(True, "", "", label="intruder"),
    )  # fmt: skip
    try:
        await intruder.connect()
        # the kiosk comes back at once, finds its call gone: not the start screen, but the
        # lost call offered again
        view = await kiosk.wait_screen(Screen.INTERRUPTED, timeout=20)
    finally:
        await intruder.close()
    assert (view.service_id, view.session_id) == ("tax-registration", lost)


async def test_a_break_in_the_media_says_reconnecting_and_keeps_the_call(
    kiosk: RunningKiosk, clerk: Clerk, page: Any
) -> None:
    """The clerk's side stops receiving: the kiosk's screen says the connection dropped and
    that the clerk is still there, in the applicant's language, until media flows again."""
    await open_kiosk(page, kiosk)
    await call_clerk(kiosk, clerk)
    await shown(page, "call")
    await clerk.peer.report("interrupted", stalled_ms=1200)
    await kiosk.wait_view(lambda v: v.call is not None and v.call.reconnecting, what="reconnecting")
    line = page.locator("[data-testid=call-reconnecting]")
    await line.wait_for(state="visible")
    text = await line.inner_text()
    assert "Clerk alice" in text and ("重新連線" in text or "reconnecting" in text), text
    await clerk.peer.report("connected")
    await kiosk.wait_view(
        lambda v: v.call is not None and not v.call.reconnecting, what="the call again"
    )
    await line.wait_for(state="hidden")
    assert kiosk.controller.view().screen == Screen.CALL
