"""A video picture that stalls after lost packets asks for a keyframe at once.

aiortc's jitter buffer holds a video frame with a hole in it until the hole is filled (by a
retransmission) or until 512 packets have piled up behind it: after a short network cut whose
packets the sender no longer has, the picture stayed frozen for seconds (5 s after a 2 s cut,
measured with tests/netfault.py) and only then asked for a keyframe. Here, once the oldest
frame waiting has been incomplete for :data:`STALL_S` of media time, what waits is dropped and
a keyframe is requested (RFC 4585 PLI, which aiortc's sender answers with one).

Installed on aiortc's ``JitterBuffer`` (:func:`install`), once per process, by the modules that
make peers.
"""

from __future__ import annotations

from typing import Any

from aiortc import jitterbuffer
from aiortc.utils import uint16_add

STALL_S = 0.4
VIDEO_CLOCK_HZ = 90_000  # RTP clock of every video codec (RFC 3551, 7741, 6184)
_HALF = 1 << 31

_original_add = jitterbuffer.JitterBuffer.add


def _stalled_for(buffer: Any, packet: Any) -> int:
    """How far (RTP clock) ``packet`` is ahead of the oldest packet held, when a hole lies
    between them (a lost packet); 0 otherwise."""
    capacity, origin = buffer.capacity, buffer._origin
    if origin is None:
        return 0
    ahead_of_origin = uint16_add(packet.sequence_number, -origin)
    if not 0 < ahead_of_origin < capacity:
        return 0
    held = [buffer._packets[(origin + i) % capacity] for i in range(ahead_of_origin)]
    if all(p is not None for p in held):
        return 0
    oldest = next(p for p in held if p is not None) if any(held) else None
    if oldest is None:
        return 0
    ahead = (packet.timestamp - oldest.timestamp) & 0xFFFFFFFF
    return ahead if ahead < _HALF else 0


def _add(self: Any, packet: Any) -> tuple[bool, Any]:
    pli, frame = _original_add(self, packet)
    if frame is None and self._is_video and _stalled_for(self, packet) > STALL_S * VIDEO_CLOCK_HZ:
        # start again at this packet: the frames held behind the hole cannot be completed
        self.remove(uint16_add(packet.sequence_number, -self._origin))
        self._packets[packet.sequence_number % self.capacity] = packet
        return True, self._remove_frame(packet.sequence_number)
    return pli, frame


_installed = False


def install() -> None:
    """Ask for a keyframe as soon as a video picture stalls, for every peer of this process."""
    global _installed
    if not _installed:
        jitterbuffer.JitterBuffer.add = _add  # type: ignore[method-assign]
        _installed = True
