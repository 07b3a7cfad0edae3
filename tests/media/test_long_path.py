"""Calls hold on a long path: 600 ms round trip, the kiosk's peer in its own network namespace.

aioice's own consent checks (one 0.5 s try each) all miss at that round trip and end the call
after about 30 s; the kiosk's (media/consent.py) retransmit and allow RFC 7675's 30 s.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media import consent
from media.sinks import FrameCounter
from media.sources import create_local_tracks
from tests.netfault import ImpairedLink, NetnsPeer, require_netfault

HOLD_S = 45.0  # past the ~30 s after which the stock checks give up


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_call_holds_at_600_ms_round_trip() -> None:
    require_netfault()
    consent.install()
    media = create_local_tracks(True, "", "", label="host")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received = FrameCounter()
    pc.addTrack(media.video)
    pc.addTrack(media.audio)

    @pc.on("track")
    def on_track(track: object) -> None:
        if getattr(track, "kind", "") == "video":
            received.start(track)  # type: ignore[arg-type]

    async with ImpairedLink() as link:
        await link.impair(300)  # each way: 600 ms round trip
        process = await asyncio.create_subprocess_exec(
            *link.command(sys.executable, "-m", "tests.media.peer_in_netns"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        peer = NetnsPeer(process)
        following: asyncio.Task[None] | None = None
        try:
            assert process.stdin is not None and process.stdout is not None
            await pc.setLocalDescription(await pc.createOffer())
            offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
            process.stdin.write(json.dumps(offer).encode() + b"\n")
            await process.stdin.drain()
            answer = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
            await pc.setRemoteDescription(RTCSessionDescription(**answer))
            following = asyncio.create_task(peer.follow())
            await received.wait_for(10, timeout=30)
            await asyncio.sleep(HOLD_S)
            before = received.count
            seen_there = peer.frames
            await asyncio.sleep(3)
            # still flowing both ways, still connected, past the point the stock checks end it
            assert received.count > before, (received.count, pc.iceConnectionState)
            assert peer.frames > seen_there, (peer.frames, peer.state)
            assert pc.iceConnectionState in ("connected", "completed")
            assert peer.state in ("connected", "completed")
        finally:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
            if following is not None:
                following.cancel()
            await pc.close()
            media.stop()
