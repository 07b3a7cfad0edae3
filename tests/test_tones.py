"""The tone tools tell whose voice is heard: in numpy, through aiortc, and inside Chromium."""

from __future__ import annotations

import fractions
import os
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from playwright.async_api import Error, Page, async_playwright

from media.chromium import CHROMIUM, CHROMIUM_ARGS
from media.sources import SyntheticAudioTrack
from tests.teardown import bounded
from tests.tones import (
    FAKE_AUDIO_FLAG,
    HEARD,
    ToneMeter,
    chromium_args_with_tone,
    page_tone_levels,
    page_wait_for_tone,
    tone_levels,
    write_tone_wav,
)

LOW, HIGH = 440.0, 1500.0
RATE = 48_000


def sine(frequency: float, seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 0.3 * np.sin(2 * np.pi * frequency * t)


@pytest.mark.parametrize(("present", "absent"), [(LOW, HIGH), (HIGH, LOW)])
def test_levels_of_a_sine_show_its_tone_and_not_the_other(present: float, absent: float) -> None:
    levels = tone_levels(sine(present), RATE, [present, absent])
    assert levels[present] > 0.9
    assert levels[present] > 10 * levels[absent], levels


def test_levels_of_two_tones_split_the_energy_and_silence_has_none() -> None:
    both = tone_levels(sine(LOW) + sine(HIGH), RATE, [LOW, HIGH])
    assert both[LOW] == pytest.approx(0.5, abs=0.05) and both[HIGH] == pytest.approx(0.5, abs=0.05)
    assert tone_levels(np.zeros(RATE), RATE, [LOW, HIGH]) == {LOW: 0.0, HIGH: 0.0}


def test_tone_wav_is_mono_16_bit_and_holds_its_tone(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "tone.wav", LOW, seconds=1.0)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    assert 0.2 < np.abs(samples).max() / 32767 < 0.5  # moderate: no clipping in any mixing
    assert tone_levels(samples, RATE, [LOW, HIGH])[LOW] > 0.9


def test_chromium_args_add_the_tone_file_to_the_fake_devices(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "tone.wav", LOW, seconds=1.0)
    args = chromium_args_with_tone(path)
    assert args[: len(CHROMIUM_ARGS)] == list(CHROMIUM_ARGS)
    assert args[len(CHROMIUM_ARGS) :] == [f"{FAKE_AUDIO_FLAG}={path.resolve()}"]
    assert "--use-fake-device-for-media-stream" in args
    with pytest.raises(FileNotFoundError, match="write_tone_wav"):
        chromium_args_with_tone(tmp_path / "missing.wav")


class FiniteTone(MediaStreamTrack):
    """A tone in frames of a given format and layout, ending after ``frames`` of them."""

    kind = "audio"

    def __init__(self, frequency: float, fmt: str, layout: str, rate: int, frames: int) -> None:
        super().__init__()
        self.frequency, self.fmt, self.layout, self.rate = frequency, fmt, layout, rate
        self.left = frames
        self.sent = 0

    async def recv(self) -> av.AudioFrame:
        if self.left == 0:
            raise MediaStreamError
        self.left -= 1
        size = self.rate // 50
        t = np.arange(self.sent, self.sent + size) / self.rate
        wave_ = 0.3 * np.sin(2 * np.pi * self.frequency * t)
        channels = 2 if self.layout == "stereo" else 1
        if self.fmt.startswith("s16"):
            wave_ = (wave_ * 32767).astype(np.int16)
        else:
            wave_ = wave_.astype(np.float32)
        if self.fmt.endswith("p"):  # planar: a row per channel
            data = np.tile(wave_, (channels, 1))
        else:  # packed: one row, channels interleaved
            data = np.repeat(wave_, channels).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format=self.fmt, layout=self.layout)
        frame.sample_rate = self.rate
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, self.rate)
        self.sent += size
        return frame


@pytest.mark.parametrize(
    ("fmt", "layout", "rate"),
    [("s16", "stereo", 48_000), ("s16p", "stereo", 44_100), ("fltp", "mono", 16_000)],
)
async def test_meter_reads_any_layout_and_says_when_its_track_ended(
    fmt: str, layout: str, rate: int
) -> None:
    meter = ToneMeter()
    meter.start(FiniteTone(LOW, fmt, layout, rate, frames=30))
    try:
        heard = await meter.wait_for_tone(LOW, timeout=5.0, others=[HIGH])
        assert heard[LOW] > 10 * heard[HIGH]
        with pytest.raises(RuntimeError, match=r"1500 Hz dominating 440 Hz: the track ended"):
            await meter.wait_for_tone(HIGH, timeout=5.0, others=[LOW])
    finally:
        await meter.stop()
    assert meter.frames == 30
    assert meter.seconds == pytest.approx(0.6)  # all 30 frames of 20 ms: under the 1 s window


async def test_meter_on_an_aiortc_peer_hears_the_sent_tone_and_not_another() -> None:
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    meter = ToneMeter()
    tone = SyntheticAudioTrack(frequency=HIGH)

    @receiver.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        meter.start(track)

    try:
        sender.addTrack(tone)
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        heard = await meter.wait_for_tone(HIGH, timeout=10.0, others=[LOW])
        assert heard[LOW] < HEARD
        assert meter.rate == 48_000  # Opus decodes at 48 kHz whatever was sent
    finally:
        await meter.stop()
        tone.stop()
        await bounded(sender.close(), "sender")
        await bounded(receiver.close(), "receiver")


@pytest.fixture
async def page_with_low_tone(tmp_path: Path) -> AsyncIterator[Page]:
    """A page in a Chromium whose microphone plays a 440 Hz tone, on a secure origin
    (``http://localhost``, answered by Playwright) so that getUserMedia exists."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason=reason)
    args = chromium_args_with_tone(write_tone_wav(tmp_path / "low.wav", LOW))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            context = await browser.new_context(permissions=["microphone"])
            page = await context.new_page()
            await page.route(
                "http://localhost/tones",
                lambda route: route.fulfill(content_type="text/html", body="<title>tones</title>"),
            )
            await page.goto("http://localhost/tones")
            yield page
        finally:
            await bounded(browser.close(), "Chromium")


# the app's own constraints (agent_console/static/camera.js): Chromium's audio processing on
MICROPHONE = """async () => {
  const mic = await navigator.mediaDevices.getUserMedia(
      {audio: {echoCancellation: true, noiseSuppression: true}});
  window.__mic = mic.getAudioTracks()[0];
}"""

# two peer connections in the page, the microphone sent from one to the other
LOOPBACK = """async () => {
  const sender = new RTCPeerConnection(), receiver = new RTCPeerConnection();
  sender.onicecandidate = (e) => e.candidate && receiver.addIceCandidate(e.candidate);
  receiver.onicecandidate = (e) => e.candidate && sender.addIceCandidate(e.candidate);
  const received = new Promise((resolve) => { receiver.ontrack = (e) => resolve(e.track); });
  sender.addTrack(window.__mic);
  await sender.setLocalDescription();
  await receiver.setRemoteDescription(sender.localDescription);
  await receiver.setLocalDescription();
  await sender.setRemoteDescription(receiver.localDescription);
  window.__peers = [sender, receiver];
  window.__received = await received;
}"""


@pytest.mark.browser
async def test_page_meter_hears_the_microphone_tone(page_with_low_tone: Page) -> None:
    page = page_with_low_tone
    await page.evaluate(MICROPHONE)
    levels = await page_tone_levels(page, "window.__mic", [LOW, HIGH])
    assert levels[LOW] >= HEARD and levels[LOW] > 10 * levels[HIGH], levels


@pytest.mark.browser
async def test_page_meter_hears_the_tone_on_a_received_webrtc_track(
    page_with_low_tone: Page,
) -> None:
    page = page_with_low_tone
    await page.evaluate(MICROPHONE)
    await page.evaluate(LOOPBACK)
    levels = await page_tone_levels(page, "window.__received", [LOW, HIGH])
    assert levels[LOW] >= HEARD and levels[LOW] > 10 * levels[HIGH], levels
    # the same meter waits: the tone dominates; the other one never does
    await page_wait_for_tone(page, "window.__received", LOW, others=[HIGH], timeout=5.0)
    with pytest.raises(Error, match=r"1500 Hz dominating \[440\] Hz: not within 500 ms"):
        await page_wait_for_tone(page, "window.__received", HIGH, others=[LOW], timeout=0.5)
