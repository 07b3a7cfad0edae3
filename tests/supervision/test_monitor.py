"""A supervisor watches a live call in real Chromium: the clerk's console (Chromium) relays the
real aiortc kiosk's camera, microphone and document camera and its own to the supervisor's
page (Chromium), while the call goes on as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from playwright.async_api import Browser, Page, async_playwright, expect

from media.chromium import CHROMIUM
from media.recording import RecordingSettings
from media.sinks import FrameListener
from media.sources import SyntheticVideoTrack, create_local_tracks
from signaling.recordings import side_file
from storage import store
from storage.audit import AuditLog
from storage.staff_audit import StaffLog
from terminal_client.client import TerminalClient, TerminalState
from tests.browser.conftest import attach_error_log
from tests.browser.polling import until_async
from tests.browser.test_call_in_chromium import FRAMES_DECODED
from tests.browser.test_call_in_chromium import sign_in as clerk_sign_in
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.teardown import bounded
from tests.tones import (
    HEARD,
    ToneMeter,
    chromium_args_with_tone,
    page_wait_for_tone,
    tone_levels,
    write_tone_wav,
)

SERVICE = "tax-registration"  # taxation: applicants are not told of monitoring, only of a barge

# what the supervisor's monitor decoded, by who and kind ("applicant:video": frames)
MONITOR_STATS = """async () => {
  const m = window.vcounterSupervisor.monitor;
  if (!m.pc) return null;
  const stats = await m.pc.getStats();
  const out = {};
  stats.forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    const key = `${m.roles.get(s.mid)}:${s.kind}`;
    out[key] = s.kind === 'video' ? (s.framesDecoded || 0) : (s.totalSamplesReceived || 0);
  });
  return out;
}"""
ALL_SIDES = (
    f"async () => {{ const r = await ({MONITOR_STATS})();"
    " return r && r['applicant:video'] > 10 && r['clerk:video'] > 10"
    " && r['documents:video'] > 10 && r['applicant:audio'] > 0 && r['clerk:audio'] > 0 && r; }"
)


# each voice its own tone: the kiosk's synthetic microphone, the clerk's and the supervisor's
KIOSK_HZ, CLERK_HZ, SUPERVISOR_HZ = 440.0, 700.0, 1500.0
RECORDING = RecordingSettings(segment_s=2.0)
VOICE_AT_CLERK = (
    "document.querySelector('[data-testid=supervisor-audio]').srcObject.getAudioTracks()[0]"
)


@asynccontextmanager
async def voiced_browsers(tmp_path: Path) -> AsyncIterator[tuple[Browser, Browser]]:
    """Two Chromiums, the clerk's microphone a 700 Hz tone, the supervisor's a 1500 Hz one."""
    clerk_tone = write_tone_wav(tmp_path / "clerk.wav", CLERK_HZ)
    supervisor_tone = write_tone_wav(tmp_path / "supervisor.wav", SUPERVISOR_HZ)
    async with async_playwright() as pw:
        launched = [
            await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_args_with_tone(tone)
            )
            for tone in (clerk_tone, supervisor_tone)
        ]
        try:
            yield launched[0], launched[1]
        finally:
            for browser in launched:
                await bounded(browser.close(), "Chromium")


@dataclass
class LiveCall:
    clerk: Page
    supervisor: Page
    terminal: TerminalClient
    session_id: str


async def supervisor_sign_in(page: Page, server: RunningServer, username: str) -> None:
    await page.goto(server.url + "/supervisor")
    await page.fill("[data-testid=login-username]", username)
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await expect(page.locator("[data-testid=tab-live]")).to_be_visible()


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(
        permissions=["camera", "microphone"], viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    attach_error_log(page)
    return page


@asynccontextmanager
async def live_call(
    server: RunningServer,
    clerk_browser: Browser,
    supervisor_browser: Browser,
    on_audio_frame: FrameListener | None = None,
    recording: RecordingSettings | None = None,
) -> AsyncIterator[LiveCall]:
    """A kiosk with a document camera in a call with Chromium clerk ``alice``; supervisor
    ``sue`` (taxation) signed in on the live view in another Chromium."""
    await server.add_clerk("alice", ["taxation"])
    await store.create_clerk(
        server.db, "sue", CLERK_PASSWORD, "Sue Wong", ["taxation"], "supervisor"
    )
    clerk, supervisor = await new_page(clerk_browser), await new_page(supervisor_browser)
    terminal = TerminalClient(
        server.url,
        await server.add_terminal("kiosk-watched"),
        lambda: create_local_tracks(True, "", "", label="kiosk"),
        name="kiosk",
        document_track=lambda: SyntheticVideoTrack(label="documents"),
        on_audio_frame=on_audio_frame,
        recording=recording,
    )
    try:
        await clerk_sign_in(clerk, server, "alice")
        await clerk.click("[data-testid=availability-toggle]")
        await clerk.wait_for_function("() => window.vcounterConsole.state() === 'available'")
        await terminal.connect()
        session_id = await terminal.request_service(SERVICE, "en")
        await clerk.locator("[data-testid=accept-call]").click()
        await terminal.wait_for(TerminalState.IN_CALL, timeout=20)
        await terminal.video_in.wait_for(10, timeout=20)
        await until_async(clerk, f"async () => (await ({FRAMES_DECODED})()).video >= 10", 20_000)
        await supervisor_sign_in(supervisor, server, "sue")
        yield LiveCall(clerk, supervisor, terminal, session_id)
    finally:
        await terminal.close()
        await clerk.context.close()
        await supervisor.context.close()


async def test_a_supervisor_sees_and_hears_every_side_while_the_call_goes_on(
    server: RunningServer, browser: Browser
) -> None:
    async with live_call(server, browser, browser) as call:
        page = call.supervisor
        await page.locator(
            f"tr[data-session='{call.session_id}'] [data-testid=monitor-open]"
        ).click()

        seen = await until_async(page, ALL_SIDES, 20_000)
        await expect(page.get_by_test_id("monitor-status")).to_contain_text(
            "双方都看不到也听不到您"
        )
        # the two parties keep their media: frames go on arriving on both ends
        kiosk_frames = call.terminal.video_in.count
        clerk_frames = (await call.clerk.evaluate(FRAMES_DECODED))["video"]
        await call.terminal.video_in.wait_for(kiosk_frames + 30, timeout=20)
        await until_async(
            call.clerk,
            f"async () => (await ({FRAMES_DECODED})()).video > {clerk_frames + 30}",
            20_000,
        )
        # the clerk is told who watches; the applicant of a taxation call is not
        banner = call.clerk.get_by_test_id("supervision-banner")
        await expect(banner).to_contain_text("Sue Wong")

        await page.get_by_test_id("monitor-leave").click()
        await expect(banner).to_be_hidden()
        await expect(page.get_by_test_id("monitor-panel")).to_be_hidden()
        assert all(seen[k] > 0 for k in seen), seen

    events = [e.kind for e in await AuditLog(server.db).events(call.session_id)]
    assert events.count("supervision.started") == 1 and events.count("supervision.ended") == 1
    staff = [e.kind for e in await StaffLog(server.db).events()]
    assert "supervision.started" in staff and "supervision.ended" in staff


async def test_a_monitor_carries_on_after_the_clerk_reloads_the_console(
    server: RunningServer, browser: Browser
) -> None:
    async with live_call(server, browser, browser) as call:
        page = call.supervisor
        await page.locator(
            f"tr[data-session='{call.session_id}'] [data-testid=monitor-open]"
        ).click()
        await until_async(page, ALL_SIDES, 20_000)
        first_pc = await page.evaluate(
            "() => window.vcounterSupervisor.monitor.pc.localDescription.sdp"
        )

        await call.clerk.reload()
        # the console back in the call offers the monitor again; the supervisor's page takes
        # it on a new connection and sees every side again
        await until_async(
            page,
            "async () => window.vcounterSupervisor.monitor.pc && "
            f"window.vcounterSupervisor.monitor.pc.localDescription?.sdp !== {first_pc!r}",
            30_000,
        )
        await until_async(page, ALL_SIDES, 30_000)
        await expect(call.clerk.get_by_test_id("supervision-banner")).to_contain_text("Sue Wong")
        await page.get_by_test_id("monitor-leave").click()
        await expect(call.clerk.get_by_test_id("supervision-banner")).to_be_hidden()

    events = [e.kind for e in await AuditLog(server.db).events(call.session_id)]
    # one monitor throughout: the reload neither ended it nor started another
    assert events.count("supervision.started") == 1 and events.count("supervision.ended") == 1


async def test_whisper_reaches_the_clerk_only_and_barge_reaches_both(
    server: RunningServer, chromium_path: Path, tmp_path: Path
) -> None:
    at_kiosk = ToneMeter(window_s=1.0)
    async with (
        voiced_browsers(tmp_path) as (clerk_browser, supervisor_browser),
        live_call(
            server, clerk_browser, supervisor_browser, at_kiosk.listener(), RECORDING
        ) as call,
    ):
        page = call.supervisor
        await page.locator(
            f"tr[data-session='{call.session_id}'] [data-testid=monitor-open]"
        ).click()
        await until_async(page, ALL_SIDES, 20_000)
        await at_kiosk.wait_for_tone(CLERK_HZ, 10, others=[SUPERVISOR_HZ])

        # whisper: the clerk hears the supervisor; the kiosk hears the clerk alone
        await page.get_by_test_id("monitor-whisper").click()
        banner = call.clerk.get_by_test_id("supervision-banner")
        await expect(banner).to_have_attribute("data-mode", "whisper")
        await expect(banner).to_contain_text("Sue Wong")
        await page_wait_for_tone(call.clerk, VOICE_AT_CLERK, SUPERVISOR_HZ, timeout=15)
        heard = await at_kiosk.wait_for_tone(CLERK_HZ, 10, others=[SUPERVISOR_HZ])
        assert heard[SUPERVISOR_HZ] < HEARD, heard

        # barge: the kiosk hears both voices, mixed
        await page.get_by_test_id("monitor-barge").click()
        await expect(banner).to_have_attribute("data-mode", "barge")
        both = await at_kiosk.wait_until(
            [CLERK_HZ, SUPERVISOR_HZ],
            lambda levels: min(levels.values()) >= HEARD,
            15,
            "the clerk's and the supervisor's voices at the kiosk",
        )
        assert both[SUPERVISOR_HZ] >= HEARD and both[CLERK_HZ] >= HEARD, both
        await page_wait_for_tone(call.clerk, VOICE_AT_CLERK, SUPERVISOR_HZ, timeout=15)

        # leaving restores the call: the clerk's own microphone alone, video on
        await page.get_by_test_id("monitor-leave").click()
        await expect(banner).to_be_hidden()
        await at_kiosk.wait_for_tone(CLERK_HZ, 15, others=[SUPERVISOR_HZ])
        frames = call.terminal.video_in.count
        await call.terminal.video_in.wait_for(frames + 30, timeout=20)

    kinds = [(e.kind, e.payload) for e in await AuditLog(server.db).events(call.session_id)]
    modes = [p.get("mode") for k, p in kinds if k in ("supervision.started", "supervision.changed")]
    assert modes == ["monitor", "whisper", "barge"], kinds
    # the kiosk's recording of what the applicant heard keeps the supervisor's voice of the
    # barge, and only of it (the whisper before it was not the applicant's to hear)
    heard = supervisor_in_recording(await side_file(server.app, call.session_id, "clerk"))
    assert max(heard) >= HEARD and min(heard) < HEARD, heard


def supervisor_in_recording(path: Path) -> list[float]:
    """The supervisor's tone's share of each second of a recorded side's sound."""
    chunks: list[np.ndarray[Any, Any]] = []
    rate = 48_000
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            chunks.append(
                frame.to_ndarray().astype(np.float64).reshape(frame.samples, -1).mean(axis=1)
            )
    samples = np.concatenate(chunks)
    return [
        tone_levels(samples[i : i + rate], rate, [SUPERVISOR_HZ])[SUPERVISOR_HZ]
        for i in range(0, len(samples) - rate + 1, rate)
    ]
