"""How good the call's link is, as the kiosk measures it: round trip, loss and frame rate.

Round trip and loss come from aiortc's own statistics (the clerk's receiver reports on what the
kiosk sends, the kiosk's receiver counts what it gets), the frame rate from the clerk's
pictures decoded here. A link is *weak* when a figure stays past its threshold for two
samples in a row, and good again only after three good ones, so the hint does not flicker.
"""

from __future__ import annotations

from collections import deque

from aiortc.stats import RTCStatsReport

from signaling.messages import MediaFigures

WEAK_RTT_MS = 400.0
WEAK_LOSS_PCT = 3.0
WEAK_FPS = 10.0
WEAK_AFTER = 2
GOOD_AFTER = 3


def is_bad(figures: MediaFigures) -> bool:
    """Whether one sample's figures are past a threshold (unknown figures count as fine)."""
    return (
        (figures.rtt_ms is not None and figures.rtt_ms > WEAK_RTT_MS)
        or (figures.loss_pct is not None and figures.loss_pct > WEAK_LOSS_PCT)
        or (figures.fps is not None and figures.fps < WEAK_FPS)
    )


class LinkMeter:
    """Figures from successive samples of a peer connection's statistics."""

    def __init__(self) -> None:
        self.figures: MediaFigures | None = None
        self.weak = False
        self._recent: deque[bool] = deque(maxlen=max(WEAK_AFTER, GOOD_AFTER))
        self._last: tuple[float, int, int, int] | None = None  # time, frames, received, lost

    def sample(self, stats: RTCStatsReport, frames: int, now: float) -> MediaFigures:
        """Take one sample (``frames``: video frames decoded so far; ``now``: monotonic s)."""
        # aiortc lists a receiver report before it can time one (no round trip yet: None)
        rtts = [
            s.roundTripTime
            for s in stats.values()
            if s.type == "remote-inbound-rtp" and s.roundTripTime is not None
        ]
        inbound = [s for s in stats.values() if s.type == "inbound-rtp" and s.kind == "video"]
        received = sum(s.packetsReceived for s in inbound)
        lost = sum(max(0, s.packetsLost) for s in inbound)
        loss_pct = fps = None
        if self._last is not None:
            then, frames_then, received_then, lost_then = self._last
            elapsed = now - then
            if elapsed > 0:
                fps = round(max(0, frames - frames_then) / elapsed, 1)
            got, missed = received - received_then, lost - lost_then
            if got + missed > 0:
                loss_pct = round(100.0 * max(0, missed) / (got + max(0, missed)), 1)
        self._last = (now, frames, received, lost)
        figures = MediaFigures(
            rtt_ms=round(max(rtts) * 1000, 1) if rtts else None, loss_pct=loss_pct, fps=fps
        )
        self.figures = figures
        self._recent.append(is_bad(figures))
        recent = list(self._recent)
        if not self.weak and len(recent) >= WEAK_AFTER and all(recent[-WEAK_AFTER:]):
            self.weak = True
        elif self.weak and len(recent) >= GOOD_AFTER and not any(recent[-GOOD_AFTER:]):
            self.weak = False
        return figures
