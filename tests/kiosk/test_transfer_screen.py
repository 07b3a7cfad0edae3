"""The kiosk when its clerk hands the call on: not a hang-up but "you are being transferred to
<clerk>, please wait" in large type, in the applicant's language, until the next clerk answers."""

from __future__ import annotations

from typing import Any

from signaling.keys import CATALOGUE
from terminal_client.kiosk.messages import Screen, TransferView
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.kiosk.conftest import (
    Clerk,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    set_language,
    shot,
    shown,
)
from tests.kiosk.test_call import call_clerk
from tests.peers import ClerkPeer, login
from tests.teardown import bounded

HR = "human-resources-social-security"

FONT_PX = "(sel) => parseFloat(getComputedStyle(document.querySelector(sel)).fontSize)"


async def test_the_applicant_is_told_whom_they_are_transferred_to_then_the_next_clerk_answers(
    server: RunningServer, kiosk: RunningKiosk, clerk: Clerk, page: Any
) -> None:
    await server.add_clerk("bob")
    bob = ClerkPeer(server.url, await login(server.url, "bob", CLERK_PASSWORD))
    await bob.connect()
    await bob.wait(lambda: bob.status is not None and bob.status.state == "away")
    try:
        await open_kiosk(page, kiosk)
        await call_clerk(kiosk, clerk)
        await shown(page, "call")
        session_id = clerk.peer.session_id
        await clerk.peer.emit(
            "transfer", {"session_id": session_id, "department_id": HR, "clerk": "bob"}
        )
        view = await kiosk.wait_screen(Screen.QUEUE)
        hr_names = server.app[CATALOGUE].department(HR).names
        assert view.transfer == TransferView(department=hr_names.zh_hant, clerk="Clerk bob")
        assert view.call is None and view.session_id == session_id

        await shown(page, "queue")
        notice = page.locator("[data-testid=queue-transfer]")
        await notice.wait_for(state="visible")
        assert await notice.inner_text() == f"正在為您轉接至{hr_names.zh_hant}的Clerk bob，請稍候"
        assert await page.locator("[data-testid=queue-title]").is_hidden()
        # large type: bigger than the queue's own title would be
        assert await page.evaluate(FONT_PX, "[data-testid=queue-transfer]") >= 40
        assert await layout_problems(page, "transfer") == []
        await shot(page, "transfer-zh-Hant")
        await set_language(page, "en")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=queue-transfer]').textContent"
            f" === 'You are being transferred to Clerk bob ({hr_names.en}), please wait'"
        )
        await set_language(page, "zh-Hans")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=queue-transfer]').textContent"
            f" === '正在为您转接至{hr_names.zh_hans}的Clerk bob，请稍候'"
        )

        # bob takes it: the call screen again, with him
        await bob.emit("set_availability", {"available": True})
        view = await kiosk.wait_view(
            lambda v: v.call is not None and v.call.connected, 20, "the call with bob"
        )
        assert view.call is not None and view.call.clerk_name == "Clerk bob"
        assert view.transfer is None and view.session_id == session_id
        await shown(page, "call")
    finally:
        await bounded(bob.close(), "clerk peer")


async def test_the_applicant_holds_while_the_clerk_consults_a_colleague(
    server: RunningServer, kiosk: RunningKiosk, clerk: Clerk, page: Any
) -> None:
    await server.add_clerk("bob")
    bob = ClerkPeer(server.url, await login(server.url, "bob", CLERK_PASSWORD), auto_accept=False)
    await bob.connect()
    await bob.wait(lambda: bob.status is not None)
    try:
        await open_kiosk(page, kiosk)
        await call_clerk(kiosk, clerk)
        await shown(page, "call")
        # free once alice has the call (free before, he would have been rung for it)
        await bob.emit("set_availability", {"available": True})
        await bob.wait(lambda: bob.status is not None and bob.status.state == "available")
        session_id = clerk.peer.session_id
        await clerk.peer.emit("consult_start", {"session_id": session_id, "clerk": "bob"})
        await kiosk.wait_view(lambda v: v.call is not None and v.call.on_hold, what="hold")
        hold = page.locator("[data-testid=call-hold]")
        await hold.wait_for(state="visible")
        assert "請稍候" in await hold.inner_text()
        assert await page.evaluate(FONT_PX, ".call-hold-title") >= 40
        assert await layout_problems(page, "hold") == []
        await shot(page, "hold-zh-Hant")
        await set_language(page, "en")
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=call-hold]').innerText"
            ".includes('Please hold')"
        )
        # bob declines: the call goes on with alice, the hold screen goes
        await bob.emit("consult_answer", {"session_id": session_id, "accept": False})
        view = await kiosk.wait_view(
            lambda v: v.call is not None and not v.call.on_hold, what="the call again"
        )
        assert view.call is not None and view.call.clerk_name == "Clerk alice"
        await hold.wait_for(state="hidden")
    finally:
        await bounded(bob.close(), "clerk peer")
