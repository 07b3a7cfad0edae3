"""Whose voice is heard where: each party speaks a pure tone, receivers measure each tone.

For tests of who hears whom (a supervisor whispering to a clerk, barging into the call): give
every browser its own tone as microphone (:func:`write_tone_wav`, :func:`chromium_args_with_tone`)
and every aiortc peer its own :class:`media.sources.SyntheticAudioTrack` frequency, then ask each
receiver how much of what it hears lies at each tone: :class:`ToneMeter` for a track received by
aiortc, :func:`page_tone_levels` / :func:`page_wait_for_tone` for a track inside a Chromium page.

A level is the share (0..1) of the heard sound's energy within ``band_hz`` of a frequency: a tone
heard alone is close to 1, an absent one close to 0 (well under 1/100), two tones heard together
split the energy. Shares do not depend on loudness, so Chromium's microphone processing (its
noise suppressor and gain control turn a steady tone down by some 20 dB within seconds of
``getUserMedia``) does not change them. Keep the tones more than ``2 * band_hz`` apart and off
each other's harmonics (440 and 1500 Hz are fine).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import wave
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from playwright.async_api import Page

from media.chromium import CHROMIUM_ARGS

BAND_HZ = 25.0  # half-width of the band summed around each tone
HEARD = 0.05  # a tone is heard when at least this share of the sound lies in its band
DOMINANCE = 10.0  # a tone dominates another when its share is this many times larger
FAKE_AUDIO_FLAG = "--use-file-for-fake-audio-capture"

Levels = dict[float, float]


def write_tone_wav(
    path: Path | str, frequency_hz: float, seconds: float = 10.0, rate: int = 48_000
) -> Path:
    """Write a mono 16-bit sine at a third of full scale, for Chromium's fake microphone.

    The length is a whole number of cycles, so the file loops without a click."""
    cycles = max(1, round(seconds * frequency_hz))
    count = round(cycles * rate / frequency_hz)
    t = np.arange(count) / rate
    samples = (0.3 * 32767 * np.sin(2 * np.pi * frequency_hz * t)).astype("<i2")
    target = Path(path)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return target


def chromium_args_with_tone(path: Path | str) -> list[str]:
    """:data:`CHROMIUM_ARGS` with the WAV at ``path`` as the fake microphone (looped).

    ``--use-fake-device-for-media-stream`` (already in CHROMIUM_ARGS) alone gives a beep; the
    file flag replaces it. Chromium resolves a relative path against its own working directory,
    so the path is made absolute. (A ``%noloop`` suffix would play the file once only.)"""
    if any(arg.startswith(FAKE_AUDIO_FLAG) for arg in CHROMIUM_ARGS):
        raise ValueError(
            f"CHROMIUM_ARGS already names a fake microphone file ({FAKE_AUDIO_FLAG}); "
            "remove it there so each browser can be given its own tone"
        )
    wav = Path(path).resolve()
    if not wav.is_file():
        raise FileNotFoundError(f"{wav} does not exist: write it first with write_tone_wav()")
    return [*CHROMIUM_ARGS, f"{FAKE_AUDIO_FLAG}={wav}"]


def tone_levels(
    samples: npt.NDArray[Any], rate: int, frequencies: Iterable[float], band_hz: float = BAND_HZ
) -> Levels:
    """The share of ``samples``' energy within ``band_hz`` of each frequency (0 for silence).

    ``samples``: one channel, any numeric dtype; the window is Hann-tapered so that a tone's
    leakage outside its band stays far below 1 %."""
    signal = np.asarray(samples, dtype=np.float64)
    if signal.ndim != 1:
        raise ValueError(f"tone_levels takes one channel (1-D samples), got shape {signal.shape}")
    wanted = [float(f) for f in frequencies]
    if signal.size < 2:
        return dict.fromkeys(wanted, 0.0)
    signal = signal - signal.mean()
    power = np.abs(np.fft.rfft(signal * np.hanning(signal.size))) ** 2
    total = float(power.sum())
    if total <= 0.0:
        return dict.fromkeys(wanted, 0.0)
    hz = np.fft.rfftfreq(signal.size, 1.0 / rate)
    return {f: float(power[np.abs(hz - f) <= band_hz].sum()) / total for f in wanted}


def dominates(levels: Levels, frequency: float, others: Iterable[float], ratio: float) -> bool:
    """Whether ``frequency`` is heard and each of ``others`` is ``ratio`` times fainter."""
    level = levels[frequency]
    return level >= HEARD and all(level > ratio * levels[o] for o in others)


def _mono(frame: av.AudioFrame) -> npt.NDArray[np.float64]:
    """A frame's samples as one float channel in -1..1, whatever its format and layout."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    # planar: a row per channel; packed: one row with the channels interleaved
    rows = data.reshape(channels, -1) if frame.format.is_planar else data.reshape(-1, channels).T
    mixed: npt.NDArray[np.float64] = rows.astype(np.float64).mean(axis=0)
    if np.issubdtype(data.dtype, np.integer):
        mixed /= float(2 ** (8 * data.dtype.itemsize - 1))
    return mixed


class ToneMeter:
    """Pulls decoded audio from a remote track (like :class:`media.sinks.FrameCounter`) and
    keeps its last ``window_s`` seconds, to tell which tones it carries."""

    MIN_SECONDS = 0.25  # the waits judge no shorter window (a 4 Hz resolution at worst)

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.frames = 0
        self.rate: int | None = None
        self.ended = False
        self._chunks: deque[npt.NDArray[np.float64]] = deque()
        self._held = 0  # samples in _chunks
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    def start(self, track: MediaStreamTrack) -> None:
        """Start consuming ``track`` in a task kept until :meth:`stop`."""
        if self._task is not None:
            raise RuntimeError("ToneMeter is already consuming a track; create another one")
        if track.kind != "audio":
            raise ValueError(f"ToneMeter measures audio; give it an audio track, not {track.kind}")
        self._task = asyncio.get_running_loop().create_task(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                if isinstance(frame, av.AudioFrame):  # an audio track yields nothing else
                    self._add(frame)
                async with self._changed:
                    self._changed.notify_all()
        finally:
            self.ended = True
            # wake the waits, which say the track ended instead of running into their timeout
            async with self._changed:
                self._changed.notify_all()

    def listener(self) -> Callable[[av.AudioFrame | av.VideoFrame, float], None]:
        """An ``on_frame`` listener (:class:`media.sinks.FrameCounter`) that feeds this meter:
        for a track another sink already consumes (the kiosk's received audio)."""
        wakes: set[asyncio.Task[None]] = set()

        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        def on_frame(frame: av.AudioFrame | av.VideoFrame, _wall: float) -> None:
            if isinstance(frame, av.AudioFrame):
                self._add(frame)
                task = asyncio.get_running_loop().create_task(wake())
                wakes.add(task)
                task.add_done_callback(wakes.discard)

        return on_frame

    def _add(self, frame: av.AudioFrame) -> None:
        if frame.sample_rate != self.rate:  # a new rate starts a new window
            self.rate = frame.sample_rate
            self._chunks.clear()
            self._held = 0
        chunk = _mono(frame)
        self._chunks.append(chunk)
        self._held += chunk.size
        keep = round(self.window_s * frame.sample_rate)
        while self._held - self._chunks[0].size >= keep:
            self._held -= self._chunks.popleft().size
        self.frames += 1

    @property
    def seconds(self) -> float:
        """How much audio the window holds now."""
        return self._held / self.rate if self.rate else 0.0

    def samples(self) -> npt.NDArray[np.float64]:
        """The window's samples, one channel in -1..1."""
        if not self._chunks:
            return np.zeros(0)
        return np.concatenate(list(self._chunks))

    def levels(self, frequencies: Iterable[float], band_hz: float = BAND_HZ) -> Levels:
        """:func:`tone_levels` of the window (all 0 before the first frame)."""
        return tone_levels(self.samples(), self.rate or 1, frequencies, band_hz)

    async def wait_until(
        self,
        frequencies: Iterable[float],
        holds: Callable[[Levels], bool],
        timeout: float,
        what: str,
    ) -> Levels:
        """Wait, re-judging at each frame, until ``holds(levels)``; returns those levels.

        TimeoutError says ``what`` was awaited and the last levels; RuntimeError if the track
        ends first. For "both heard" (a barge): ``holds=lambda lv: min(lv.values()) >= HEARD``."""
        wanted = list(frequencies)
        last: Levels = dict.fromkeys(wanted, 0.0)

        def judged() -> bool:
            nonlocal last
            if self.seconds >= min(self.MIN_SECONDS, self.window_s):
                last = self.levels(wanted)
                if holds(last):
                    return True
            return self.ended  # the last window is all there will be

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(judged)
        except TimeoutError:
            raise TimeoutError(
                f"{what}: not within {timeout:g} s; last levels {_shown(last)} over "
                f"{self.seconds:.2f} s of audio ({self.frames} frames)"
            ) from None
        if not holds(last):  # only when the track ended
            raise RuntimeError(
                f"{what}: the track ended after {self.frames} frames; last levels {_shown(last)}"
            )
        return last

    async def wait_for_tone(
        self,
        frequency: float,
        timeout: float,
        others: Iterable[float] = (),
        ratio: float = DOMINANCE,
    ) -> Levels:
        """Wait until ``frequency`` is heard and each of ``others`` is ``ratio`` times fainter."""
        rivals = [float(o) for o in others]
        return await self.wait_until(
            [float(frequency), *rivals],
            lambda levels: dominates(levels, frequency, rivals, ratio),
            timeout,
            f"{frequency:g} Hz dominating {_hz(rivals)}",
        )

    async def stop(self) -> None:
        """Stop consuming; returns once the task is gone."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _shown(levels: Levels) -> str:
    return "{" + ", ".join(f"{f:g} Hz: {v:.4f}" for f, v in levels.items()) + "}"


def _hz(frequencies: list[float]) -> str:
    return ", ".join(f"{f:g} Hz" for f in frequencies) or "nothing"


# Installs window.__toneMeter(track) -> {levels(freqs, bandHz), audible(timeoutMs),
# waitFor(freq, others, ratio, heard, timeoutMs)}, one meter per track (kept in a WeakMap).
# Levels are the same shares as tone_levels(), from an AnalyserNode's spectrum (dB per bin,
# turned back into power). Waits are paced by the audio clock: a silent ConstantSourceNode
# ends after one analyser window, and its `ended` event is the next look.
PAGE_TONE_METER = r"""
(() => {
  if (window.__toneMeter) return;
  const meters = new WeakMap();
  window.__toneMeter = (track) => {
    if (!(track instanceof MediaStreamTrack) || track.kind !== 'audio') {
      throw new Error(`__toneMeter needs an audio MediaStreamTrack, got ${track && (track.kind || track)}`);
    }
    let meter = meters.get(track);
    if (meter) return meter;
    const ctx = new AudioContext();
    ctx.resume();
    // Chromium feeds a remote WebRTC track to WebAudio only while a media element plays it
    // (silence otherwise, even in Chromium 156); muted, the element plays nothing aloud.
    const sink = new Audio();
    sink.muted = true;
    sink.srcObject = new MediaStream([track]);
    sink.play().catch(() => {});
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 16384;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const silent = ctx.createGain();
    silent.gain.value = 0;
    analyser.connect(silent).connect(ctx.destination);
    const windowS = analyser.fftSize / ctx.sampleRate;
    const spectrum = () => {
      const db = new Float32Array(analyser.frequencyBinCount);
      analyser.getFloatFrequencyData(db);
      return Array.from(db, (d) => 10 ** (d / 10));  // -Infinity dB: 0
    };
    const nextWindow = () => new Promise((resolve) => {
      const tick = ctx.createConstantSource();
      tick.offset.value = 0;
      tick.connect(silent);
      tick.onended = () => { tick.disconnect(); resolve(); };
      tick.start();
      tick.stop(ctx.currentTime + windowS);
    });
    const levels = (freqs, bandHz = 25) => {
      const power = spectrum();
      const total = power.reduce((a, b) => a + b, 0);
      const binHz = ctx.sampleRate / analyser.fftSize;
      return freqs.map((f) => {
        if (!(total > 0)) return 0;
        let sum = 0;
        const lo = Math.max(0, Math.ceil((f - bandHz) / binHz));
        const hi = Math.min(power.length - 1, Math.floor((f + bandHz) / binHz));
        for (let k = lo; k <= hi; k++) sum += power[k];
        return sum / total;
      });
    };
    // Resolves with levels once `ok(levels, total)` holds at a window's end, else rejects.
    const until = async (freqs, bandHz, ok, timeoutMs, what) => {
      const deadline = performance.now() + timeoutMs;
      let last = freqs.map(() => 0);
      let total = 0;
      let timer;
      const expired = new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); });
      try {
        while (performance.now() < deadline) {
          if (await Promise.race([nextWindow().then(() => false), expired.then(() => true)])) break;
          total = spectrum().reduce((a, b) => a + b, 0);
          last = levels(freqs, bandHz);
          if (ok(last, total)) return last;
        }
      } finally {
        clearTimeout(timer);
      }
      throw new Error(`${what}: not within ${timeoutMs} ms; last levels ${JSON.stringify(
        Object.fromEntries(freqs.map((f, i) => [f, +last[i].toFixed(4)])))}, total power ${
        total.toExponential(2)}, AudioContext ${ctx.state}, track ${track.readyState}${
        track.muted ? ' (muted)' : ''}`);
    };
    meter = {
      levels,
      // the first window with any sound in it (a remote track may start silent)
      audible: (freqs, bandHz, timeoutMs) =>
        until(freqs, bandHz, (_, total) => total > 1e-12, timeoutMs, 'no sound on the track'),
      waitFor: (freq, others, ratio, heard, bandHz, timeoutMs) =>
        until([freq, ...others], bandHz,
              ([level, ...rest]) => level >= heard && rest.every((r) => level > ratio * r),
              timeoutMs, `${freq} Hz dominating [${others}] Hz`),
    };
    meters.set(track, meter);
    return meter;
  };
})()
"""


async def page_tone_levels(
    page: Page,
    track_expression: str,
    frequencies: Iterable[float],
    timeout: float = 5.0,
    band_hz: float = BAND_HZ,
) -> Levels:
    """Levels of the audio track that the JS ``track_expression`` names in ``page``.

    The first call for a track installs a meter on it, and every call waits for a window with
    some sound in it (a remote track starts silent): an Error after ``timeout`` if none comes."""
    wanted = [float(f) for f in frequencies]
    await page.evaluate(PAGE_TONE_METER)
    shares = await page.evaluate(
        f"([freqs, band, ms]) => window.__toneMeter({track_expression}).audible(freqs, band, ms)",
        [wanted, band_hz, math.ceil(timeout * 1000)],
    )
    return dict(zip(wanted, map(float, shares), strict=True))


async def page_wait_for_tone(
    page: Page,
    track_expression: str,
    frequency: float,
    others: Iterable[float] = (),
    timeout: float = 5.0,
    ratio: float = DOMINANCE,
) -> Levels:
    """Wait until the page's track carries ``frequency`` and each of ``others`` is ``ratio``
    times fainter, judged at each analyser window; an Error after ``timeout`` says the levels."""
    rivals = [float(o) for o in others]
    await page.evaluate(PAGE_TONE_METER)
    shares = await page.evaluate(
        f"(a) => window.__toneMeter({track_expression}).waitFor(...a)",
        [float(frequency), rivals, ratio, HEARD, BAND_HZ, math.ceil(timeout * 1000)],
    )
    return dict(zip([float(frequency), *rivals], map(float, shares), strict=True))
