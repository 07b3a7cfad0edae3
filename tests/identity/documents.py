"""Specimen ID documents for tests and the benchmark: an MRZ in OCR-B with a portrait, at 300 dpi.

The MRZ is drawn in the OCR-B face that real documents use (Debian ``fonts-ocr-b``) at the
ICAO pitch of 10 characters per inch; the page has a tinted background, guilloche lines and
printed labels so the MRZ has to be found, not just read. ``rotate`` and ``low_contrast``
make the scans a kiosk's document camera produces on a bad day.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from media.face_camera import passport_photo as passport_photo
from media.mrz import MrzFields, MrzFormat, compose_mrz

OCRB = "/usr/share/fonts/opentype/ocr-b/OCRB.otf"
LABEL_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DPI = 300
# Page sizes in mm (ICAO 9303-3): TD1 is a bank card, TD3 a passport data page.
PAGE_MM = {MrzFormat.TD1: (85.6, 54.0), MrzFormat.TD2: (105.0, 74.0), MrzFormat.TD3: (125.0, 88.0)}

Image8 = NDArray[np.uint8]

SAMPLE = MrzFields(
    document_type="P",
    issuing_state="HKG",
    document_number="K1234567",
    surname="CHAN",
    given_names="TAI MAN",
    nationality="CHN",
    birth_date="900101",
    sex="M",
    expiry_date="341231",
    optional_data="A12345",
)


def px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


def _mrz_font() -> ImageFont.FreeTypeFont:
    probe = ImageFont.truetype(OCRB, 100)
    pitch = DPI / 10  # ICAO: 10 characters per inch
    return ImageFont.truetype(OCRB, round(100 * pitch / (probe.getlength("<" * 10) / 10)))


def render_document(
    lines: list[str],
    portrait: Image8 | None,
    kind: MrzFormat,
    *,
    rotate: float = 0.0,
    low_contrast: bool = False,
    seed: int = 0,
) -> Image8:
    """A BGR scan of a data page carrying MRZ ``lines`` and ``portrait`` (BGR) at the left."""
    w_mm, h_mm = PAGE_MM[kind]
    width, height = px(w_mm), px(h_mm)
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", (width, height), (236, 241, 230))
    draw = ImageDraw.Draw(page)
    for i in range(0, width, 9):  # guilloche: thin wavy lines behind the printed data
        ys = [height * 0.15 + 40 * math.sin((i + x) / 37.0) + x * 0.4 for x in range(0, width, 24)]
        draw.line(list(zip(range(0, width, 24), ys, strict=False)), fill=(214, 226, 214), width=1)
    label = ImageFont.truetype(LABEL_FONT, px(2.2))
    text = ImageFont.truetype(LABEL_FONT, px(3.0))
    draw.text((px(4), px(3)), "SPECIMEN  ·  TRAVEL DOCUMENT", font=text, fill=(40, 60, 110))
    photo_w, photo_h = (
        px(22 if kind is MrzFormat.TD1 else 32),
        px(25 if kind is MrzFormat.TD1 else 42),
    )
    mrz_top = height - px(4) - len(lines) * px(4.2)
    if portrait is not None:
        photo = cv2.cvtColor(_cover(portrait, photo_w, photo_h), cv2.COLOR_BGR2RGB)
        page.paste(Image.fromarray(photo), (px(4), px(10)))
    x0 = px(4) + photo_w + px(5)
    for i, (name, value) in enumerate(
        [("Surname", "CHAN"), ("Given names", "TAI MAN"), ("Date of birth", "01 JAN 1990")]
    ):
        y = px(11) + i * px(8)
        if y + px(7) < mrz_top:
            draw.text((x0, y), name, font=label, fill=(90, 90, 110))
            draw.text((x0, y + px(2.6)), value, font=text, fill=(20, 20, 30))
    font = _mrz_font()
    for i, line in enumerate(lines):
        draw.text((px(4), mrz_top + i * px(4.2)), line, font=font, fill=(18, 18, 18))
    scan = cv2.cvtColor(np.asarray(page), cv2.COLOR_RGB2BGR)
    if low_contrast:
        scan = (scan.astype(np.float32) * 0.28 + 130).clip(0, 255).astype(np.uint8)
    noise = rng.normal(0, 3.0, scan.shape)
    scan = (scan.astype(np.float32) + noise).clip(0, 255).astype(np.uint8)
    if rotate:
        scan = _rotate_on_glass(scan, rotate)
    return scan


def specimen(
    kind: MrzFormat = MrzFormat.TD3,
    portrait: Image8 | None = None,
    fields: MrzFields = SAMPLE,
    **options: float | bool | int,
) -> tuple[list[str], Image8]:
    """MRZ lines and the rendered scan for ``fields`` in layout ``kind``."""
    if kind is not MrzFormat.TD3 and fields.document_type == "P":
        fields = MrzFields(**{**fields.__dict__, "document_type": "ID"})
    lines = compose_mrz(kind, fields)
    return lines, render_document(lines, portrait, kind, **options)  # type: ignore[arg-type]


def corrupt_check_digit(lines: list[str], kind: MrzFormat) -> list[str]:
    """``lines`` with the document number's check digit changed (as a forger would leave it)."""
    row, col = (0, 14) if kind is MrzFormat.TD1 else (1, 9)
    bad = list(lines)
    digit = bad[row][col]
    wrong = str((int(digit) + 3) % 10) if digit.isdigit() else "3"
    bad[row] = bad[row][:col] + wrong + bad[row][col + 1 :]
    return bad


def _cover(image: Image8, width: int, height: int) -> Image8:
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    resized = cv2.resize(
        image, (math.ceil(w * scale), math.ceil(h * scale)), interpolation=cv2.INTER_AREA
    )
    y = (resized.shape[0] - height) // 2
    x = (resized.shape[1] - width) // 2
    return np.ascontiguousarray(resized[y : y + height, x : x + width])


def _rotate_on_glass(scan: Image8, degrees: float) -> Image8:
    h, w = scan.shape[:2]
    pad = int(0.15 * max(h, w))
    glass = cv2.copyMakeBorder(scan, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(250, 250, 250))
    center = (glass.shape[1] / 2, glass.shape[0] / 2)
    matrix = cv2.getRotationMatrix2D(center, degrees, 1.0)
    return cv2.warpAffine(
        glass, matrix, (glass.shape[1], glass.shape[0]), borderValue=(250, 250, 250)
    )
