"""The recorder's source clock: local frames are stamped in media time, not arrival time."""

from __future__ import annotations

import fractions

import av
import numpy as np

from media.recording import SOURCE_JUMP_S, SourceClock

VIDEO_BASE = fractions.Fraction(1, 90_000)


def video_frame(seconds: float | None) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="bgr24")
    if seconds is not None:
        frame.pts = round(seconds * 90_000)
        frame.time_base = VIDEO_BASE
    return frame


def test_a_frame_handed_over_late_keeps_its_place() -> None:
    clock = SourceClock()
    arrivals = [(0.0, 100.0), (1 / 30, 100.25), (2 / 30, 100.0 + 2 / 30)]  # the second: 217 ms late
    stamps = [clock.stamp(video_frame(media), wall) for media, wall in arrivals]
    assert [round(s - 100.0, 4) for s in stamps] == [0.0, round(1 / 30, 4), round(2 / 30, 4)]


def test_the_frame_that_waited_least_sets_the_offset() -> None:
    clock = SourceClock()
    late_first = clock.stamp(video_frame(0.0), 100.2)  # the call was still setting up
    assert late_first == 100.2  # nothing better known yet
    assert clock.stamp(video_frame(1.0), 101.0) == 101.0  # on time: the offset drops
    assert clock.stamp(video_frame(1.5), 101.7) == 101.5


def test_a_source_clock_jump_re_anchors_to_the_wall_clock() -> None:
    clock = SourceClock()
    clock.stamp(video_frame(10.0), 100.0)
    restarted = 100.0 + SOURCE_JUMP_S + 2.0
    assert clock.stamp(video_frame(0.0), restarted) == restarted  # the camera restarted at 0
    assert clock.stamp(video_frame(0.5), restarted + 0.6) == restarted + 0.5


def test_a_frame_without_timestamps_is_stamped_on_arrival() -> None:
    assert SourceClock().stamp(video_frame(None), 123.0) == 123.0
