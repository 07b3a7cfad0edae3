"""The kiosk's peer connections: made with their offer ahead of need, media attached later.

A kiosk makes the peer connection and its SDP offer for the next call while it is idle (a
*warm* peer), so the offer travels with the applicant's request and making it is off the
call's set-up time. The camera and microphone are attached only when the applicant asks for
a clerk (``replaceTrack`` needs no renegotiation), so nothing is captured while the kiosk idles.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from media.sources import LocalMedia
from signaling.messages import IceServer


@dataclass
class WarmPeer:
    """A peer connection with its offer made, usable until ``usable_until`` (monotonic)."""

    pc: RTCPeerConnection
    offer_sdp: str
    usable_until: float = math.inf

    def fresh(self) -> bool:
        """True while its ICE credentials are safely within their lifetime."""
        return time.monotonic() < self.usable_until


async def make_peer(ice_servers: list[IceServer], ice_ttl_s: int | None = None) -> WarmPeer:
    """A new peer connection sending and receiving audio and video, with its offer made.

    ``ice_ttl_s`` is how long the servers' credentials last; the peer is usable for half of it.
    """
    servers = [
        RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in ice_servers
    ]
    # An explicit (possibly empty) list: aiortc would otherwise use a public STUN server.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
    pc.addTransceiver("audio", direction="sendrecv")
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    until = math.inf if ice_ttl_s is None else time.monotonic() + ice_ttl_s / 2
    return WarmPeer(pc, pc.localDescription.sdp, until)


def attach_media(pc: RTCPeerConnection, media: LocalMedia) -> None:
    """Send ``media``'s microphone and camera on ``pc``'s audio and video transceivers."""
    for transceiver in pc.getTransceivers():
        track = media.audio if transceiver.kind == "audio" else media.video
        transceiver.sender.replaceTrack(track)
