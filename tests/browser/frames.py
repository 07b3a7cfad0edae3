"""When the clerk's console decodes the kiosk's video: timed in the page, read from Python.

:func:`watch_clerk_frames` starts a watcher in the console page that polls the call's
``getStats()`` every ``every_ms`` and notes the wall time (``Date.now()``, the host's clock,
which the namespaced kiosk shares) each time ``framesDecoded`` grew. It follows the call's
peer connection when the console makes a new one, so the count never goes back.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

WATCH = """
(everyMs) => {
  if (window.__vcFrames) return;
  const f = window.__vcFrames = {total: 0, at: [], last: 0, pc: null, busy: false};
  setInterval(async () => {
    const pc = window.vcounterConsole.peerConnection();
    if (!pc || f.busy) return;
    if (pc !== f.pc) { f.pc = pc; f.last = 0; }
    f.busy = true;
    try {
      const stats = await pc.getStats();
      let decoded = 0;
      stats.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') decoded += s.framesDecoded || 0;
      });
      if (decoded > f.last) {
        f.total += decoded - f.last;
        f.at.push([Date.now() / 1000, f.total]);
      }
      f.last = decoded;
    } finally {
      f.busy = false;
    }
  }, everyMs);
}
"""


async def watch_clerk_frames(page: Page, every_ms: int = 50) -> None:
    """Start timing the console's decoded video (once per page)."""
    await page.evaluate(WATCH, every_ms)


async def clerk_frames(page: Page) -> tuple[int, list[tuple[float, int]]]:
    """Video frames the console decoded so far, and (wall time, frames so far) each time the
    count grew."""
    seen: dict[str, Any] = await page.evaluate(
        "() => ({total: window.__vcFrames.total, at: window.__vcFrames.at})"
    )
    return int(seen["total"]), [(float(t), int(n)) for t, n in seen["at"]]


async def clerk_frames_after(page: Page, t: float, count: int = 1, timeout: float = 30.0) -> float:
    """Wait until the console decoded ``count`` video frames after wall time ``t``; the wall
    time it was first seen decoding again (``every_ms`` coarse)."""
    await page.wait_for_function(
        """([t, count]) => {
             const f = window.__vcFrames;
             const before = f.at.filter(([at]) => at <= t);
             const then = before.length ? before[before.length - 1][1] : 0;
             return f.total - then >= count;
           }""",
        arg=[t, count],
        timeout=timeout * 1000,
        polling=50,
    )
    _, at = await clerk_frames(page)
    return next(a for a, _ in at if a > t)
