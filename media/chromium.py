"""Debian's Chromium as the tests and benchmarks drive it (through Playwright).

Never a downloaded browser: ``/usr/bin/chromium`` from Debian's package. The flags give it
a fake camera and microphone that need no permission prompt, keep it off the network
(loopback only here), and let WebRTC show real host candidates instead of mDNS names, which
a receive-only page would otherwise offer to an aiortc peer that cannot resolve them.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
)
