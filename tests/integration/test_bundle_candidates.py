"""A browser's max-bundle answer lists its candidates once; the kiosk's aiortc must know them.

Chrome puts a bundled transport's candidates only in the group's first section. aiortc, with
the kiosk's max-bundle peer (camera, microphone and the document camera's third section),
kept those of the last section, so a call whose end-of-candidates came before the browser's
first check failed. Real aiortc peers; the answer is shaped as Chrome sends it.
"""

from __future__ import annotations

import re

from aiortc import RTCPeerConnection, RTCSessionDescription

from terminal_client.peer import WarmPeer, make_peer, share_bundle_candidates


def chrome_style(sdp: str) -> str:
    """``sdp`` with candidates left only in its first section, as Chrome lists them."""
    sections = re.split(r"(?m)^(?=m=)", sdp)
    kept = [sections[0], sections[1]]
    kept += [re.sub(r"(?m)^a=(candidate:|end-of-candidates).*\r\n", "", s) for s in sections[2:]]
    return "".join(kept)


async def chrome_answer(kiosk: WarmPeer, clerk: RTCPeerConnection) -> str:
    """The clerk's answer to the kiosk's max-bundle offer, its candidates as Chrome lists them."""
    await clerk.setRemoteDescription(RTCSessionDescription(kiosk.offer_sdp, "offer"))
    await clerk.setLocalDescription(await clerk.createAnswer())
    return chrome_style(clerk.localDescription.sdp)


async def test_the_answers_first_section_candidates_reach_the_bundled_transport() -> None:
    kiosk = await make_peer([], document=True)
    clerk = RTCPeerConnection()
    try:
        answer = await chrome_answer(kiosk, clerk)
        assert answer.count("a=candidate:") < clerk.localDescription.sdp.count("a=candidate:")

        shared = share_bundle_candidates(answer)
        assert shared.count("a=candidate:") == 3 * answer.count("a=candidate:")
        await kiosk.pc.setRemoteDescription(RTCSessionDescription(shared, "answer"))
        transports = {t.receiver.transport.transport for t in kiosk.pc.getTransceivers()}
        assert len(transports) == 1, "one bundled ICE transport"
        assert transports.pop().getRemoteCandidates(), "the answer's candidates are known"
    finally:
        await kiosk.pc.close()
        await clerk.close()


async def test_without_sharing_aiortc_would_know_none() -> None:
    """The failure this guards against (if aiortc fixes it, drop the sharing)."""
    kiosk = await make_peer([], document=True)
    clerk = RTCPeerConnection()
    try:
        answer = await chrome_answer(kiosk, clerk)
        await kiosk.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        transport = kiosk.pc.getTransceivers()[0].receiver.transport.transport
        assert transport.getRemoteCandidates() == []
    finally:
        await kiosk.pc.close()
        await clerk.close()


def test_sdp_without_a_bundle_group_is_unchanged() -> None:
    sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n"
    assert share_bundle_candidates(sdp) == sdp
