"""Issue 21, all consoles: the server's refusals reach a zh-Hant clerk in zh-Hant.

Two real refusals, walked in Chromium as a Hong Kong clerk meets them: the sign-in throttle
(a JSON error body of ``POST /api/login``) after too many wrong passwords, and the clerk's
socket refused after an administrator reset the password (a connection refusal carrying the
typed error). Each banner must be the code's Traditional Chinese sentence: no English from
the server, no code, no Simplified characters.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page

from storage import store
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.ux.conftest import CJK, CLERK_SCREEN, new_page, raw_codes, real_errors, seen, shot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


async def _banner_is_traditional(page: Page, expected: str) -> str:
    await page.wait_for_function(
        "(want) => document.querySelector('[data-testid=error-text]').textContent.includes(want)",
        arg=expected,
        timeout=15_000,
    )
    await seen(page, "error-banner")
    text: str = (await seen(page, "error-text"))["text"]
    assert CJK.search(text), text
    assert not raw_codes(text), raw_codes(text)
    # Simplified forms of the words these sentences use would mean the wrong table was read
    assert not any(simplified in text for simplified in ("录", "请", "试", "过", "员")), text
    assert not re.search(r"[A-Za-z]{3,}", text), text  # no English from the server
    return text


async def test_a_throttled_sign_in_is_said_in_traditional_chinese(
    server: RunningServer, browser: Any
) -> None:
    await server.add_clerk("walker")
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url)
    await page.click("[data-testid=lang-zh-Hant]")
    failures = server.settings.login_failures_per_account
    for _ in range(failures):
        await page.fill("[data-testid=login-username]", "walker")
        await page.fill("[data-testid=login-password]", "not the password")
        await page.click("[data-testid=login-submit]")
        await _banner_is_traditional(page, "用戶名或密碼錯誤")
        await page.evaluate("() => document.querySelector('#error-text').textContent = ''")
    # one more: the server throttles the account (429, code too_many_attempts)
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    text = await _banner_is_traditional(page, "登入失敗次數過多")
    assert text.strip() == "登入失敗次數過多,請過幾分鐘再試,或請管理員重設密碼。", text
    assert await page.get_attribute("[data-testid=error-banner]", "data-code") == (
        "too_many_attempts"
    )
    await shot(page, "server-refusal-throttled-zh-Hant")
    assert real_errors(page) == []


async def test_a_revoked_sign_in_is_said_in_traditional_chinese(
    server: RunningServer, browser: Any
) -> None:
    await server.add_clerk("walker")
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url)
    await page.click("[data-testid=lang-zh-Hant]")
    await page.fill("[data-testid=login-username]", "walker")
    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_function("() => window.vcounterConsole.state() === 'away'")
    # an administrator resets the password: every sign-in token of walker is revoked
    await store.reset_password(server.db, "walker", CLERK_PASSWORD + "-new")
    await page.reload()
    text = await _banner_is_traditional(page, "您的登入已失效")
    assert text.strip() == "您的登入已失效,請重新登入;如反覆出現,請聯絡管理員。", text
    assert await page.get_attribute("[data-testid=error-banner]", "data-code") == "unauthorized"
    await seen(page, "login-username")
    await shot(page, "server-refusal-revoked-zh-Hant")
    assert real_errors(page) == []
