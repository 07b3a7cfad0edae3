"""A real kiosk client in its own process, for tests that kill it or cut it off:
``python -m tests.places.kiosk_process SERVER_URL`` with the device token on stdin; prints
``connected`` once its socket is up, then stays connected until it is killed."""

from __future__ import annotations

import asyncio
import sys

from media.sources import create_local_tracks
from terminal_client.client import TerminalClient


async def main(server_url: str, token: str) -> None:
    """Connect and hold the connection (its pings answered) until the process ends."""
    client = TerminalClient(
        server_url, token, lambda: create_local_tracks(True, "", "", label="kiosk")
    )
    await client.connect()
    print("connected", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.stdin.readline().strip()))
