"""A clerk in Chromium hands a call from a real aiortc kiosk on to another clerk in Chromium
(blind transfer): the kiosk's media reaches the second console, which shows what the call had
gathered, and the session's chain holds both clerks and the hand-over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from media import sources
from media.sources import create_local_tracks
from signaling.keys import BLOBS
from storage import presence, routing, store
from storage.audit import AuditLog
from storage.verify import verify_session
from terminal_client.client import TerminalClient, TerminalState
from terminal_client.uploads import DocumentUploader
from tests.browser.conftest import attach_error_log
from tests.browser.polling import until_async
from tests.browser.test_call_in_chromium import FRAMES_DECODED
from tests.browser.test_console_ui import go_available, kiosk, real_errors, sign_in, wait_state
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.documents.conftest import meta
from tests.documents.samples import page_jpeg
from tests.supervision.test_supervisor_console import sign_in as supervisor_sign_in
from tests.teardown import bounded
from tests.tones import ToneMeter

T = TypeVar("T")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TAXATION = "taxation"
HR = "human-resources-social-security"

IDENTITY = {
    "outcome": "verified",
    "document": {
        "source": "chip", "format": "TD1", "document_type": "ID", "issuing_state": "HKG",
        "document_number": "K1234567", "surname": "CHAN", "given_names": "TAI MAN",
        "nationality": "CHN", "birth_date": "1990-01-01", "sex": "M",
        "expiry_date": "2034-12-31", "optional_data": "",
    },
    "match": {"score": 0.82, "threshold": 0.4, "matched": True},
    "liveness": {
        "passed": True, "challenge": ["blink"], "completed": ["blink"], "reason": None,
        "frames": 40, "matched_frames": 30, "min_score": 0.6, "max_score": 0.9,
    },
}  # fmt: skip


@pytest.fixture
async def second_page(browser: Browser) -> AsyncIterator[Page]:
    """Another clerk's console: its own context (storage, camera), errors in ``page.errors``."""
    context = await browser.new_context(
        permissions=["camera", "microphone"], viewport={"width": 1280, "height": 900}
    )
    new_page = await context.new_page()
    attach_error_log(new_page)
    try:
        yield new_page
    finally:
        await bounded(context.close(), "browser context")


async def until(read: Callable[[], Awaitable[T | None]], holds: Callable[[T], Any]) -> T:
    """Read again until what is read holds (state another task or process changes)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 10
    while (value := await read()) is None or not holds(value):
        assert loop.time() < give_up, f"still {value!r} after 10 s"
        await asyncio.sleep(0.05)
    return value


async def signed_off(server: RunningServer, clerk_id: int) -> None:
    """Wait until the store has the clerk offline (their console signed out)."""
    await until(lambda: presence.clerk(server.db, clerk_id), lambda c: c.state == "offline")


async def post_identity(server: RunningServer, token: str, session_id: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/sessions/{session_id}/identity",
            json=IDENTITY,
            headers={"Authorization": f"Bearer {token}"},
        ) as r,
    ):
        assert r.status == 201, await r.text()


async def receives_kiosk_media(page: Page) -> None:
    """The page's call decodes the kiosk's real frames (and hears its sound)."""
    await until_async(page, f"async () => (await ({FRAMES_DECODED})()).video >= 30", 20000)
    stats = await page.evaluate(FRAMES_DECODED)
    assert stats["audio"] > 0 and stats["width"] == sources.SYNTHETIC_VIDEO.width


async def call_with_alice(
    server: RunningServer, alice: Page, terminal: TerminalClient, token: str
) -> str:
    """The kiosk's call answered by alice (taxation), with an identity result and a document."""
    await terminal.connect()
    session_id = await terminal.request_service("tax-registration", "zh-Hant")
    await alice.click("[data-testid=accept-call]")
    await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
    await receives_kiosk_media(alice)
    await post_identity(server, token, session_id)
    uploader = DocumentUploader(server.url, token, chunk_size=64 * 1024)
    try:
        stored = await uploader.upload(session_id, page_jpeg(), meta("business-licence"))
        assert stored.stored
    finally:
        await uploader.close()
    await expect(alice.locator("[data-testid=identity-status]")).to_have_attribute(
        "data-status", "verified"
    )
    return session_id


async def test_a_call_handed_on_to_a_named_clerk_reaches_them_with_its_evidence(
    server: RunningServer, page: Page, second_page: Page
) -> None:
    alice, bob = page, second_page
    await server.add_clerk("alice", [TAXATION])
    await server.add_clerk("bob", [TAXATION, HR])
    token = await server.add_terminal("kiosk-transfer")
    await sign_in(alice, server, "alice")
    await go_available(alice)
    await sign_in(bob, server, "bob")  # signed in, away: a call can be kept for him
    terminal = kiosk(server, token)
    try:
        session_id = await call_with_alice(server, alice, terminal, token)

        # alice hands it on to bob in human resources
        await alice.click("[data-testid=transfer-open]")
        await expect(alice.locator("[data-testid=transfer-form]")).to_be_visible()
        await alice.select_option("[data-testid=transfer-department]", HR)
        await alice.select_option("[data-testid=transfer-clerk]", "bob")
        await alice.click("[data-testid=transfer-submit]")

        # the kiosk waits again, told to whom, with a fresh offer made for the next clerk
        await terminal.wait_for(TerminalState.QUEUED, timeout=10)
        assert terminal.transfer is not None and terminal.transfer.clerk_name == "Clerk bob"
        assert terminal.transfer.department_id == HR
        held = await until(lambda: routing.get(server.db, session_id), lambda s: s.early_offer)
        assert held.state == "queued" and held.transfers == 1
        # alice's call is over as after a hang-up, and her console says she transferred it
        await expect(alice.locator("[data-testid=call-panel]")).to_be_hidden()
        await expect(alice.locator("[data-testid=notice-text]")).to_contain_text("Clerk bob")
        await wait_state(alice, "available")

        # bob takes it when he is free: the kiosk's media reaches his page
        await bob.click(
            "[data-testid=availability-toggle]"
        )  # rung at once: no wait for "available"
        await bob.locator("[data-testid=incoming-call]").wait_for(state="visible")
        await bob.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await receives_kiosk_media(bob)
        await terminal.video_in.wait_for(30, timeout=20)
        assert terminal.transfer is None and terminal.clerk_name == "Clerk bob"
        # what alice's call gathered is on bob's console at once
        await expect(bob.locator("[data-testid=identity-status]")).to_have_attribute(
            "data-status", "verified"
        )
        await expect(bob.locator("[data-testid=identity-fields] [data-field=number]")).to_have_text(
            "K1234567"
        )
        await bob.wait_for_selector("[data-testid=doc-item-business-licence][data-status=received]")
        # and alice is not rung for it meanwhile (still free, no offer)
        assert await alice.evaluate("() => window.vcounterConsole.state()") == "available"

        await bob.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await terminal.close()

    await server.stored()
    alice_id = (await store.find_clerk(server.db, "alice")).id
    bob_id = (await store.find_clerk(server.db, "bob")).id
    events = await AuditLog(server.db).events(session_id)
    accepted = [e.payload["clerk_id"] for e in events if e.kind == "call.accepted"]
    assert accepted == [alice_id, bob_id]
    requested = next(e for e in events if e.kind == "transfer.requested")
    assert requested.payload["kind"] == "blind"
    assert requested.payload["from_clerk_id"] == alice_id
    assert requested.payload["to_clerk_id"] == bob_id and requested.payload["to_department"] == HR
    completed = next(e for e in events if e.kind == "transfer.completed")
    assert completed.payload == {"from_clerk_id": alice_id, "to_clerk_id": bob_id}
    # what `vcounter verify` checks: the chain, the files it names, the row's head
    report = await verify_session(server.db, server.app[BLOBS], session_id)
    assert report.ok and report.blobs >= 2, report.problems
    row = await store.get_session(server.db, session_id)
    assert row.state == "ended" and row.clerk_id == bob_id and row.transfers == 1
    assert not real_errors(alice) and not real_errors(bob), (alice.errors, bob.errors)  # type: ignore[attr-defined]


async def test_a_transfer_the_server_refuses_is_said_in_the_form_and_the_call_goes_on(
    server: RunningServer, page: Page, second_page: Page
) -> None:
    alice, bob = page, second_page
    await server.add_clerk("alice", [TAXATION])
    await server.add_clerk("bob", [TAXATION])
    token = await server.add_terminal("kiosk-transfer")
    await sign_in(alice, server, "alice")
    await go_available(alice)
    await sign_in(bob, server, "bob")
    terminal = kiosk(server, token)
    try:
        session_id = await call_with_alice(server, alice, terminal, token)
        await alice.click("[data-testid=transfer-open]")
        await alice.select_option("[data-testid=transfer-clerk]", "bob")
        # bob signs out before alice confirms: the server refuses, the form says so
        await bob.click("[data-testid=signout]")
        bob_id = (await store.find_clerk(server.db, "bob")).id
        await signed_off(server, bob_id)
        await alice.click("[data-testid=transfer-submit]")
        error = alice.locator("[data-testid=transfer-error]")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text("无法转接")
        # the call goes on with alice
        await expect(alice.locator("[data-testid=call-panel]")).to_be_visible()
        assert terminal.state == TerminalState.IN_CALL
        assert await alice.evaluate("() => window.vcounterConsole.state()") == "busy"
    finally:
        await terminal.close()
    events = await AuditLog(server.db).events(session_id)
    assert not [e for e in events if e.kind.startswith("transfer.")]


# the hold music the first clerk's console sends the kiosk (consult.js HOLD_NOTES)
HOLD_NOTES = [523.25, 659.25, 783.99]
HOLD_HEARD = 0.5  # at least this share of what the kiosk hears is the hold music

CONSULT_FRAMES = """
async () => {
  const pc = window.vcounterConsole.consultPeerConnection();
  if (!pc) return 0;
  let decoded = 0;
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') decoded += s.framesDecoded || 0;
  });
  return decoded;
}
"""


async def consulting(
    server: RunningServer, alice: Page, bob: Page, terminal: TerminalClient, meter: ToneMeter
) -> None:
    """Alice asks bob about the call: the kiosk holds and hears the hold music, bob takes the
    consultation up and the two consoles see each other."""
    await alice.click("[data-testid=transfer-open]")
    await alice.select_option("[data-testid=transfer-clerk]", "bob")
    await alice.click("[data-testid=transfer-consult]")
    await until(lambda: _value(terminal.on_hold), bool)
    await expect(alice.locator("[data-testid=consult-bar]")).to_be_visible()
    await expect(bob.locator("[data-testid=consult-incoming]")).to_contain_text("Clerk alice")
    # bob is not rung by the matcher meanwhile: he is consulting, not available
    await wait_state(bob, "consulting")
    await bob.click("[data-testid=consult-accept]")
    levels = await meter.wait_until(
        HOLD_NOTES, lambda lv: sum(lv.values()) >= HOLD_HEARD, 20, "the hold music at the kiosk"
    )
    assert sum(levels.values()) >= HOLD_HEARD, levels
    # the two consoles see each other, browser to browser
    await until_async(alice, f"async () => (await ({CONSULT_FRAMES})()) >= 20", 20000)
    await until_async(bob, f"async () => (await ({CONSULT_FRAMES})()) >= 20", 20000)
    # bob sees what the call gathered at once
    await expect(bob.locator("[data-testid=identity-status]")).to_have_attribute(
        "data-status", "verified"
    )
    await bob.wait_for_selector("[data-testid=doc-item-business-licence][data-status=received]")


async def _value(value: Any) -> Any:
    return value


def holding_kiosk(server: RunningServer, token: str, meter: ToneMeter) -> TerminalClient:
    return TerminalClient(
        server.url,
        token,
        lambda: create_local_tracks(True, "", "", label="kiosk"),
        name="kiosk",
        on_audio_frame=meter.listener(),
    )


async def warm_start(
    server: RunningServer, alice: Page, bob: Page
) -> tuple[str, ToneMeter, TerminalClient]:
    await server.add_clerk("alice", [TAXATION])
    await server.add_clerk("bob", [TAXATION])
    token = await server.add_terminal("kiosk-warm")
    await sign_in(alice, server, "alice")
    await go_available(alice)
    meter = ToneMeter(window_s=1.0)
    return token, meter, holding_kiosk(server, token, meter)


async def test_a_warm_transfer_holds_the_applicant_then_hands_the_call_over(
    server: RunningServer, page: Page, second_page: Page
) -> None:
    alice, bob = page, second_page
    token, meter, terminal = await warm_start(server, alice, bob)
    try:
        session_id = await call_with_alice(server, alice, terminal, token)
        await sign_in(bob, server, "bob")
        await go_available(bob)
        await consulting(server, alice, bob, terminal, meter)

        await alice.click("[data-testid=consult-hand-over]")
        # the kiosk's media moves to bob: a new peer connection, answered by his console
        await until(lambda: _value(terminal.clerk_name), lambda name: name == "Clerk bob")
        await until(lambda: _value(terminal.on_hold), lambda on: not on)
        await receives_kiosk_media(bob)
        frames = terminal.video_in.count
        await terminal.video_in.wait_for(frames + 30, timeout=20)
        assert terminal.state == TerminalState.IN_CALL
        await wait_state(bob, "busy")
        # alice is out of the call as after a hang-up, told to whom it went
        await expect(alice.locator("[data-testid=call-panel]")).to_be_hidden()
        await expect(alice.locator("[data-testid=notice-text]")).to_contain_text("Clerk bob")
        await wait_state(alice, "available")
        await expect(bob.locator("[data-testid=consult-bar]")).to_be_hidden()
        await expect(bob.locator("[data-testid=hangup]")).to_be_visible()

        await bob.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await terminal.close()

    await server.stored()
    alice_id = (await store.find_clerk(server.db, "alice")).id
    bob_id = (await store.find_clerk(server.db, "bob")).id
    events = await AuditLog(server.db).events(session_id)
    # the hand-over's events in order (the kiosk's recording segments come in between)
    moves = [e for e in events if e.kind.startswith(("transfer.", "consult.", "call.accepted"))]
    assert [e.kind for e in moves] == [
        "call.accepted", "transfer.requested", "consult.started", "consult.ended",
        "call.accepted", "transfer.completed",
    ]  # fmt: skip
    assert moves[1].payload["kind"] == "warm" and moves[1].payload["to_clerk"] == "bob"
    assert [e.payload["clerk_id"] for e in moves if e.kind == "call.accepted"] == [
        alice_id,
        bob_id,
    ]
    assert moves[3].payload["outcome"] == "handed_over"
    assert moves[5].payload == {"kind": "warm", "from_clerk_id": alice_id, "to_clerk_id": bob_id}
    report = await verify_session(server.db, server.app[BLOBS], session_id)
    assert report.ok and report.blobs >= 2, report.problems
    row = await store.get_session(server.db, session_id)
    assert row.state == "ended" and row.clerk_id == bob_id
    assert not real_errors(alice) and not real_errors(bob), (alice.errors, bob.errors)  # type: ignore[attr-defined]

    # a supervisor's replay tells the hand-over in words
    await store.create_clerk(server.db, "sue", CLERK_PASSWORD, "Sue", [TAXATION], "supervisor")
    await supervisor_sign_in(bob, server, "sue")
    await expect(bob.locator("[data-testid=tab-sessions]")).to_be_visible()
    await bob.goto(f"{server.url}/supervisor?session={session_id}")
    timeline = bob.locator("[data-testid=replay-timeline]")
    await expect(timeline.locator("li[data-kind='transfer.requested']")).to_contain_text(
        "转接来电:转至 bob · taxation"
    )
    await expect(timeline.locator("li[data-kind='consult.started']")).to_contain_text("商量")
    await expect(timeline.locator("li[data-kind='consult.ended']")).to_contain_text("通话转给同事")
    await expect(timeline.locator("li[data-kind='transfer.completed']")).to_contain_text("转接完成")


async def test_a_warm_transfer_taken_back_goes_on_with_the_first_clerk(
    server: RunningServer, page: Page, second_page: Page
) -> None:
    alice, bob = page, second_page
    token, meter, terminal = await warm_start(server, alice, bob)
    try:
        session_id = await call_with_alice(server, alice, terminal, token)
        await sign_in(bob, server, "bob")
        await go_available(bob)
        await consulting(server, alice, bob, terminal, meter)

        await alice.click("[data-testid=consult-take-back]")
        await until(lambda: _value(terminal.on_hold), lambda on: not on)
        # the hold music stops: alice's own microphone reaches the kiosk again
        await meter.wait_until(
            HOLD_NOTES, lambda lv: sum(lv.values()) < 0.05, 20, "the hold music gone"
        )
        await expect(alice.locator("[data-testid=consult-bar]")).to_be_hidden()
        await expect(bob.locator("[data-testid=consult-bar]")).to_be_hidden()
        await wait_state(bob, "available")
        assert terminal.state == TerminalState.IN_CALL and terminal.clerk_name == "Clerk alice"
        assert await alice.evaluate("() => window.vcounterConsole.state()") == "busy"
        frames = terminal.video_in.count
        await terminal.video_in.wait_for(frames + 30, timeout=20)  # alice's picture, same call
        await alice.click("[data-testid=hangup]")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
    finally:
        await terminal.close()

    await server.stored()
    events = await AuditLog(server.db).events(session_id)
    ended = [e.payload["outcome"] for e in events if e.kind == "consult.ended"]
    assert ended == ["taken_back"]
    assert "consult.started" in [e.kind for e in events]
    assert not [e for e in events if e.kind == "transfer.completed"]
    assert (await AuditLog(server.db).verify(session_id)).ok
    row = await store.get_session(server.db, session_id)
    assert row.clerk_id == (await store.find_clerk(server.db, "alice")).id
    assert not real_errors(alice) and not real_errors(bob), (alice.errors, bob.errors)  # type: ignore[attr-defined]


async def test_a_consultation_the_other_clerk_declines_ends_the_hold(
    server: RunningServer, page: Page, second_page: Page
) -> None:
    alice, bob = page, second_page
    token, meter, terminal = await warm_start(server, alice, bob)
    try:
        session_id = await call_with_alice(server, alice, terminal, token)
        await sign_in(bob, server, "bob")
        await go_available(bob)
        await alice.click("[data-testid=transfer-open]")
        await alice.select_option("[data-testid=transfer-clerk]", "bob")
        await alice.click("[data-testid=transfer-consult]")
        await meter.wait_until(
            HOLD_NOTES, lambda lv: sum(lv.values()) >= HOLD_HEARD, 20, "the hold music"
        )
        await bob.click("[data-testid=consult-decline]")
        await until(lambda: _value(terminal.on_hold), lambda on: not on)
        await meter.wait_until(
            HOLD_NOTES, lambda lv: sum(lv.values()) < 0.05, 20, "the hold music gone"
        )
        await expect(alice.locator("[data-testid=notice-text]")).to_contain_text("婉拒")
        await expect(alice.locator("[data-testid=consult-bar]")).to_be_hidden()
        await expect(bob.locator("[data-testid=consult-incoming]")).to_be_hidden()
        await wait_state(bob, "available")
        assert await alice.evaluate("() => window.vcounterConsole.state()") == "busy"
        assert terminal.state == TerminalState.IN_CALL
    finally:
        await terminal.close()
    events = await AuditLog(server.db).events(session_id)
    assert [e.payload["outcome"] for e in events if e.kind == "consult.ended"] == ["declined"]
    assert "consult.started" not in [e.kind for e in events]
