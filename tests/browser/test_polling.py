"""``until_async`` waits for an ``async`` predicate, and no test waits on one the broken way."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError

from tests.browser.polling import until_async

ROOT = Path(__file__).resolve().parents[2]
COUNTING = "async () => { window.__calls = (window.__calls || 0) + 1; return window.__calls >= 3 && {calls: window.__calls}; }"


async def test_it_waits_until_the_predicate_resolves_truthy(page: Any) -> None:
    await page.set_content("<p>waiting</p>")

    seen = await until_async(page, COUNTING, 5_000, every_ms=10)

    assert seen == {"calls": 3}


async def test_it_gives_up_with_the_last_value(page: Any) -> None:
    await page.set_content("<p>waiting</p>")

    with pytest.raises(PlaywrightError, match=r"still not true after 200 ms; last value: 0"):
        await until_async(page, "async () => 0", 200, every_ms=20)


def test_no_wait_for_function_is_given_an_async_predicate() -> None:
    # Playwright takes the promise an async predicate returns as truthy: such a wait never waits
    found = []
    for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            if getattr(node.func, "attr", None) != "wait_for_function":
                continue
            source = ast.unparse(node.args[0])
            if "async" in source or "await" in source:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], f"use tests.browser.polling.until_async instead at {found}"
