"""Synthetic sources look and sound like a camera and a microphone; missing devices say so."""

from __future__ import annotations

import numpy as np
import pytest

from media.errors import DeviceUnavailable
from media.sinks import FrameCounter
from media.sources import (
    AUDIO_SAMPLE_RATE,
    AUDIO_SAMPLES,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    create_local_tracks,
    open_camera,
)


@pytest.mark.full_size_camera
async def test_synthetic_video_is_640x480_at_30fps_timestamps_and_moves() -> None:
    track = SyntheticVideoTrack()
    try:
        frames = [await track.recv() for _ in range(4)]
    finally:
        track.stop()
    assert {(f.width, f.height) for f in frames} == {(640, 480)}
    assert [f.pts for f in frames] == [0, 3000, 6000, 9000]
    assert frames[0].time_base == pytest.approx(1 / 90_000)
    first, last = (f.to_ndarray(format="bgr24") for f in (frames[0], frames[-1]))
    # The pattern moves: consecutive frames differ in a visible share of pixels.
    assert np.mean(np.any(first != last, axis=2)) > 0.05


async def test_synthetic_audio_is_a_440hz_tone_in_20ms_frames() -> None:
    track = SyntheticAudioTrack()
    try:
        frames = [await track.recv() for _ in range(5)]
    finally:
        track.stop()
    assert [f.pts for f in frames] == [i * AUDIO_SAMPLES for i in range(5)]
    assert {f.samples for f in frames} == {AUDIO_SAMPLES}
    assert {f.sample_rate for f in frames} == {AUDIO_SAMPLE_RATE}
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(float)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * AUDIO_SAMPLE_RATE / len(samples)
    assert abs(peak_hz - 440) < 15


async def test_stopped_track_raises_media_stream_error() -> None:
    from aiortc.mediastreams import MediaStreamError

    track = SyntheticVideoTrack()
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


@pytest.mark.full_size_camera
async def test_frame_counter_counts_decoded_frames_and_size() -> None:
    media = create_local_tracks(True, "", "", label="test")
    counter = FrameCounter()
    counter.start(media.video)
    try:
        await counter.wait_for(5, timeout=5)
        assert counter.first_frame.is_set() and counter.first_frame_wall is not None
        assert counter.size == (640, 480)
        with pytest.raises(RuntimeError, match="already consuming"):
            counter.start(media.audio)
    finally:
        await counter.stop()
        media.stop()
        media.stop()


async def test_frame_counter_timeout_says_how_many_arrived() -> None:
    counter = FrameCounter()
    with pytest.raises(TimeoutError, match="only 0 of 3 frames"):
        await counter.wait_for(3, timeout=0.05)


def test_missing_camera_names_the_device_and_the_fix() -> None:
    with pytest.raises(DeviceUnavailable, match=r"/dev/video-none.*--synthetic"):
        open_camera("/dev/video-none")
    with pytest.raises(DeviceUnavailable, match="video-none"):
        create_local_tracks(False, "/dev/video-none", "default")
