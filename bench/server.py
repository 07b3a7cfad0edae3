"""What every benchmark starts: a data dir, the real server in its own process, Chromium.

``async with bench_server() as server`` makes a fresh data dir, runs the ``vcounter`` CLI in it
(``server.cli(...)`` before or after the start: accounts, kiosk tokens), serves on a free
port and, on the way out, stops the server asynchronously, so this process's own clients
(kiosks, consoles) still answer the server's goodbye while it shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, Page, async_playwright

from media.chromium import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "bench-password-1"
STOP_S = 15.0


def vcounter(data_dir: Path, *args: str) -> str:
    """Run ``vcounter --data-dir DATA_DIR ARGS...`` and return what it printed."""
    out = subprocess.run(
        [sys.executable, "-m", "signaling.cli", "--data-dir", str(data_dir), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def free_port() -> int:
    """A TCP port on loopback nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BenchServer:
    """A running server: its URL and data dir."""

    url: str
    data: Path

    def cli(self, *args: str) -> str:
        """``vcounter`` on this server's data dir."""
        return vcounter(self.data, *args)

    def clerk(self, username: str = "bench", *extra: str) -> None:
        """Add a clerk with the bench password (``extra``: e.g. ``--department``, ``--role``)."""
        self.cli("clerk", "add", username, "--password", PASSWORD, "--name", username, *extra)

    def terminal(self, name: str = "bench-kiosk") -> str:
        """Register a kiosk; returns its device token."""
        return self.cli("terminal", "register", name)


async def wait_http(url: str, timeout_s: float = 30.0) -> None:
    """Wait until the server at ``url`` answers its health check."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/api/health") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"server at {url} did not start within {timeout_s:.0f} s")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def bench_server(
    prefix: str = "vcounter-bench-", settings: dict[str, str] | None = None
) -> AsyncIterator[BenchServer]:
    """A fresh data dir and the real server on it (quiet logs); stopped and removed after.
    ``settings``: more VCOUNTER_* variables for the server (bench/payment.py: its sandbox)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        data = Path(tmp)
        port = free_port()
        # no wrap-up: the benchmarks' clerks take one call after another
        env = {**os.environ, "VCOUNTER_LOG_LEVEL": "WARNING", "VCOUNTER_WRAP_UP_S": "0",
               **(settings or {})}  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-m", "signaling.cli", "--data-dir", str(data), "serve",
             "--port", str(port)],
            env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_http(url)
            yield BenchServer(url, data)
        finally:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
                raise RuntimeError(
                    f"the server did not stop within {STOP_S:.0f} s of SIGTERM"
                ) from None


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's headless Chromium with fake camera and microphone."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            await browser.close()


async def login_console(page: Page, url: str, username: str = "bench") -> None:
    """Sign ``username`` in to the clerk console with auto-answer on, and go available."""
    await page.goto(url)
    await page.fill("[data-testid=login-username]", username)
    await page.fill("[data-testid=login-password]", PASSWORD)
    await page.click("[data-testid=login-submit]")
    await page.wait_for_selector("[data-testid=clerk-state]")
    await page.check("[data-testid=auto-answer]")
    await page.click("[data-testid=availability-toggle]")
    await page.wait_for_function(
        "() => window.vcounterConsole && window.vcounterConsole.state() === 'available'"
    )


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
