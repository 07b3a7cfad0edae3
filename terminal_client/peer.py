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
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from media import bitrate, consent, stalls
from media.sources import LocalMedia
from signaling.messages import IcePolicy, IceServer

# the kiosk's calls hold on long paths (600 ms round trip), a picture stalled by lost packets
# asks for a keyframe at once, and the bitrate asked of the clerk's browser has a floor: see
# media/consent.py, media/stalls.py and media/bitrate.py
consent.install()
stalls.install()
bitrate.install()


@dataclass
class WarmPeer:
    """A peer connection with its offer made, usable until ``usable_until`` (monotonic)."""

    pc: RTCPeerConnection
    offer_sdp: str
    usable_until: float = math.inf

    def fresh(self) -> bool:
        """True while its ICE credentials are safely within their lifetime."""
        return time.monotonic() < self.usable_until


async def make_peer(
    ice_servers: list[IceServer],
    ice_ttl_s: int | None = None,
    document: bool = False,
    policy: IcePolicy = "all",
) -> WarmPeer:
    """A new peer connection sending and receiving audio and video, with its offer made.

    ``ice_ttl_s`` is how long the servers' credentials last; the peer is usable for half of it.
    ``document`` adds a second, send-only video: the document camera the clerk watches.
    ``policy`` "relay" gathers TURN candidates only (the server's ``ice_transport_policy``).
    """
    servers = [
        RTCIceServer(urls=s.urls, username=s.username, credential=s.credential) for s in ice_servers
    ]
    # An explicit (possibly empty) list: aiortc would otherwise use a public STUN server.
    # With a third m-line aiortc's default ("balanced") gives the second video its own ICE
    # transport, which never connects; one bundled transport carries all three.
    bundle = RTCBundlePolicy.MAX_BUNDLE if document else RTCBundlePolicy.BALANCED
    pc = RTCPeerConnection(
        RTCConfiguration(
            iceServers=servers,
            bundlePolicy=bundle,
            iceTransportPolicy=RTCIceTransportPolicy(policy),
        )
    )
    pc.addTransceiver("audio", direction="sendrecv")
    pc.addTransceiver("video", direction="sendrecv")
    if document:
        pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    until = math.inf if ice_ttl_s is None else time.monotonic() + ice_ttl_s / 2
    return WarmPeer(pc, pc.localDescription.sdp, until)


def attach_media(pc: RTCPeerConnection, media: LocalMedia, relay: MediaRelay) -> None:
    """Send ``media``'s microphone and camera on ``pc``'s audio and video transceivers.

    Each peer connection gets its own copies of the tracks from ``relay``: aiortc stops a
    sender's track when its connection closes (also when the far end closes it), and the
    camera must outlive a peer connection replaced within the call.
    """
    # the first audio and the first video; a document camera's video comes after them
    transceivers = pc.getTransceivers()[:2]
    for transceiver in transceivers:
        track = media.audio if transceiver.kind == "audio" else media.video
        transceiver.sender.replaceTrack(relay.subscribe(track, buffered=False))


def send_keyframe(pc: RTCPeerConnection) -> None:
    """Have ``pc``'s video senders send a keyframe with their next frame.

    After a cut the browser cannot decode what follows the packets it lost, and the sender no
    longer has them to resend: it waits through its retransmission requests before asking
    for a keyframe itself (0.4-3 s measured). The kiosk, seeing the clerk's picture come
    back, knows the link is back and sends one at once. aiortc has no public call for this;
    its sender does the same when a PLI arrives.
    """
    for sender in pc.getSenders():
        if sender.kind == "video" and sender.track is not None:
            sender._RTCRtpSender__force_keyframe = True  # type: ignore[attr-defined]


async def ask_keyframe(pc: RTCPeerConnection) -> None:
    """Ask the far end for a keyframe on each video ``pc`` receives (RTCP PLI).

    A picture can stay frozen while packets keep arriving: frames dropped behind a hole
    (media/stalls.py) leave the next ones undecodable, and if the one keyframe asked for then
    is lost, nothing asks again (the clerk's picture froze 8 s until the server replaced the
    connection, in 1 of 10 cuts). The kiosk asks again every second while it sees nothing.
    aiortc has no public call for this; its receiver sends the same PLI itself.
    """
    for transceiver in pc.getTransceivers():
        if transceiver.kind != "video" or transceiver.currentDirection not in (
            "recvonly",
            "sendrecv",
        ):
            continue
        receiver: Any = transceiver.receiver
        rtx = set(receiver._RTCRtpReceiver__rtx_ssrc)
        for ssrc in list(receiver._RTCRtpReceiver__remote_streams):
            if ssrc not in rtx:
                await receiver._send_rtcp_pli(ssrc)


def attach_document(
    pc: RTCPeerConnection, track: MediaStreamTrack, relay: MediaRelay
) -> MediaStreamTrack:
    """Send the document camera's ``track`` on ``pc``'s second video (see :func:`make_peer`),
    through ``relay`` as :func:`attach_media` does."""
    videos = [t for t in pc.getTransceivers() if t.kind == "video"]
    if len(videos) < 2:
        raise ValueError(
            "this peer connection has no document-camera video; make it with document=True"
        )
    videos[1].sender.replaceTrack(relay.subscribe(track, buffered=False))
    return track


def share_bundle_candidates(sdp: str) -> str:
    """``sdp`` with the ICE candidates of its BUNDLE group listed in every bundled section.

    A browser lists a bundled transport's candidates once, in the group's first section. With
    max-bundle aiortc keeps, for the one ICE transport, the candidates of the *last* section
    it reads, so it would know none of them; an early end-of-candidates then left it with
    nothing to pair and the call failed (1 call in 3 with the document camera's third
    section). Copying the lines keeps aiortc's own reading of the answer.
    """
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    group = next((line.split()[1:] for line in lines if line.startswith("a=group:BUNDLE ")), [])
    if len(group) < 2:
        return sdp
    sections: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("m="):
            sections.append([])
        sections[-1].append(line)

    def mid(section: list[str]) -> str | None:
        return next((line[6:] for line in section if line.startswith("a=mid:")), None)

    def ice_lines(section: list[str]) -> list[str]:
        return [
            line for line in section if line.startswith(("a=candidate:", "a=end-of-candidates"))
        ]

    bundled = [s for s in sections[1:] if mid(s) in group]
    shared: list[str] = []
    for section in bundled:
        shared += [line for line in ice_lines(section) if line not in shared]
    for section in bundled:
        section += [line for line in shared if line not in section]
    return "\r\n".join(line for section in sections for line in section) + "\r\n"
