"""Synthetic documents: a rendered A4 page, and photographs of it lying on a desk.

The document camera's synthetic source and the pipeline's tests both need paper to look
at; these make it reproducibly (a seeded :class:`numpy.random.Generator`), with the true
page corners known so detection can be measured against them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media.pages import Corners, Image

A4_MM = (210.0, 297.0)


def a4_pixels(dpi: int) -> tuple[int, int]:
    """Width and height of an A4 page at ``dpi`` (300 dpi: 2480 x 3508)."""
    return round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)


def render_page(dpi: int = 100, title: str = "APPLICATION FORM", seed: int = 0) -> Image:
    """A white A4 page with a heading band, form boxes and lines of text, in colour."""
    width, height = a4_pixels(dpi)
    rng = np.random.default_rng(seed)
    page = np.full((height, width, 3), 250, dtype=np.uint8)
    s = dpi / 100.0
    font = cv2.FONT_HERSHEY_SIMPLEX
    # a coloured heading band at the top: the page's "up" is visible at a glance
    # (inside a white margin, as printed pages have: the paper's edge stays light)
    cv2.rectangle(
        page, (int(25 * s), int(25 * s)), (width - int(25 * s), int(90 * s)), (150, 80, 20), -1
    )
    cv2.putText(
        page, title, (int(40 * s), int(70 * s)), font, 1.2 * s, (255, 255, 255), max(1, int(3 * s))
    )
    y = int(140 * s)
    words = ["NAME", "DATE", "ADDRESS", "NUMBER", "SERVICE", "SIGNED", "ISSUED", "MACAU"]
    while y < height - int(80 * s):
        if rng.random() < 0.15:
            cv2.rectangle(
                page,
                (int(40 * s), y - int(20 * s)),
                (width - int(40 * s), y + int(30 * s)),
                (60, 60, 60),
                max(1, int(2 * s)),
            )
            y += int(70 * s)
            continue
        x = int(40 * s)
        while x < width - int(160 * s):
            word = str(rng.choice(words)) + str(int(rng.integers(10, 999)))
            cv2.putText(page, word, (x, y), font, 0.55 * s, (30, 30, 30), max(1, int(1.5 * s)))
            x += int((len(word) * 13 + 18) * s)
        y += int(34 * s)
    # a red stamp near the bottom right
    cv2.circle(
        page,
        (width - int(170 * s), height - int(170 * s)),
        int(70 * s),
        (40, 40, 200),
        max(1, int(4 * s)),
    )
    return page


@dataclass(frozen=True)
class Photo:
    """A photograph of a page and where the page's corners (tl, tr, br, bl) landed in it."""

    image: Image
    corners: Corners


def photograph(
    page: Image,
    size: tuple[int, int] = (1600, 1200),
    *,
    rotation_deg: float = 0.0,
    tilt: float = 0.08,
    fill: float = 0.7,
    shadow: float = 0.5,
    noise: float = 4.0,
    seed: int = 0,
) -> Photo:
    """``page`` photographed from above on a darker desk: scaled to ``fill`` of the frame,
    turned by ``rotation_deg``, warped in perspective by up to ``tilt`` of its size, with a
    soft shadow of strength ``shadow`` (0..1) across it and sensor noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    ph, pw = page.shape[:2]
    scale = fill * min(width / pw, height / ph)
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.05, 0.05, 2) * (width, height)
    half = np.array([pw, ph]) * scale / 2
    box = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * half
    theta = np.deg2rad(rotation_deg)
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    jitter = rng.uniform(-tilt, tilt, (4, 2)) * half * 2
    corners = (box @ turn.T) + centre + jitter
    source = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    image = _desk(width, height, rng)
    warped = cv2.warpPerspective(page, matrix, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, (width, height))
    cv2.copyTo(warped, mask, image)
    if shadow > 0:
        # a hand or the camera arm: darker towards one side, soft-edged
        xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
        ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
        angle = rng.uniform(0, 2 * np.pi)
        # made at a tenth of the size: the shadow is smooth, so nothing is lost
        xs, ys = xs[:, ::10], ys[::10, :]
        ramp = np.clip(np.cos(angle) * (xs - 0.5) + np.sin(angle) * (ys - 0.5) + 0.5, 0, 1)
        light = (255 * (1.0 - shadow * 0.6 * ramp)).astype(np.uint8)
        light = cv2.resize(light, (width, height), interpolation=cv2.INTER_LINEAR)
        image = cv2.multiply(image, cv2.merge([light, light, light]), scale=1 / 255)
    if noise > 0:
        # sensor grain from one tile, repeated: drawing every pixel afresh costs seconds at 300 dpi
        tile = rng.normal(0, noise, (256, 256, 3)).astype(np.int16)
        reps = (height // 256 + 1, width // 256 + 1, 1)
        grain = np.tile(tile, reps)[:height, :width]
        image = cv2.add(image, grain, dtype=cv2.CV_8U)
    return Photo(np.ascontiguousarray(image), corners.astype(np.float64))


def _desk(width: int, height: int, rng: np.random.Generator) -> Image:
    """A brownish wood-grain desk, darker than paper."""
    grain = rng.normal(0, 12, (max(1, height // 40), max(1, width // 4))).astype(np.float32)
    small = np.clip(np.array([50, 75, 105], np.float32) + grain[..., None], 0, 255)
    desk: Image = cv2.resize(
        small.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
    )
    return desk
