"""Running a sandbox (the payment provider's, a department's system) as its own process, as
the tests, the benchmarks and ``./run demo`` do: on a free loopback port, ready once it
answers, stopped when done."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def sandbox_process(
    module: str, args: list[str], *, port: int, probe: str, ready_status: int, key: Path, what: str
) -> AsyncIterator[str]:
    """``python -m module --port PORT args...``; yields its URL once ``GET probe`` answers
    ``ready_status`` and it has written its public ``key`` (30 s at most)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", str(port), *args,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}{probe}") as r:
                        if r.status == ready_status and await asyncio.to_thread(key.exists):
                            break
                if process.returncode is not None:
                    raise RuntimeError(f"the {what} exited ({process.returncode})")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the {what} at {url} did not start within 30 s")
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
