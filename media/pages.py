"""The document image pipeline: find the page, flatten it, straighten it, clean it, encode it.

:func:`process_page` runs every step on one capture (a document-camera still or a scanner
image) and returns a size-bounded JPEG. It is CPU work for a worker thread
(``asyncio.to_thread``), never the event loop. Detection works on a copy scaled to
:data:`DETECT_SIZE` pixels; only the final warp touches every pixel of the capture.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from media.errors import PageImageError

log = logging.getLogger(__name__)

Image = npt.NDArray[Any]  # BGR uint8 pixels (OpenCV types them loosely)
Corners = npt.NDArray[np.float64]  # 4x2: top-left, top-right, bottom-right, bottom-left

DETECT_SIZE = 800  # long side of the copy page detection looks at
MIN_PAGE_AREA = 0.15  # a page smaller than this share of the frame is not believed
MAX_OUTPUT_SIDE = 3508  # 300 dpi A4's long side: nothing is kept larger
DEFAULT_MAX_BYTES = 1_500_000
A4_RATIO = 297 / 210
A4_SNAP = 0.15


@dataclass
class PageResult:
    """A processed page: JPEG bytes, its size, and what the pipeline found on the way."""

    jpeg: bytes
    width: int
    height: int
    corners: Corners | None  # in capture pixels; None when no page edge was found
    skew_deg: float
    quarter_turns: int
    quality: int
    timings_ms: dict[str, float] = field(default_factory=dict)


def order_corners(points: npt.NDArray[np.float64]) -> Corners:
    """Four points as top-left, top-right, bottom-right, bottom-left (image coordinates)."""
    pts = np.asarray(points, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    ring = pts[np.argsort(angles)]  # clockwise on screen, starting near the left
    start = int(np.argmin(ring.sum(axis=1)))  # top-left has the smallest x + y
    return np.roll(ring, -start, axis=0)


def downscaled(image: Image, long_side: int = DETECT_SIZE) -> tuple[Image, float]:
    """A copy of ``image`` whose long side is ``long_side`` pixels, and the scale used."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def detect_page(image: Image, copy: tuple[Image, float] | None = None) -> Corners | None:
    """The page's four corners in ``image``, or None when no page stands out from the desk.

    ``copy`` is :func:`downscaled` ``(image)`` if the caller has it already."""
    small, scale = copy if copy is not None else downscaled(image)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    area = gray.shape[0] * gray.shape[1]
    candidates: list[npt.NDArray[np.float64]] = []
    # Paper is brighter than the desk even in shadow; Otsu on a shadow-flattened copy
    # separates them, and edges catch the page when the desk is light too.
    flat = _flatten_light(gray, max(gray.shape))
    masks = [
        cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[1]
        for image in (gray, flat)
    ]
    masks.append(cv2.dilate(cv2.Canny(gray, 40, 120), np.ones((3, 3), np.uint8)))
    for mask in masks:
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            if cv2.contourArea(contour) < MIN_PAGE_AREA * area:
                break
            quad = _quadrilateral(contour)
            if quad is not None:
                candidates.append(quad)
    if not candidates:
        return None
    best = max(candidates, key=lambda q: cv2.contourArea(q.astype(np.float32)))
    if cv2.contourArea(best.astype(np.float32)) > 0.97 * area:
        return None  # the "page" is the whole frame: a scanner image, nothing to crop
    return order_corners(best / scale)


def _flatten_light(gray: Image, size: int) -> Image:
    """``gray`` divided by its blurred self: uneven light (a shadow) flattened out."""
    # blurred at a small size: a kernel as large as the page would take seconds
    tiny = cv2.resize(
        gray,
        (max(1, gray.shape[1] * 16 // size), max(1, gray.shape[0] * 16 // size)),
        interpolation=cv2.INTER_AREA,
    )
    background = cv2.resize(cv2.GaussianBlur(tiny, (0, 0), 3), (gray.shape[1], gray.shape[0]))
    return cv2.divide(gray, background, scale=128)


def _quadrilateral(contour: npt.NDArray[Any]) -> npt.NDArray[np.float64] | None:
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for fraction in (0.01, 0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, fraction * perimeter, True)
        if len(approx) == 4:
            return approx.reshape(4, 2).astype(np.float64)
    if len(hull) >= 4:
        return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float64)
    return None


def rectify(image: Image, corners: Corners) -> Image:
    """The page inside ``corners`` warped flat, as seen from straight above."""
    matrix, size = flatten_transform(corners)
    return cv2.warpPerspective(image, matrix, size, flags=cv2.INTER_LINEAR)


def flatten_transform(corners: Corners) -> tuple[npt.NDArray[np.float64], tuple[int, int]]:
    """The perspective matrix that flattens the page inside ``corners``, and the flat size."""
    tl, tr, br, bl = corners
    width = float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))
    height = float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))
    # Foreshortening bends a photographed sheet's proportions by a few per cent; a page
    # close to A4 (√2) is one, so it gets A4's shape back.
    long, short = max(width, height), min(width, height)
    if abs(long / short / A4_RATIO - 1) < A4_SNAP:
        long = short * A4_RATIO
        width, height = (short, long) if height >= width else (long, short)
    shrink = min(1.0, MAX_OUTPUT_SIDE / max(width, height))
    out_w, out_h = max(1, round(width * shrink)), max(1, round(height * shrink))
    target = np.array([[0, 0], [out_w - 1, 0], [out_w - 1, out_h - 1], [0, out_h - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return matrix.astype(np.float64), (out_w, out_h)


def turn_transform(
    size: tuple[int, int], quarter_turns: int, angle: float
) -> tuple[npt.NDArray[np.float64], tuple[int, int]]:
    """What :func:`straighten` does, as a matrix on an image of ``size``, and the new size."""
    width, height = size
    turn = np.eye(3)
    if quarter_turns % 2:
        # one turn clockwise: (x, y) -> (height - 1 - y, x)
        turn = np.array([[0.0, -1.0, height - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        width, height = height, width
    spin = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), [0, 0, 1]])
    return spin @ turn, (width, height)


def _ink(image: Image, long_side: int = 600) -> Image:
    """A small binary map of the dark marks (text, lines) on the page."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    small = cv2.resize(
        image,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    return cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)


def _line_score(ink: Image, angle: float) -> float:
    """How strongly the ink forms horizontal lines after turning by ``angle`` degrees."""
    height, width = ink.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    turned = cv2.warpAffine(ink, matrix, (width, height), flags=cv2.INTER_NEAREST)
    rows = turned.sum(axis=1, dtype=np.float64)
    return float(np.var(np.diff(rows)))


def find_skew(image: Image, limit_deg: float = 10.0) -> float:
    """The angle (degrees, counter-clockwise) that makes the text lines horizontal."""
    return _skew_of(_ink(image), limit_deg)


def _skew_of(ink: Image, limit_deg: float = 10.0) -> float:
    if ink.sum() < 50:
        return 0.0  # a blank page has no lines to straighten
    coarse = max(np.arange(-limit_deg, limit_deg + 0.1, 1.0), key=lambda a: _line_score(ink, a))
    fine = np.arange(coarse - 1.0, coarse + 1.01, 0.2)
    return float(max(fine, key=lambda a: _line_score(ink, a)))


def find_quarter_turns(image: Image) -> int:
    """0 or 1: whether the page lies sideways (its text lines run up and down).

    Upside-down is not told apart from upright here: the clerk's viewer rotates by quarter
    turns for that.
    """
    return _turns_of(_ink(image))


def _turns_of(ink: Image) -> int:
    if ink.sum() < 50:
        return 0
    upright, sideways = _line_score(ink, 0.0), _line_score(np.ascontiguousarray(ink.T), 0.0)
    return 1 if sideways > 1.5 * upright else 0


def orientation(image: Image) -> tuple[int, float]:
    """Quarter turns (0 or 1, clockwise) and then the skew angle that set the page straight."""
    ink = _ink(image)
    turns = _turns_of(ink)
    if turns:
        ink = np.ascontiguousarray(np.rot90(ink, k=-turns))
    return turns, _skew_of(ink)


def straighten(image: Image, angle: float, quarter_turns: int) -> Image:
    """``image`` turned by ``quarter_turns`` (clockwise) then by ``angle`` degrees."""
    if quarter_turns % 4:
        image = np.ascontiguousarray(np.rot90(image, k=-quarter_turns))
    if abs(angle) < 0.05:
        return image
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def enhance(image: Image) -> Image:
    """Even out the light (shadows, vignetting) and stretch the contrast; colour is kept."""
    height, width = image.shape[:2]
    scale = 400 / max(height, width)
    small = cv2.resize(
        image,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    # The paper's own brightness, without the ink: a closing removes the dark marks.
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    paper = cv2.GaussianBlur(paper, (0, 0), 6)
    paper = cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)
    flat = cv2.divide(image, np.maximum(paper, 1), scale=245)
    # stretch so the darkest ink is near black
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    low = float(np.percentile(gray, 1)) * 245 / max(float(np.median(gray)), 1.0)
    low = min(low, 120.0)
    lut = np.clip((np.arange(256) - low) * 255.0 / max(255.0 - low, 1.0), 0, 255).astype(np.uint8)
    return cv2.LUT(flat, lut)


def encode_jpeg(image: Image, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, int, Image]:
    """The image as a JPEG of at most ``max_bytes``: lower quality first, then smaller.

    Returns the bytes, the quality used and the image as encoded (perhaps scaled down).
    """
    current = image
    for _ in range(8):
        for quality in (88, 80, 70, 60):
            ok, buffer = cv2.imencode(".jpg", current, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise PageImageError("the page could not be encoded as JPEG")
            if buffer.size <= max_bytes:
                return buffer.tobytes(), quality, current
        height, width = current.shape[:2]
        current = cv2.resize(
            current, (round(width * 0.8), round(height * 0.8)), interpolation=cv2.INTER_AREA
        )
    raise PageImageError(f"the page does not fit in {max_bytes} bytes even at low resolution")


def decode_image(data: bytes) -> Image:
    """A capture file's bytes (JPEG/PNG) as a BGR image; raises :class:`PageImageError`."""
    array = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_COLOR)
    if image is None:
        raise PageImageError("the capture is not an image OpenCV can read (JPEG or PNG)")
    return image


def process_page(
    image: Image, max_bytes: int = DEFAULT_MAX_BYTES, *, find_edges: bool = True
) -> PageResult:
    """Every pipeline step on one capture; run it in a worker thread."""
    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = round((now - mark) * 1000, 1)
        mark = now

    if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise PageImageError(f"a capture must be a colour (BGR) image, not shape {image.shape}")
    small = downscaled(image)
    corners = detect_page(image, small) if find_edges else None
    lap("detect")
    if corners is not None:
        flatten, size = flatten_transform(corners)
    else:  # a scanner's image is the page: only never larger than 300-dpi A4
        height, width = image.shape[:2]
        shrink = min(1.0, MAX_OUTPUT_SIDE / max(height, width))
        flatten, size = (
            np.diag([shrink, shrink, 1.0]),
            (round(width * shrink), round(height * shrink)),
        )
    # The page's orientation is read from a small flattened copy made from the small
    # capture; the full-size pixels are then warped once, flattening and turning together.
    preview_scale = 600 / max(size)
    to_preview = (
        np.diag([preview_scale, preview_scale, 1.0])
        @ flatten
        @ np.diag([1 / small[1], 1 / small[1], 1.0])
    )
    preview_size = (max(1, round(size[0] * preview_scale)), max(1, round(size[1] * preview_scale)))
    preview = cv2.warpPerspective(small[0], to_preview, preview_size, flags=cv2.INTER_LINEAR)
    turns, skew = orientation(preview)
    lap("orient")
    turn, out_size = turn_transform(size, turns, skew)
    final = turn @ flatten
    if np.allclose(final, np.eye(3), atol=1e-9):
        page = image
    else:
        page = cv2.warpPerspective(
            image, final, out_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    lap("warp")
    page = enhance(page)
    lap("enhance")
    jpeg, quality, encoded = encode_jpeg(page, max_bytes)
    lap("encode")
    return PageResult(
        jpeg=jpeg,
        width=int(encoded.shape[1]),
        height=int(encoded.shape[0]),
        corners=corners,
        skew_deg=skew,
        quarter_turns=turns,
        quality=quality,
        timings_ms=timings,
    )
