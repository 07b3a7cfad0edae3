"""Read the MRZ off a scanned document: find the zone, straighten it, OCR it with tesseract.

:func:`read_mrz` is CPU work (OpenCV and a tesseract process): call it from a worker thread.
It returns an :class:`MrzScan` with the parsed, check-digit-verified document and the page
turned upright (for :func:`media.faces.portrait_from_document`), or raises the errors of
:mod:`media.mrz` and :class:`DocumentUnreadable` when no zone can be found or read.

Finding the zone follows the usual morphology recipe (black-hat to lift dark print off a
light page, a horizontal gradient that fires on character strokes, closing to merge the
characters of a line and the lines of the zone into one band); the band's angle straightens
the page, and the band is tried both ways up, since a document can lie upside down.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np
import pytesseract
from cv2.typing import MatLike
from numpy.typing import NDArray

from media.errors import CheckDigitMismatch, DocumentUnreadable, MrzInvalid
from media.mrz import MrzDocument, MrzFormat, mrz_format, parse_mrz, split_lines

log = logging.getLogger(__name__)

Image8 = MatLike

_WORK_WIDTH = 1000
_WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
# psm 6: one uniform block of text, which the straightened zone is.
_TESSERACT = f"--psm 6 --oem 1 -c tessedit_char_whitelist={_WHITELIST} -c load_system_dawg=0 -c load_freq_dawg=0"
# OCR confusions between letters and digits, applied only where a field must be one or the other.
_TO_DIGIT = str.maketrans("OQDIZSBGTL", "0001258671")
_TO_LETTER = str.maketrans("0125864", "OIZSBGA")


@dataclass(frozen=True)
class MrzScan:
    """A read document: the parsed MRZ, the page upright, and how long reading took."""

    document: MrzDocument
    upright: Image8
    mrz_box: tuple[int, int, int, int]
    ms: float


def read_mrz(image: Image8, today: date | None = None) -> MrzScan:
    """Find, OCR and parse the MRZ of a BGR scan; raises DocumentUnreadable or MRZ errors."""
    if image is None or image.size == 0 or image.ndim not in (2, 3):
        raise DocumentUnreadable("the scan is empty; place the document on the glass again")
    started = time.perf_counter()
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    last_error: MrzInvalid | CheckDigitMismatch | None = None
    for upright, box in _candidates(image, gray):
        x, y, w, h = box
        crop = cv2.cvtColor(upright, cv2.COLOR_BGR2GRAY)[y : y + h, x : x + w]
        for turned in (crop, cv2.rotate(crop, cv2.ROTATE_180)):
            text = _ocr(turned)
            lines = _fit_lines(text)
            if lines is None:
                continue
            try:
                document = parse_mrz("\n".join(lines), today)
            except (MrzInvalid, CheckDigitMismatch) as exc:
                # the other way up, or the next band, may still read; a check digit failure is the
                # most telling error, so it wins over a shape error
                if last_error is None or (
                    isinstance(exc, CheckDigitMismatch)
                    and not isinstance(last_error, CheckDigitMismatch)
                ):
                    last_error = exc
                continue
            if turned is not crop:
                upright = cv2.rotate(upright, cv2.ROTATE_180)
                H, W = upright.shape[:2]
                box = (W - x - w, H - y - h, w, h)
            ms = (time.perf_counter() - started) * 1000
            log.info("MRZ %s read in %.0f ms", document.format.value, ms)
            return MrzScan(document, upright, box, ms)
    if last_error is not None:
        raise last_error
    raise DocumentUnreadable(
        "no machine-readable zone could be read on this scan; place the page with the two or"
        " three lines of <<< characters flat on the glass, in good light"
    )


def _stretch(image: MatLike) -> MatLike:
    """Grey levels stretched to 0-255 (a faint scan's print is a few levels off the paper)."""
    low, high = float(np.min(image)), float(np.max(image))
    scaled = (np.asarray(image, np.float32) - low) * (255.0 / max(high - low, 1.0))
    return scaled.astype(np.uint8)


def _candidates(image: Image8, gray: Image8) -> list[tuple[Image8, tuple[int, int, int, int]]]:
    """Upright copies of the page with the box of each wide text band, likeliest first."""
    scale = _WORK_WIDTH / max(gray.shape[1], 1)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # Stretch contrast first: a faint scan has its print a few grey levels above the paper.
    small = _stretch(small)
    rect = cv2.getStructuringElement(cv2.MORPH_RECT, (13, 5))
    blackhat = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, rect)
    grad = np.absolute(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    grad = _stretch(grad)
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, rect)
    _, mask = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (21, 21))
    )
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    bands: list[tuple[float, tuple[tuple[float, float], tuple[float, float], float]]] = []
    for contour in contours:
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
        if rw < rh:
            rw, rh, angle = rh, rw, angle - 90
        # The long axis is a direction, not an arrow: fold it into [-90, 90).
        angle = (angle + 90) % 180 - 90
        if rw < 0.35 * small.shape[1] or rw < 4 * rh:
            continue
        bands.append((rw * rh, ((cx / scale, cy / scale), (rw / scale, rh / scale), angle)))
    found = []
    for _, ((cx, cy), (rw, rh), angle) in sorted(bands, reverse=True)[:3]:
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        H, W = image.shape[:2]
        upright = cv2.warpAffine(
            image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR),
            matrix,
            (W, H),
            flags=cv2.INTER_LINEAR,
            borderValue=(255, 255, 255),
        )
        pad_x, pad_y = 0.04 * rw, 0.25 * rh
        x0 = int(max(cx - rw / 2 - pad_x, 0))
        y0 = int(max(cy - rh / 2 - pad_y, 0))
        x1 = int(min(cx + rw / 2 + pad_x, W))
        y1 = int(min(cy + rh / 2 + pad_y, H))
        if x1 - x0 > 10 and y1 - y0 > 10:
            found.append((upright, (x0, y0, x1 - x0, y1 - y0)))
    return found


def _binarize(crop: Image8) -> Image8:
    # Characters about 40 px tall: big enough for tesseract, small enough to stay quick.
    scale = 200 / max(crop.shape[0], 1)
    big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    big = _stretch(big)
    _, binary = cv2.threshold(big, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return binary


@dataclass
class _Glyph:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


def _glyph_lines(binary: Image8) -> list[list[_Glyph]]:
    """The zone's characters as boxes, grouped into lines and ordered left to right."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(255 - binary, connectivity=8)
    glyphs = [
        _Glyph(int(x), int(y), int(x + w), int(y + h))
        for x, y, w, h, area in stats[1:count]
        if area >= 12 and h >= 8 and w < 3 * h
    ]
    if not glyphs:
        return []
    cap = float(np.percentile([g.y1 - g.y0 for g in glyphs], 75))
    lines: list[list[_Glyph]] = []
    for glyph in sorted(glyphs, key=lambda g: g.cy):
        if lines and abs(glyph.cy - np.mean([g.cy for g in lines[-1]])) < 0.6 * cap:
            lines[-1].append(glyph)
        else:
            lines.append([glyph])
    merged = []
    for line in lines:
        line.sort(key=lambda g: g.x0)
        cells: list[_Glyph] = []
        for g in line:
            # pieces of one broken character overlap in x: one cell
            if cells and g.x0 < cells[-1].x1 - 0.3 * (g.x1 - g.x0):
                last = cells[-1]
                cells[-1] = _Glyph(
                    min(last.x0, g.x0), min(last.y0, g.y0), max(last.x1, g.x1), max(last.y1, g.y1)
                )
            else:
                cells.append(g)
        if len(cells) >= 20:
            merged.append(cells)
    return merged


def _chevron(width: int, height: int, stroke: int) -> NDArray[np.float32]:
    image = np.zeros((height, width), np.float32)
    tip = (stroke // 2, height // 2)
    cv2.line(image, (width - 1 - stroke // 2, stroke // 2), tip, 255.0, stroke)
    cv2.line(image, tip, (width - 1 - stroke // 2, height - 1 - stroke // 2), 255.0, stroke)
    return image


def _is_filler(glyph: _Glyph, binary: Image8) -> bool:
    """The '<' filler, by its likeness to a drawn chevron of the glyph's size and stroke.

    In OCR-B the filler is as tall as a capital, so size alone does not tell it; measured on
    specimens, a filler correlates above 0.6 with the chevron and every letter and digit
    below 0.3.
    """
    ink = np.ascontiguousarray(255 - binary[glyph.y0 : glyph.y1, glyph.x0 : glyph.x1])
    if ink.shape[0] < 4 or ink.shape[1] < 4:
        return False
    stroke = max(2, round(2 * float(cv2.distanceTransform(ink, cv2.DIST_L2, 3).max())))
    template = _chevron(ink.shape[1], ink.shape[0], stroke)
    score = cv2.matchTemplate(ink.astype(np.float32), template, cv2.TM_CCOEFF_NORMED)
    return float(score[0, 0]) > 0.45


def _ocr(crop: Image8) -> str:
    """The zone's text, one MRZ line per text line.

    Tesseract's English model hallucinates inside long runs of '<' (it reads ``KKK<E``), so
    the fillers are recognised here by their shape and painted out, tesseract reads only the
    letters and digits, and each character it returns goes back into its cell in order.
    """
    binary = _binarize(crop)
    lines = _glyph_lines(binary)
    if not lines:
        return ""
    masked = binary.copy()
    fillers = [[_is_filler(g, binary) for g in line] for line in lines]
    for line, flags in zip(lines, fillers, strict=True):
        for g, filler in zip(line, flags, strict=True):
            if filler:
                masked[g.y0 - 1 : g.y1 + 2, g.x0 - 1 : g.x1 + 2] = 255
    text = _tesseract(masked, lines)
    read = [row.replace(" ", "") for row in text.splitlines() if row.strip()]
    if len(read) != len(lines):
        return text
    out = []
    for row, flags in zip(read, fillers, strict=True):
        wanted = flags.count(False)
        if len(row) != wanted:
            return text
        chars = iter(row)
        out.append("".join("<" if f else next(chars) for f in flags))
    return "\n".join(out)


def _tesseract(binary: Image8, lines: list[list[_Glyph]]) -> str:
    top = max(min(g.y0 for g in lines[0]) - 15, 0)
    bottom = min(max(g.y1 for g in lines[-1]) + 15, binary.shape[0])
    region = cv2.copyMakeBorder(binary[top:bottom], 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
    try:
        return str(pytesseract.image_to_string(region, config=_TESSERACT))
    except pytesseract.TesseractNotFoundError as exc:
        raise DocumentUnreadable(
            "the OCR engine is not installed on this kiosk (Debian package tesseract-ocr);"
            " ask staff for help"
        ) from exc


def _fit_lines(text: str) -> list[str] | None:
    """OCR lines shaped into an MRZ layout, letter/digit confusions repaired by field."""
    lines = [line for line in split_lines(text) if len(line) >= 20]
    for count, width in ((3, 30), (2, 36), (2, 44)):
        if len(lines) < count:
            continue
        chosen = lines[-count:]
        if all(abs(len(line) - width) <= 2 for line in chosen):
            fitted = [_to_width(line, width) for line in chosen]
            try:
                kind = mrz_format(fitted)
            except MrzInvalid:
                continue
            return _repair(fitted, kind)
    return None


def _to_width(line: str, width: int) -> str:
    if len(line) > width:
        return line[:width]
    return line.ljust(width, "<")


def _digits(line: str, spans: list[tuple[int, int]]) -> str:
    chars = list(line)
    for a, b in spans:
        chars[a:b] = list("".join(chars[a:b]).translate(_TO_DIGIT))
    return "".join(chars)


def _letters(line: str, spans: list[tuple[int, int]]) -> str:
    chars = list(line)
    for a, b in spans:
        chars[a:b] = list("".join(chars[a:b]).translate(_TO_LETTER))
    return "".join(chars)


def _repair(lines: list[str], kind: MrzFormat) -> list[str]:
    # Only fields that are digits by definition (dates, check digits) or letters (state
    # codes, sex) are repaired; a check digit still catches any remaining misread.
    if kind is MrzFormat.TD1:
        l1, l2, l3 = lines
        l1 = _letters(l1, [(2, 5)])
        l2 = _digits(l2, [(0, 7), (8, 15), (29, 30)])
        l2 = _letters(l2, [(7, 8), (15, 18)])
        return [l1, l2, _letters(l3, [(0, 30)])]
    l1, l2 = lines
    l1 = _letters(l1, [(2, len(l1))])
    l2 = _digits(l2, [(9, 10), (13, 20), (21, 28), (len(l2) - 1, len(l2))])
    l2 = _letters(l2, [(10, 13), (20, 21)])
    return [l1, l2]
