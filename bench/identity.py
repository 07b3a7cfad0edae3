"""Identity benchmark: per-frame face verification latency, MRZ read time, score separation.

    python -m bench.identity [--frames 200] [--threads 1]

Verification is what the kiosk does for every live frame during the challenge: YuNet on the
frame downscaled to 320 px wide, SFace on the aligned face, cosine against the portrait,
plus the eye-openness measure, on 640x480 frames. ``--threads`` is OpenCV's thread count
(the kiosk uses 1, so the call's encoder keeps a core). The MRZ figure is a whole 300-dpi
TD3 page scan (locate, straighten, tesseract, parse). The separation is over every
same/different pair of the package face set (``tests/identity/faceset.py``).
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import cv2
import numpy as np

from media.faces import FaceEngine
from media.liveness import eye_openness
from media.mrz import MrzFormat
from media.mrz_scan import read_mrz
from tests.identity.documents import specimen
from tests.identity.faceset import load_photos
from tests.identity.scores import score_pairs


def _percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200, help="live frames to verify")
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (kiosk: 1)")
    args = parser.parse_args()
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
    for _ in range(5):
        started = time.perf_counter()
        read_mrz(scan)
        mrz_times.append((time.perf_counter() - started) * 1000)

    same, different = score_pairs(engine, photos)
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
    }
    print(
        f"verify per frame: p50 {result['verify_p50_ms']} ms, p95 {result['verify_p95_ms']} ms"
        f" ({args.frames} frames, {args.threads} OpenCV thread(s))"
    )
    print(f"MRZ read, 300-dpi TD3 page {result['scan_px']}: {result['mrz_ms']} ms (median of 5)")
    print(f"same person ({len(same)} pairs): {same}")
    print(
        f"different people ({len(different)} pairs): min {min(different)}, median"
        f" {statistics.median(different)}, max {max(different)}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
