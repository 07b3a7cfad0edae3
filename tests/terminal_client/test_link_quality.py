"""The kiosk's reading of its link from aiortc's statistics: figures, and a weak hint that
does not flicker."""

from __future__ import annotations

import datetime

from aiortc.stats import RTCInboundRtpStreamStats, RTCRemoteInboundRtpStreamStats, RTCStatsReport

from terminal_client.link_quality import LinkMeter

NOW = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)


def report(rtt_s: float | None, received: int, lost: int) -> RTCStatsReport:
    stats = RTCStatsReport()
    stats.add(
        RTCRemoteInboundRtpStreamStats(
            timestamp=NOW, type="remote-inbound-rtp", id="r", ssrc=1, kind="video",
            transportId="t", packetsReceived=0, packetsLost=0, jitter=0,
            roundTripTime=rtt_s, fractionLost=0.0,
        )
    )  # fmt: skip
    stats.add(
        RTCInboundRtpStreamStats(
            timestamp=NOW, type="inbound-rtp", id="i", ssrc=2, kind="video",
            transportId="t", packetsReceived=received, packetsLost=lost, jitter=0,
        )
    )  # fmt: skip
    return stats


def test_figures_come_from_the_differences_between_samples() -> None:
    meter = LinkMeter()
    first = meter.sample(report(0.05, 100, 0), frames=0, now=0.0)
    assert first.rtt_ms == 50.0 and first.fps is None and first.loss_pct is None
    second = meter.sample(report(0.06, 195, 5), frames=25, now=1.0)
    assert (second.rtt_ms, second.loss_pct, second.fps) == (60.0, 5.0, 25.0)
    # a receiver report aiortc could not time yet has no round trip
    assert meter.sample(report(None, 295, 5), frames=50, now=2.0).rtt_ms is None


def test_the_hint_needs_two_bad_samples_and_three_good_ones_to_go() -> None:
    meter = LinkMeter()
    received = frames = 0

    def step(rtt_s: float, t: float) -> bool:
        nonlocal received, frames
        received += 100
        frames += 25
        meter.sample(report(rtt_s, received, 0), frames, t)
        return meter.weak

    assert not step(0.05, 0)
    assert not step(0.6, 1)  # one long round trip is not a weak link
    assert step(0.6, 2)
    assert step(0.05, 3) and step(0.05, 4)  # still weak: two good samples are not enough
    assert not step(0.05, 5)
