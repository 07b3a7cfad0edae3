"""Issue 21 item 10: everything a supervisor reads is a sentence or a label in their language.

A supervisor at 1920 x 1080 searches the sessions (one in a call, one waiting in the queue)
and opens one's replay, in Simplified Chinese, then switches to Traditional Chinese and to
English without reloading: the outcome column and the timeline read as words (no
``in_call``, ``step.changed``, ``clerk_id=3``, ``clerk:walker``), the tables are drawn again
in the new language, and the replay link copied into a new tab opens signed in.
"""

from __future__ import annotations

from typing import Any

import pytest

from storage import store
from storage.audit import AuditLog
from tests.browser.conftest import attach_error_log
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.sign.conftest import open_counter
from tests.ux.conftest import CJK, CLERK_SCREEN, new_page, raw_codes, real_errors, seen, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

WORDS = {
    # language: (the in-call outcome, the queued outcome, the step line of the timeline)
    "zh-Hans": ("通话中", "排队中", "办理进度:第 2 步 → 第 3 步 · 办事员 walker"),
    "zh-Hant": ("通話中", "排隊中", "辦理進度:第 2 步 → 第 3 步 · 辦事員 walker"),
    "en": ("in a call", "waiting in the queue", "Progress: step 2 → step 3 · clerk walker"),
}


async def sessions(server: RunningServer) -> str:
    """One session in a call with walker (its steps in the chain) and one still queued."""
    counter = await open_counter(server, "walker", "kiosk-7")
    audit = AuditLog(server.db)
    await audit.append(counter.session_id, "step.changed", "clerk:walker", {"from": 2, "to": 3})
    await audit.append(
        counter.session_id, "prompt.pushed", "clerk:walker", {"kind": "text", "text": "請稍候"}
    )
    # the queued one at another kiosk: a kiosk has one active session at a time
    other_token = await server.add_terminal("kiosk-8")
    terminal = await store.find_terminal_by_token(server.db, other_token)
    assert terminal is not None
    await store.create_session(server.db, terminal.id, "tax-registration", "zh-Hant")
    return counter.session_id


async def test_the_supervisor_reads_words_in_their_language(
    server: RunningServer, browser: Any
) -> None:
    session_id = await sessions(server)
    await store.create_clerk(server.db, "sam", CLERK_PASSWORD, "Sam", [], "supervisor")
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url + "/supervisor")
    await page.fill("[data-testid=login-username]", "sam")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.click("[data-testid=tab-sessions]")
    await page.click("[data-testid=search-submit]")
    await page.wait_for_selector(f"[data-testid=results-table] tr[data-session='{session_id}']")
    for language, (in_call, queued, _) in WORDS.items():
        # switched in place: the drawn tables must follow
        await page.click(f"[data-testid=lang-{language}]")
        table = await seen(page, "results-table")
        assert in_call in table["text"] and queued in table["text"], (language, table["text"])
        assert not raw_codes(table["text"]), raw_codes(table["text"])
        await shot(page, f"item10-sessions-{language}")
    await page.click("[data-testid=lang-zh-Hans]")
    await page.click(f"tr[data-session='{session_id}'] [data-testid=replay-open]")
    await seen(page, "replay-timeline")
    for language, (_, _, step) in WORDS.items():
        await page.click(f"[data-testid=lang-{language}]")
        timeline = await seen(page, "replay-timeline")
        assert step in timeline["text"], (language, timeline["text"])
        text = await page.inner_text("body")
        assert not raw_codes(text), (language, raw_codes(text))
        summary = (await seen(page, "replay-summary"))["text"]
        assert bool(CJK.search(summary.replace("稅務登記", ""))) == (language != "en"), summary
        await shot(page, f"item10-replay-{language}")

    # the link to this moment, opened in a new tab, shows the replay without a new sign-in
    await page.click("[data-testid=replay-link]")
    url = await page.get_attribute("[data-testid=replay-link]", "data-url")
    assert url and session_id in url
    tab = await page.context.new_page()
    attach_error_log(tab)
    await tab.goto(url)
    await seen(tab, "replay-timeline")
    assert await tab.locator("[data-testid=login-submit]").is_hidden()
    await shot(tab, "item10-link-in-new-tab")
    assert real_errors(page) == [] and real_errors(tab) == []
