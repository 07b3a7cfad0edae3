"""Waiting in a page for a condition only an ``async`` function can read (``getStats()``).

Playwright's ``wait_for_function`` does not await its predicate: an ``async`` one returns a
promise, which is truthy, so the wait ends at once and its handle holds whatever the first
call resolved to (a TURN test read ``null`` from it on a loaded machine). :func:`until_async`
polls the predicate in the page and awaits each call.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

# the predicate's source is pasted in, not eval'd in the page: the console's CSP forbids eval
POLL = """
async ([timeoutMs, everyMs]) => {
  const predicate = (%s);
  const deadline = performance.now() + timeoutMs;
  let last;
  for (;;) {
    last = await predicate();
    if (last) return last;
    if (performance.now() >= deadline) {
      throw new Error(`still not true after ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
"""


async def until_async(page: Page, predicate: str, timeout_ms: int, every_ms: int = 100) -> Any:
    """Call the page's ``async`` function ``predicate`` until it returns a truthy value, and
    return that value; raises (the last value in its message) after ``timeout_ms``."""
    return await page.evaluate(POLL % predicate, [timeout_ms, every_ms])
