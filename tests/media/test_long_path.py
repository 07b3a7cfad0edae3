"""Calls hold on a long path: 600 ms round trip, the kiosk's peer in its own network namespace.

aioice's own consent checks (one 0.5 s try each) all miss at that round trip and end the call
after about 30 s; the kiosk's (media/consent.py) retransmit and allow RFC 7675's 30 s.
"""

from __future__ import annotations

import asyncio

import pytest

from media import consent
from tests.netfault import ImpairedLink, call_across, require_netfault

HOLD_S = 45.0  # past the ~30 s after which the stock checks give up


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_call_holds_at_600_ms_round_trip() -> None:
    require_netfault()
    consent.install()
    async with ImpairedLink() as link:
        await link.impair(300)  # each way: 600 ms round trip
        async with call_across(link) as call:
            await asyncio.sleep(HOLD_S)
            before = call.received.count
            seen_there = call.peer.frames
            await asyncio.sleep(3)
            # still flowing both ways, still connected, past the point the stock checks end it
            assert call.received.count > before, (call.received.count, call.pc.iceConnectionState)
            assert call.peer.frames > seen_there, (call.peer.frames, call.peer.state)
            assert call.pc.iceConnectionState in ("connected", "completed")
            assert call.peer.state in ("connected", "completed")
