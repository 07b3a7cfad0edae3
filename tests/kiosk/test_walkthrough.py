"""The whole applicant journey in Chromium, in care mode: language -> department -> service ->
materials -> queue -> call -> the clerk's prompt (shown and spoken) -> hang up -> rating."""

from __future__ import annotations

from playwright.async_api import Page

from tests.kiosk.conftest import (
    Clerk,
    RunningKiosk,
    open_kiosk,
    shot,
    shown,
    speech_file,
    stored_rating,
    tap,
    wav_frames,
)


async def test_care_mode_walkthrough(kiosk: RunningKiosk, clerk: Clerk, page: Page) -> None:
    await open_kiosk(page, kiosk)
    await tap(page, "care-toggle")
    await page.wait_for_selector("body.care")
    # the screen's instruction is spoken: a real WAV, played by the page
    view = await kiosk.wait_view(lambda v: v.speech_url is not None, what="spoken instruction")
    assert view.speech_url is not None and wav_frames(speech_file(kiosk, view.speech_url)) > 0
    await page.wait_for_function(
        f"() => document.querySelector('[data-testid=speech]').dataset.playing === '{view.speech_url}'"
    )
    await shot(page, "01-language")

    await tap(page, "choose-zh-Hant")
    await shown(page, "services")
    await shot(page, "02-departments")
    await tap(page, "department-taxation")
    await page.wait_for_selector("[data-testid=service-tax-registration]")
    await shot(page, "03-services")
    await tap(page, "service-tax-registration")
    await shown(page, "materials")
    await shot(page, "04-materials")

    await tap(page, "call-clerk")
    await shown(page, "queue")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=queue-position]').textContent.includes('1')"
    )
    await shot(page, "05-queue")

    await clerk.available()
    await shown(page, "call")
    await kiosk.wait_view(lambda v: v.call is not None and v.call.connected, 20)
    # the clerk's video and the applicant's own camera in the corner have their places; what
    # they show is walked in tests/kiosk/test_display.py (this page gets no call media, see
    # without_call_media)
    for canvas in ("clerk-video", "self-video"):
        assert await page.is_visible(f"[data-testid={canvas}]"), f"{canvas} is not shown"
    await clerk.step(3)
    await page.wait_for_selector("[data-testid=step-indicator] li.current[data-step='3']")
    await clerk.push("place_document", "港澳居民來往內地通行證")
    prompt = page.locator("[data-testid=prompt]")
    await prompt.wait_for()
    assert "掃描器" in await prompt.inner_text()
    view = await kiosk.wait_view(lambda v: bool(v.prompts) and v.prompts[-1].audio_url is not None)
    spoken = view.prompts[-1].audio_url
    assert spoken is not None and wav_frames(speech_file(kiosk, spoken)) > 0
    await page.wait_for_function(
        f"() => document.querySelector('[data-testid=speech]').dataset.playing === '{spoken}'"
    )
    await shot(page, "06-call")

    await tap(page, "hangup")
    await shown(page, "ended")
    await shot(page, "07-ended")
    await tap(page, "rating-4")
    await page.fill("[data-testid=rating-comment]", "很好")
    await tap(page, "rating-submit")
    await shown(page, "thanks")
    await shot(page, "08-thanks")
    session_id = kiosk.controller.view().session_id
    assert session_id is not None
    row = await stored_rating(kiosk.server, session_id)
    assert (row.rating, row.rating_comment, row.care_mode) == (4, "很好", True)
    # the thanks screen returns to the start by itself, with nothing of this applicant left
    await shown(page, "language")
    view = kiosk.controller.view()
    assert (view.session_id, view.service_id, view.care_mode) == (None, None, False)
    assert not page.errors, page.errors  # type: ignore[attr-defined]
