"""An aiortc peer for tests/media/test_long_path.py, run inside the test's network namespace.

It reads the offer (one JSON line) on stdin, answers on stdout with synthetic video, then
prints ``frames N state S`` five times a second (video frames it received, its ICE connection's
state) until stdin closes. It uses the kiosk's peer settings (media/consent.py and media/stalls.py installed; not with
``--stock-consent``).
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media import consent, stalls
from media.sinks import FrameCounter
from media.sources import create_local_tracks


async def main(install: bool) -> None:
    if install:
        consent.install()
        stalls.install()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    offer = json.loads(await reader.readline())
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    media = create_local_tracks(True, "", "", label="netns")
    received = FrameCounter()

    @pc.on("track")
    def on_track(track: object) -> None:
        if getattr(track, "kind", "") == "video":
            received.start(track)  # type: ignore[arg-type]

    await pc.setRemoteDescription(RTCSessionDescription(**offer))
    for transceiver in pc.getTransceivers():
        transceiver.sender.replaceTrack(media.video if transceiver.kind == "video" else media.audio)
        transceiver.direction = "sendrecv"
    await pc.setLocalDescription(await pc.createAnswer())
    print(json.dumps({"sdp": pc.localDescription.sdp, "type": "answer"}), flush=True)

    async def report() -> None:
        while True:
            print(f"frames {received.count} state {pc.iceConnectionState}", flush=True)
            await asyncio.sleep(0.2)

    reporting = asyncio.create_task(report())
    await reader.read()  # until the test closes stdin
    reporting.cancel()
    await pc.close()
    media.stop()


if __name__ == "__main__":
    asyncio.run(main(install="--stock-consent" not in sys.argv))
