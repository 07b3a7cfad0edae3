"""A video picture stalled behind lost packets asks for a keyframe (media/stalls.py), on
aiortc's own jitter buffer."""

from __future__ import annotations

from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from media import stalls

FRAME_TICKS = 3000  # 30 frames a second on the 90 kHz video clock


def packet(seq: int) -> RtpPacket:
    p = RtpPacket(payload_type=96, sequence_number=seq % 65536, timestamp=seq * FRAME_TICKS)
    p._data = bytes([seq % 256])  # type: ignore[attr-defined]
    return p


def feed(add: object, buffer: JitterBuffer, seqs: range) -> list[tuple[int, bool, bool]]:
    """(seq, keyframe asked, frame out) for each packet, one packet a frame."""
    out = []
    for seq in seqs:
        pli, frame = add(buffer, packet(seq))  # type: ignore[operator]
        out.append((seq, pli, frame is not None))
    return out


def test_a_picture_stalled_by_a_lost_packet_asks_for_a_keyframe_and_goes_on() -> None:
    stalls.install()
    # 60 frames (2 s) flow, then packet 60 is lost for good (a cut), and the rest arrive
    after_loss = range(61, 121)
    buffer = JitterBuffer(capacity=512, is_video=True)
    flowing = feed(JitterBuffer.add, buffer, range(60))
    assert sum(out for _, _, out in flowing) == 59  # each frame out when the next begins
    seen = feed(JitterBuffer.add, buffer, after_loss)
    asked = [seq for seq, pli, _ in seen if pli]
    # asked once the frame waiting longest (59: its end is known only from packet 60) is
    # 0.4 s of media behind (12 frames of 30 a second), not sooner
    assert asked and asked[0] == 59 + 13, asked
    assert len(asked) == 1
    assert all(out for seq, _, out in seen if seq > asked[0] + 1)

    # aiortc's own buffer waits for the lost packet: nothing comes out, no keyframe asked
    stock = JitterBuffer(capacity=512, is_video=True)
    feed(stalls._original_add, stock, range(60))
    stuck = feed(stalls._original_add, stock, after_loss)
    assert not any(pli or out for _, pli, out in stuck)


def test_audio_is_left_as_aiortc_has_it() -> None:
    stalls.install()
    buffer = JitterBuffer(capacity=16, prefetch=4)
    for seq in [*range(10), *range(11, 40)]:
        pli, _ = buffer.add(packet(seq))
        assert not pli
