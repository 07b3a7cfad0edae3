"""Identity benchmark: per-frame face verification latency, MRZ read time, score separation.

    python -m bench.identity [--frames 200] [--threads 1] [--smoke]

Verification is what the kiosk does for every live frame during the challenge: YuNet on the
frame downscaled to 320 px wide, SFace on the aligned face, cosine against the portrait,
plus the eye-openness measure, on 640x480 frames. ``--threads`` is OpenCV's thread count
(the kiosk uses 1, so the call's encoder keeps a core). The MRZ figure is a whole 300-dpi
TD3 page scan (locate, straighten, tesseract, parse). The separation is over every
same/different pair of the package face set (``tests/identity/faceset.py``).
The call figure runs a real call (server, aiortc kiosk, aiortc clerk on loopback) whose
kiosk camera shows a face, and measures the gaps between video frames decoded at the
clerk's end for a stretch without verification and a stretch while the kiosk verifies
every newest frame in its worker thread, as the identity step does.
The last line is JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.cli import bench_parser, parse, report
from media.face_samples import load_photos
from media.faces import Embedding, FaceEngine
from media.liveness import eye_openness
from media.mrz import MrzFormat
from media.mrz_scan import read_mrz
from tests.identity.documents import specimen
from tests.identity.scores import score_pairs

# the keys of the JSON line (tests/bench/test_bench_smoke.py checks them); the call_* and
# verified_* keys only with a call (--call-seconds > 0)
KEYS = (
    "frames", "opencv_threads", "verify_p50_ms", "verify_p95_ms", "mrz_ms", "scan_px",
    "same_pairs", "different_pairs", "min_same", "max_different", "threshold",
    "call_fps_idle", "call_fps_verifying", "call_gap_p95_ms_idle", "call_gap_p95_ms_verifying",
    "call_gap_max_ms_verifying", "verified_fps_in_call",
)  # fmt: skip


def _percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


async def _call_gaps(
    engine: FaceEngine,
    reference: Embedding,
    frames: list[np.ndarray],
    seconds: float,
    settle_s: float = 3.0,
) -> dict[str, float]:
    """Clerk-side video frame gaps in a real call, idle then while verifying."""
    from media.face_camera import ReplayTrack
    from media.liveness import Action
    from media.sources import LocalMedia, SyntheticAudioTrack
    from terminal_client.client import TerminalClient, TerminalState
    from terminal_client.identity import LatestFrame, tap_for_identity, watch_face
    from terminal_client.tasks import cancel_and_wait
    from terminal_client.worker import CpuWorker
    from tests.conftest import CLERK_PASSWORD, make_settings, start_server
    from tests.peers import ClerkPeer, login
    from tests.teardown import bounded

    arrivals: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        server, runner = await start_server(make_settings(Path(tmp)))
        try:
            await server.add_clerk("bench")
            token = await server.add_terminal("bench-kiosk")
            latest = LatestFrame()
            camera = [frames[i % len(frames)] for i in range(60)]
            terminal = TerminalClient(
                server.url, token,
                lambda: tap_for_identity(LocalMedia(ReplayTrack(camera, fps=30, loop=True), SyntheticAudioTrack()), latest),
                name="bench",
            )  # fmt: skip
            clerk = ClerkPeer(server.url, await login(server.url, "bench", CLERK_PASSWORD))
            await clerk.connect()
            await clerk.wait(lambda: clerk.status is not None)
            await clerk.emit("set_availability", {"available": True})
            await terminal.connect()
            await terminal.request_service("tax-registration", "en")
            await terminal.wait_for(TerminalState.IN_CALL, timeout=30)
            # the clerk's counter for this call exists once it was accepted
            clerk.video_in.on_frame = lambda frame, at: arrivals.append(time.monotonic())
            await asyncio.sleep(settle_s)  # let the bitrate and the decoder settle
            idle_from = time.monotonic()
            await asyncio.sleep(seconds)
            busy_from = time.monotonic()
            # the kiosk's own loop: newest frame, low-priority worker, at most max_fps a second
            judged: list[float] = []

            async def judge(worker: CpuWorker) -> None:
                # the identity step's own loop (public: watch_face), over and over: a face
                # that never blinks keeps the judge working for the whole stretch
                while True:
                    await watch_face(
                        engine, latest, reference, worker, [Action.BLINK],
                        on_progress=lambda p: (
                            judged.append(time.monotonic()) if p.phase == "challenge" else None
                        ),
                    )  # fmt: skip

            with CpuWorker() as worker:
                judging = asyncio.get_running_loop().create_task(judge(worker))
                await asyncio.sleep(seconds)
                # not wait_for: a cancellation that lands as a frame arrives is lost inside
                # watch_face on Python 3.11, and the loop would judge for ever
                await cancel_and_wait([judging])
            busy_to = time.monotonic()
            verified = len(judged)
            await terminal.close()
            await clerk.close()
        finally:
            await bounded(runner.cleanup(), "server")

    def gaps(start: float, end: float) -> list[float]:
        times = [t for t in arrivals if start <= t < end]
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]

    idle, busy = gaps(idle_from, busy_from), gaps(busy_from, busy_to)
    return {
        "call_fps_idle": round(len(idle) / seconds, 1),
        "call_fps_verifying": round(len(busy) / (busy_to - busy_from), 1),
        "call_gap_p95_ms_idle": round(_percentile(idle, 95), 1),
        "call_gap_p95_ms_verifying": round(_percentile(busy, 95), 1),
        "call_gap_max_ms_verifying": round(max(busy), 1),
        "verified_fps_in_call": round(verified / (busy_to - busy_from), 1),
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--frames", type=int, default=200, help="live frames to verify")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (kiosk: 1)")
    parser.add_argument("--call-seconds", type=float, default=8.0, help="0 skips the call")
    parser.add_argument("--mrz-reads", type=int, default=5, help="page reads timed (median)")
    parser.add_argument("--settle", type=float, default=3.0, help="call warm-up seconds")
    args = parse(parser, smoke={"frames": 5, "call_seconds": 1.0, "mrz_reads": 1, "settle": 0.5})
    cv2.setNumThreads(args.threads)

    photos = load_photos()
    by_name = {p.name: p.image for p in photos}
    engine = FaceEngine()
    portrait = by_name["obama3.jpg"]
    reference = engine.embed(portrait, engine.detect(portrait)[0])

    # live frames: the labelled photos letterboxed into 640x480, as a kiosk camera gives them
    frames = []
    for photo in photos:
        if photo.person is None:
            continue
        h, w = photo.image.shape[:2]
        scale = min(640 / w, 480 / h)
        small = cv2.resize(
            photo.image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA
        )
        canvas = np.zeros((480, 640, 3), np.uint8)
        y, x = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        frames.append(canvas)
    for frame in frames:  # warm-up: first inference allocates
        engine.match_frame(frame, reference)
    latencies = []
    for i in range(args.frames):
        frame = frames[i % len(frames)]
        started = time.perf_counter()
        match = engine.match_frame(frame, reference)
        if match.face is not None:
            eye_openness(frame, match.face)
        latencies.append((time.perf_counter() - started) * 1000)

    _, scan = specimen(MrzFormat.TD3, portrait)
    mrz_times = []
    for _ in range(args.mrz_reads):
        started = time.perf_counter()
        read_mrz(scan)
        mrz_times.append((time.perf_counter() - started) * 1000)

    same, different = score_pairs(engine, photos)
    call = (
        asyncio.run(_call_gaps(engine, reference, frames, args.call_seconds, args.settle))
        if args.call_seconds > 0
        else {}
    )
    result = {
        "frames": args.frames,
        "opencv_threads": args.threads,
        "verify_p50_ms": round(_percentile(latencies, 50), 1),
        "verify_p95_ms": round(_percentile(latencies, 95), 1),
        "mrz_ms": round(statistics.median(mrz_times), 1),
        "scan_px": f"{scan.shape[1]}x{scan.shape[0]}",
        "same_pairs": len(same),
        "different_pairs": len(different),
        "min_same": min(same),
        "max_different": max(different),
        "threshold": engine.threshold,
        **call,
    }
    print(
        f"verify per frame: p50 {result['verify_p50_ms']} ms, p95 {result['verify_p95_ms']} ms"
        f" ({args.frames} frames, {args.threads} OpenCV thread(s))"
    )
    print(
        f"MRZ read, 300-dpi TD3 page {result['scan_px']}: {result['mrz_ms']} ms"
        f" (median of {args.mrz_reads})"
    )
    print(f"same person ({len(same)} pairs): {same}")
    print(
        f"different people ({len(different)} pairs): min {min(different)}, median"
        f" {statistics.median(different)}, max {max(different)}"
    )
    if call:
        print(
            f"call video at the clerk, frame gap p95: {call['call_gap_p95_ms_idle']} ms idle,"
            f" {call['call_gap_p95_ms_verifying']} ms while verifying"
            f" ({call['verified_fps_in_call']} frames verified a second);"
            f" {call['call_fps_idle']} / {call['call_fps_verifying']} fps"
        )
    report(result, KEYS if call else KEYS[: KEYS.index("call_fps_idle")], args.smoke)


if __name__ == "__main__":
    main()
