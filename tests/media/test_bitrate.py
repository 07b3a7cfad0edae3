"""The bitrate the kiosk asks of the clerk's browser never drops below the floor on delay
alone (aiortc's own estimator, fed packets whose delay grows as on a congested path)."""

from __future__ import annotations

from aiortc.rate import RemoteBitrateEstimator

from media import bitrate


def estimates(arrivals: list[tuple[int, int]]) -> list[int]:
    """Feed (abs-send-time in ms, arrival ms) pairs of 1,200-byte packets; the REMBs sent."""
    estimator = RemoteBitrateEstimator()
    out = []
    for sent_ms, arrived_ms in arrivals:
        abs_send_time = (sent_ms * (1 << 18) // 1000) & 0xFFFFFF
        remb = estimator.add(
            arrival_time_ms=arrived_ms, abs_send_time=abs_send_time, payload_size=1200, ssrc=1
        )
        if remb is not None:
            out.append(remb[0])
    return out


def test_a_path_that_looks_congested_keeps_the_floor() -> None:
    bitrate.install()
    # a thin stream (a packet every 40 ms, ~240 kbit/s), each arriving 2 ms later than the
    # last would have: a queue building up
    congested = [(40 * n, 40 * n + 2 * n) for n in range(600)]
    sent = estimates(congested)
    assert sent, "the estimator sent no REMB"
    assert min(sent) >= bitrate.FLOOR_BPS
    # without the floor, aiortc's estimator goes below it on the same packets
    original = bitrate._original_add
    estimator = RemoteBitrateEstimator()
    raw = []
    for sent_ms, arrived_ms in congested:
        remb = original(
            estimator, arrival_time_ms=arrived_ms,
            abs_send_time=(sent_ms * (1 << 18) // 1000) & 0xFFFFFF, payload_size=1200, ssrc=1,
        )  # fmt: skip
        if remb is not None:
            raw.append(remb[0])
    assert min(raw) < bitrate.FLOOR_BPS, raw[-5:]
