"""The clerk and supervisor consoles in zh-Hans, zh-Hant and English: every text in all three,
and no internal name or code on a rendered page.

``test_every_console_text_exists_in_all_three_languages`` fails when a key of any console
table (the clerk console's, its materials panel's, the supervisor pages', the server's error
codes') lacks a language, is empty, or names other ``{placeholders}``, when markup or a script
uses a key no table has, and when the server can send an error code the consoles cannot say. ``test_no_raw_code_reaches_the_clerk_console`` walks the clerk's sign-in page in each
language: a refused sign-in, then signed in with nothing waiting for a decision.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent_console.routes import STATIC_DIR
from tests.conftest import CLERK_PASSWORD, RunningServer
from tests.ux.conftest import CJK, CLERK_SCREEN, new_page, raw_codes, real_errors, seen, shot
from tests.ux.error_codes import server_error_codes

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
TABLES = """async () => {
  const { DICTIONARY } = await import('/static/i18n.js');
  const { SUPERVISOR_TEXT } = await import('/static/supervisor-text.js');
  const { TEXT } = await import('/static/documents.js');
  const { ERROR_TEXT } = await import('/static/server-errors.js');
  return { clerk: DICTIONARY, supervisor: SUPERVISOR_TEXT, documents: TEXT, errors: ERROR_TEXT };
}"""
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# keys named literally in the pages and scripts, per table
USES = {
    "clerk": (
        [r'data-i18n="([^"]+)"', r"data-i18n-attr=\"[^\"]*?:([^\";]+)"],
        ["index.html"],
        [r'\b(?:t|maybe)\(\s*"([^"$`]+)"'],
        ["main.js", "ui.js", "call.js", "identity.js", "paperwork.js", "guidance.js", "wrap-up.js",
         "worknav.js", "session.js", "wire.js", "ringer.js", "callbacks.js"],
    ),
    "supervisor": (
        [r'data-st="([^"]+)"'],
        ["supervisor.html"],
        [r'\bst\(\s*"([^"$`]+)"'],
        ["supervisor.js", "supervisor-timeline.js"],
    ),
    "documents": ([], [], [r'\bsay\(\s*"([^"$`]+)"', r'#say\(\s*"([^"$`]+)"'], ["documents.js"]),
    "errors": ([], [], [], []),
}  # fmt: skip


def used_keys(table: str) -> set[str]:
    markup_patterns, pages, script_patterns, scripts = USES[table]
    found: set[str] = set()
    for patterns, files in ((markup_patterns, pages), (script_patterns, scripts)):
        for name in files:
            path: Path = STATIC_DIR / name
            if not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                found |= {k.strip() for k in re.findall(pattern, text)}
    return found


async def test_every_console_text_exists_in_all_three_languages(
    server: RunningServer, browser: Any
) -> None:
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url + "/supervisor")
    tables: dict[str, dict[str, dict[str, str]]] = await page.evaluate(TABLES)
    problems: list[str] = []
    for name, table in tables.items():
        assert set(table) == set(LANGUAGES), (name, sorted(table))
        keys = set().union(*(set(texts) for texts in table.values()))
        for language in LANGUAGES:
            texts = table[language]
            problems += [f"{name}: {key} missing in {language}" for key in keys - set(texts)]
            problems += [f"{name}: {key} empty in {language}" for key, v in texts.items() if not v]
        for key in keys:
            shapes = {
                frozenset(PLACEHOLDER.findall(table[lang].get(key, ""))) for lang in LANGUAGES
            }
            if len(shapes) > 1:
                problems.append(f"{name}: {key} has different placeholders: {shapes}")
        problems += [f"{name}: {key} is used but in no language" for key in used_keys(name) - keys]
    error_keys = set().union(*(set(texts) for texts in tables["errors"].values()))
    problems += [
        f"errors: the server can send {code} but no console language says it"
        for code in server_error_codes() - error_keys
    ]
    assert not problems, "\n".join(sorted(problems))
    # the three tables are not empty shells, and zh-Hant is Traditional, not Simplified
    assert tables["clerk"]["zh-Hant"]["login.heading"] == "辦事員登入"
    assert len(tables["clerk"]["en"]) > 200 and len(tables["supervisor"]["en"]) > 100


@pytest.mark.parametrize("language", LANGUAGES)
async def test_no_raw_code_reaches_the_clerk_console(
    server: RunningServer, browser: Any, language: str
) -> None:
    await server.add_clerk("walker")
    page = await new_page(browser, CLERK_SCREEN)
    await page.goto(server.url)
    await page.click(f"[data-testid=lang-{language}]")
    await page.fill("[data-testid=login-username]", "walker")
    await page.fill("[data-testid=login-password]", "not the password")
    await page.click("[data-testid=login-submit]")
    banner = await seen(page, "error-banner")
    assert "bad_credentials" not in banner["text"] and "代码" not in banner["text"]
    text = await page.inner_text("body")
    assert not raw_codes(text), raw_codes(text)
    assert bool(CJK.search(banner["text"])) == (language != "en"), banner["text"]
    await shot(page, f"console-login-refused-{language}")

    await page.fill("[data-testid=login-password]", CLERK_PASSWORD)
    await page.click("[data-testid=login-submit]")
    # the list is filled after sign-in, once its request returns: wait for it to be laid out
    await page.wait_for_function(
        "() => { const li = document.querySelector('#pending-list li');"
        " return !!li && li.getBoundingClientRect().height > 0; }",
        timeout=15_000,
    )
    pending = await seen(page, "#pending-list li")
    expected = {
        "zh-Hans": "暂无待决定的申请。",
        "zh-Hant": "暫無待決定的申請。",
        "en": "Nothing is waiting for your decision.",
    }
    assert pending["text"] == expected[language]
    text = await page.inner_text("body")
    assert not raw_codes(text), raw_codes(text)
    if language == "en":
        visible = await page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter((e) => e.offsetParent !== null && e.children.length === 0)
                .map((e) => e.textContent).join(' ')"""
        )
        # language names on the switcher are written in their own language
        words = visible.replace("简体中文", "").replace("繁體中文", "")
        assert not CJK.search(words), CJK.findall(words)[:20]
    await shot(page, f"console-signed-in-{language}")
    assert real_errors(page) == []
