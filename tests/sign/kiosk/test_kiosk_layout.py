"""The start screen's "print my result" button and the result screen fit, care mode too."""

from __future__ import annotations

from typing import Any

import pytest

from signaling.messages import LANGUAGES
from tests.kiosk.conftest import (
    LANDSCAPE,
    PORTRAIT,
    RunningKiosk,
    layout_problems,
    open_kiosk,
    resize,
    set_language,
    shot,
    shown,
    tap,
)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("care", [True, False], ids=["care", "normal"])
async def test_result_screens_fit(kiosk: RunningKiosk, page: Any, care: bool) -> None:
    await open_kiosk(page, kiosk)
    if care:
        await tap(page, "care-toggle")
        await page.wait_for_selector("body.care")
    problems: list[str] = []
    for screen in ("language", "result"):
        if screen == "result":
            await tap(page, "open-result")
            await shown(page, "result")
        for size in (PORTRAIT, LANDSCAPE):
            await resize(page, size)
            for language in LANGUAGES if care else ("en",):
                await set_language(page, language)
                where = f"{screen} {language} {size['width']}x{size['height']}"
                problems += await layout_problems(page, where)
            mode = "care" if care else "normal"
            await shot(page, f"{mode}-{screen}-{'portrait' if size is PORTRAIT else 'landscape'}")
    assert not problems, "\n".join(problems)
