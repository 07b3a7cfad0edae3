"""The clerk console in real Chromium: sign-in, availability, offers, language, reconnects."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import Browser, Page, expect

from media.sources import create_local_tracks
from signaling.auth import issue_token
from signaling.messages import ErrorEvent, Event, Role
from storage import routing
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.conftest import attach_error_log
from tests.conftest import CLERK_PASSWORD, RunningServer

CURRENT_STATE = "window.vcounterConsole && window.vcounterConsole.state()"
STATE = f"() => {CURRENT_STATE}"


async def sign_in(page: Page, server: RunningServer, username: str) -> None:
    await page.goto(server.url)
    await page.fill("[data-testid=login-username]", username)
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await wait_state(page, "away")


async def wait_state(page: Page, state: str, timeout: float = 10_000) -> None:
    await page.wait_for_function(
        f"() => ({CURRENT_STATE}) === {json.dumps(state)}", timeout=timeout
    )


async def go_available(page: Page) -> None:
    await page.click("[data-testid=availability-toggle]")
    await wait_state(page, "available")


def real_errors(page: Any) -> list[str]:
    # A refused login is a 401 that Chromium logs as a failed resource; that one is expected.
    return [e for e in page.errors if "Failed to load resource" not in e]


def kiosk(server: RunningServer, token: str) -> TerminalClient:
    return TerminalClient(
        server.url, token, lambda: create_local_tracks(True, "", "", label="kiosk"), name="kiosk"
    )


async def test_wrong_password_shows_a_readable_error(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    await page.goto(server.url)
    banner = page.locator("[data-testid=error-banner]")
    await expect(banner).to_be_hidden()

    await page.click("[data-testid=login-submit]")
    await expect(banner).to_contain_text("请填写用户名和密码")

    await page.fill("[data-testid=login-username]", "alice")
    await page.fill("[data-testid=login-password]", "not the password")
    await page.click("[data-testid=login-submit]")
    await expect(banner).to_contain_text("用户名或密码错误")
    text = await banner.inner_text()
    assert "{" not in text and "Traceback" not in text and "401" not in text
    # Still on the form, ready to retry; the password field has the focus.
    await expect(page.locator("[data-testid=login-submit]")).to_be_enabled()
    await expect(page.locator("[data-testid=login-password]")).to_be_focused()
    await expect(page.locator("[data-testid=clerk-state]")).to_be_hidden()

    await page.click("[data-testid=error-dismiss]")
    await expect(banner).to_be_hidden()
    assert real_errors(page) == []


async def test_sign_in_shows_the_clerk_and_their_state(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice", ["taxation", "notary"])
    await sign_in(page, server, "alice")
    await expect(page.locator("[data-testid=clerk-name]")).to_have_text("Clerk alice")
    departments = page.locator("[data-testid=clerk-departments]")
    await expect(departments).to_contain_text("税务局")
    await expect(departments).to_contain_text("公证处")
    card = page.locator("[data-testid=clerk-state]")
    await expect(card).to_contain_text("Clerk alice")
    await expect(card).to_contain_text("税务局")
    await expect(card).to_have_attribute("data-state", "away")
    await expect(page.locator("[data-testid=clerk-state-label]")).to_have_text("暂离 · 不接听来电")
    await expect(page.locator("[data-testid=error-banner]")).to_be_hidden()
    await expect(page.locator("[data-testid=incoming-call]")).to_be_hidden()
    await expect(page.locator("[data-testid=login-username]")).to_be_hidden()

    # A reload keeps the clerk signed in (same tab), and signing out returns to the form.
    await page.reload()
    await wait_state(page, "away")
    await page.click("[data-testid=signout]")
    await expect(page.locator("[data-testid=login-username]")).to_be_visible()
    assert await page.evaluate(STATE) == "offline"
    assert page.errors == []


async def test_availability_toggle(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    await sign_in(page, server, "alice")
    toggle = page.locator("[data-testid=availability-toggle]")
    state = page.locator("[data-testid=clerk-state-label]")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await expect(toggle).to_have_text("开始接听")

    await go_available(page)
    await expect(state).to_contain_text("空闲")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(toggle).to_have_text("暂停接听")
    assert (await server.clerk(1)).state == "available"

    # Keyboard works too: focus the button and press Enter.
    await toggle.focus()
    await page.keyboard.press("Enter")
    await wait_state(page, "away")
    await expect(state).to_contain_text("暂离")
    assert page.errors == []


async def test_decline_passes_the_call_to_another_clerk(
    server: RunningServer, page: Any, browser: Browser
) -> None:
    await server.add_clerk("alice")
    await server.add_clerk("bob")
    token = await server.add_terminal("kiosk-macau-1")
    bob_context = await browser.new_context(permissions=["camera", "microphone"])
    bob = await bob_context.new_page()
    attach_error_log(bob)
    terminal = kiosk(server, token)
    try:
        await sign_in(page, server, "alice")
        await sign_in(bob, server, "bob")
        # Alice has been idle longest, so the call rings for her first.
        await go_available(page)
        await go_available(bob)
        await bob.check("[data-testid=auto-answer]")

        await terminal.connect()
        session_id = await terminal.request_service("tax-registration", "zh-Hant")
        incoming = page.locator("[data-testid=incoming-call]")
        await expect(incoming).to_be_visible()
        await wait_state(page, "ringing")
        await expect(incoming).to_contain_text("税务登记")
        await expect(page.locator("[data-testid=incoming-language]")).to_have_text("繁体中文")
        await expect(page.locator("[data-testid=incoming-expiry]")).to_contain_text("秒")
        waited = page.locator("[data-testid=incoming-waited]")
        first = await waited.inner_text()
        await expect(waited).not_to_have_text(first, timeout=3000)  # the wait keeps counting
        await expect(bob.locator("[data-testid=incoming-call]")).to_be_hidden()

        await page.click("[data-testid=decline-call]")
        await expect(incoming).to_be_hidden()
        await expect(page.locator("[data-testid=notice-banner]")).to_contain_text("其他办事员")
        await wait_state(page, "available")

        # Bob has auto-answer on: the call goes straight through to him.
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await wait_state(bob, "busy")
        status = bob.locator("[data-testid=call-status]")
        await expect(status).to_contain_text("通话中", timeout=10_000)
        await expect(bob.locator("[data-testid=hangup]")).to_be_enabled()
        await expect(bob.locator("[data-testid=availability-toggle]")).to_be_disabled()
        assert (await server.session(session_id)).clerk_id == 2

        # The applicant hangs up: Bob's call panel closes and says why.
        await terminal.hangup("applicant_hangup")
        await terminal.wait_for(TerminalState.ENDED, timeout=10)
        await expect(bob.locator("[data-testid=call-panel]")).to_be_hidden()
        await expect(bob.locator("[data-testid=notice-banner]")).to_contain_text("申请人已挂断")
        await wait_state(bob, "available")
        assert await bob.evaluate("() => window.vcounterConsole.peerConnection()") is None
        assert page.errors == [] and bob.errors == []  # type: ignore[attr-defined]
    finally:
        await terminal.close()
        await bob_context.close()


async def test_language_switch_to_english(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    await page.goto(server.url)
    heading = page.locator("#login-heading")
    await expect(heading).to_have_text("办事员登录")
    assert await page.evaluate("document.documentElement.lang") == "zh-Hans"

    await page.click("[data-testid=lang-en]")
    await expect(heading).to_have_text("Clerk sign-in")
    await expect(page.locator("[data-testid=login-submit]")).to_have_text("Sign in")
    await expect(page.locator("[data-testid=lang-en]")).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate("document.documentElement.lang") == "en"

    await page.fill("[data-testid=login-username]", "alice")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await wait_state(page, "away")
    await expect(page.locator("[data-testid=clerk-state]")).to_contain_text("Away")
    await expect(page.locator("[data-testid=clerk-departments]")).to_contain_text("Taxation Bureau")
    await expect(page.locator("[data-testid=availability-toggle]")).to_have_text(
        "Start taking calls"
    )

    # The choice survives a reload; switching back gives Chinese again.
    await page.reload()
    await wait_state(page, "away")
    await expect(page.locator("[data-testid=clerk-state]")).to_contain_text("Away")
    await page.click("[data-testid=lang-zh-Hans]")
    await expect(page.locator("[data-testid=clerk-state]")).to_contain_text("暂离")
    assert page.errors == []


async def test_both_languages_have_every_text(server: RunningServer, page: Any) -> None:
    await page.goto(server.url)
    missing = await page.evaluate(
        """async () => {
          const { DICTIONARY } = await import('/static/i18n.js');
          const zh = Object.keys(DICTIONARY['zh-Hans']), en = Object.keys(DICTIONARY.en);
          const used = [...document.querySelectorAll('[data-i18n]')].map((e) => e.dataset.i18n);
          return {
            onlyZh: zh.filter((k) => !en.includes(k)),
            onlyEn: en.filter((k) => !zh.includes(k)),
            unknown: used.filter((k) => !zh.includes(k)),
            empty: [...zh, ...en].filter((k) => !DICTIONARY['zh-Hans'][k] || !DICTIONARY.en[k]),
          };
        }"""
    )
    assert missing == {"onlyZh": [], "onlyEn": [], "unknown": [], "empty": []}


async def test_a_refused_token_returns_to_sign_in(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    expired = issue_token(server.settings.signing_key(), 1, "alice", "clerk", -60)
    for token, message in [
        ("not-a-token", "您的登录已失效"),
        (expired, "登录已过期"),
    ]:
        await page.goto(server.url)
        await page.evaluate(
            """(token) => sessionStorage.setItem('vcounter.console.session', JSON.stringify({
              token, expiresAt: Date.now() + 3600e3, displayName: 'Alice', departments: []}))""",
            token,
        )
        await page.reload()
        await expect(page.locator("[data-testid=error-banner]")).to_contain_text(message)
        await expect(page.locator("[data-testid=login-username]")).to_be_visible()
        assert await page.evaluate("() => sessionStorage.length") == 0


async def test_server_errors_are_shown_readably(server: RunningServer, page: Any) -> None:
    await server.add_clerk("alice")
    await sign_in(page, server, "alice")
    sid = (await server.clerk(1)).sid
    assert sid is not None
    refused = ErrorEvent(
        code="illegal_transition",
        message='You are "busy"; availability can change after the call ends',
        event="set_availability",
    )
    await server.router.emitter.to_local(Role.CLERK, sid, Event.ERROR, refused)
    banner = page.locator("[data-testid=error-banner]")
    # the code's sentence in the console's language, not the server's English
    await expect(banner).to_contain_text("当前状态下不能执行此操作")
    assert "availability" not in await banner.inner_text()
    # the code is kept for support (data-code), not shown as words
    await expect(banner).to_have_attribute("data-code", "illegal_transition")
    await expect(page.locator("[data-testid=error-code]")).to_be_hidden()
    await page.click("[data-testid=lang-en]")
    await expect(banner).to_contain_text("This cannot be done right now")
    # a code this console does not know (a newer server): the server's sentence, not the code
    newer = ErrorEvent(code="brand_new_refusal", message="Wait for the new thing; then retry")
    await server.router.emitter.to_local(Role.CLERK, sid, Event.ERROR, newer)
    await expect(banner).to_contain_text("Wait for the new thing; then retry")
    assert "brand_new_refusal" not in await banner.inner_text()

    # A payload that does not match the protocol is reported, not acted on.
    sio = server.router.emitter.sio  # type: ignore[attr-defined]
    await sio.emit("clerk_status", {"state": "dancing"}, to=sid, namespace="/clerk")
    await expect(banner).to_contain_text("clerk_status")
    assert await page.evaluate(STATE) == "away"
    assert page.errors == []


async def test_second_console_takes_over(
    server: RunningServer, page: Any, browser: Browser
) -> None:
    await server.add_clerk("alice")
    await sign_in(page, server, "alice")
    other = await browser.new_context()
    try:
        second = await other.new_page()
        await sign_in(second, server, "alice")
        await expect(page.locator("[data-testid=error-banner]")).to_contain_text("另一个窗口")
        await expect(page.locator("[data-testid=login-username]")).to_be_visible()
        await wait_state(second, "away")
    finally:
        await other.close()


# Keeps the page's WebSockets reachable so a test can cut one, as a network drop would.
TRACK_SOCKETS = """
window.__sockets = [];
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""


async def test_dropped_connection_reconnects_and_restores_availability(
    server: RunningServer, page: Any
) -> None:
    await server.add_clerk("alice")
    await page.add_init_script(TRACK_SOCKETS)
    await sign_in(page, server, "alice")
    await go_available(page)
    old_sid = (await server.clerk(1)).sid

    await page.evaluate("() => window.__sockets.forEach((s) => s.close())")
    # The console says it is reconnecting, then comes back with its resume token: the server
    # kept the clerk available through the grace period.
    await expect(page.locator("[data-testid=notice-banner]")).to_contain_text("已重新连接")
    await wait_state(page, "available")
    await expect(page.locator("[data-testid=connection-banner]")).to_be_hidden()
    clerk = await server.clerk(1)
    assert clerk.sid is not None and clerk.sid != old_sid
    assert clerk.state == "available"
    assert page.errors == []


async def test_reconnecting_banner_while_the_server_is_unreachable(
    server: RunningServer, page: Any
) -> None:
    await server.add_clerk("alice")
    await page.add_init_script(TRACK_SOCKETS)
    await sign_in(page, server, "alice")
    # Refuse new WebSocket connections, then cut the live one: reconnect attempts keep failing.
    await page.evaluate(
        """() => {
          const Tracked = window.WebSocket;
          window.WebSocket = class extends Tracked {
            constructor(...args) { super('ws://127.0.0.1:9/unreachable'); }
          };
          window.__restore = () => { window.WebSocket = Tracked; };
          window.__sockets.forEach((s) => s.close());
        }"""
    )
    banner = page.locator("[data-testid=connection-banner]")
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("正在重新连接")
    await expect(page.locator("[data-testid=availability-toggle]")).to_be_disabled()
    assert await page.evaluate(STATE) == "offline"

    await page.evaluate("() => window.__restore()")
    await expect(banner).to_be_hidden(timeout=15_000)
    await wait_state(page, "away")
    assert [e for e in page.errors if "WebSocket" not in e] == []


# Drives call.js alone against a second RTCPeerConnection in the same page: the offer and an
# end-of-candidates arrive before the console's peer connection exists, as they can in a call.
EARLY_OFFER = """
async () => {
  const { Call, Phase } = await import('/static/call.js');
  const { outgoing } = await import('/static/wire.js');
  const { Camera } = await import('/static/camera.js');
  const camera = new Camera();
  const sessionId = 'ab'.repeat(16);
  const kiosk = new RTCPeerConnection();
  const media = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  media.getTracks().forEach((t) => kiosk.addTrack(t, media));
  await kiosk.setLocalDescription(await kiosk.createOffer());
  await new Promise((resolve) => {
    if (kiosk.iceGatheringState === 'complete') return resolve();
    kiosk.onicegatheringstatechange = () => kiosk.iceGatheringState === 'complete' && resolve();
  });
  const sent = [];
  let answered;
  const gotAnswer = new Promise((resolve) => { answered = resolve; });
  const call = new Call(sessionId,
    {localVideo: document.createElement('video'), remoteVideo: document.createElement('video')},
    camera,
    {
      send: (event, payload) => {
        outgoing(event, payload);  // every payload must match the protocol
        sent.push([event, payload]);
        if (event === 'description') answered(payload);
        if (event === 'ice_candidate' && payload.candidate) {
          kiosk.addIceCandidate({candidate: payload.candidate, sdpMid: payload.sdp_mid,
                                 sdpMLineIndex: payload.sdp_mline_index});
        }
      },
      changed: () => {},
      mediaError: (err) => sent.push(['mediaError', String(err)]),
      failed: (message) => sent.push(['failed', message]),
    });
  call.handleDescription({session_id: sessionId, type: 'offer', sdp: kiosk.localDescription.sdp});
  call.handleCandidate({session_id: sessionId, candidate: ''});
  call.start([{urls: ['stun:127.0.0.1:9'], username: null, credential: null}]);
  const answer = await gotAnswer;
  await kiosk.setRemoteDescription({type: 'answer', sdp: answer.sdp});
  for (let i = 0; i < 100 && call.phase !== Phase.CONNECTED; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const phase = call.phase;
  const sending = () => call.pc.getSenders().filter((s) => s.track).length;
  for (let i = 0; i < 50 && sending() < 2; i += 1) await new Promise((r) => setTimeout(r, 100));
  const senders = sending();
  call.close();
  camera.release();
  kiosk.close();
  media.getTracks().forEach((t) => t.stop());
  return {phase, senders, closed: call.phase, pc: call.pc, events: sent.map(([e, p]) =>
    e === 'media_status' ? `media_status:${p.state}` : e)};
}
"""


async def test_call_answers_an_offer_that_came_before_the_peer_connection(
    server: RunningServer, page: Any
) -> None:
    await page.goto(server.url)
    result = await page.evaluate(EARLY_OFFER)
    assert result["phase"] == "connected", result
    assert result["senders"] == 2  # the clerk's camera and microphone go to the kiosk
    assert result["closed"] == "closed" and result["pc"] is None
    events = result["events"]
    assert events[0] == "description"
    assert "media_status:connected" in events
    assert "ice_candidate" in events
    assert not [e for e in events if e in ("mediaError", "failed")], events
    assert page.errors == []


async def test_the_answer_is_ready_while_it_rings_but_no_check_leaves(
    server: RunningServer, page: Any
) -> None:
    """A ringing call already has its answer built (accepting connects at once), yet the
    console sends no connectivity check to the kiosk before the clerk accepts."""
    await server.add_clerk("alice")
    terminal = kiosk(server, await server.add_terminal("kiosk-ring"))
    try:
        await sign_in(page, server, "alice")
        await go_available(page)
        await terminal.connect()
        await terminal.request_service("tax-registration", "en")
        await wait_state(page, "ringing")
        await page.wait_for_function(
            """() => { const pc = window.vcounterConsole.peerConnection();
                       return pc && pc.localDescription && pc.localDescription.type === 'answer'
                         && pc.iceGatheringState === 'complete'; }""",
            timeout=10_000,
        )
        pairs = await page.evaluate(
            """async () => { const stats = await window.vcounterConsole.peerConnection().getStats();
                             return [...stats.values()].filter((s) => s.type === 'candidate-pair').length; }"""
        )
        assert pairs == 0, "the console paired with the kiosk before accepting"
        await page.click("[data-testid=accept-call]")
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await wait_state(page, "busy")
    finally:
        await terminal.close()
    assert real_errors(page) == []


async def test_an_offer_that_overtakes_the_last_calls_end_still_rings(
    server: RunningServer, page: Any
) -> None:
    """With several processes, the end of a call is sent by the process that ended it and
    the next offer by whichever routes it: the offer can arrive first. The console must take
    it (the store rings only a free clerk), not ignore it until it rings out."""
    await server.add_clerk("alice")
    first = kiosk(server, await server.add_terminal("kiosk-one"))
    second = kiosk(server, await server.add_terminal("kiosk-two"))
    try:
        await sign_in(page, server, "alice")
        await go_available(page)
        await page.check("[data-testid=auto-answer]")
        await first.connect()
        ended = await first.request_service("tax-registration", "en")
        await first.wait_for(TerminalState.IN_CALL, timeout=20)
        await wait_state(page, "busy")
        # "another process" ends the call in the store; its call_ended is still on the way
        done = await routing.finish(
            server.db, ended, state="ended", reason="applicant_hangup", actor="terminal:1"
        )
        assert done is not None and done[1] is not None and done[1].state == "available"
        await second.connect()
        taken = await second.request_service("tax-registration", "en")
        # auto-answer takes the new call: the console dropped the finished one for it
        await second.wait_for(TerminalState.IN_CALL, timeout=20)
        await wait_state(page, "busy")
        assert (await server.session(taken)).state in ("connecting", "in_call")
        assert (await server.session(taken)).clerk_id == 1
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await first.close()
        await second.close()
