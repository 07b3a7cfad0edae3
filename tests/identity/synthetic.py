"""Synthetic live frames: a face photo with its eyes closed by a drawn lid, for blink sequences."""

from __future__ import annotations

import cv2
import numpy as np
from cv2.typing import MatLike

from media.faces import Face


def close_eyes(image: MatLike, face: Face, amount: float = 1.0) -> MatLike:
    """``image`` with both eyes covered by skin-coloured lids (``amount`` 0 open .. 1 shut)."""
    out = np.asarray(image, np.float32)
    span = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
    for eye in face.landmarks[:2]:
        x, y = int(eye[0]), int(eye[1])
        r = max(int(0.06 * span), 1)
        below = y + int(0.22 * span)  # the cheek just under the eye gives the skin colour
        skin = np.median(
            np.asarray(image)[below - r : below + r, x - r : x + r].reshape(-1, 3), axis=0
        )
        lid = np.zeros(out.shape[:2], np.float32)
        cv2.ellipse(lid, (x, y), (int(0.19 * span), int(0.1 * span)), 0, 0, 360, 1.0, -1)
        k = int(0.05 * span) * 2 + 1
        lid = cv2.GaussianBlur(lid, (k, k), 0) * amount
        out = out * (1 - lid[..., None]) + skin.astype(np.float32)[None, None, :] * lid[..., None]
        lash = np.zeros(out.shape[:2], np.float32)
        cv2.ellipse(
            lash,
            (x, y),
            (int(0.16 * span), int(0.03 * span)),
            0,
            10,
            170,
            1.0,
            max(1, int(0.012 * span)),
        )
        lash = cv2.GaussianBlur(lash, (3, 3), 0) * 0.6 * amount
        out = out * (1 - lash[..., None]) + np.float32(50) * lash[..., None]
    return out.clip(0, 255).astype(np.uint8)


def squeeze(image: MatLike, factor: float) -> MatLike:
    """A flat photo turned about its vertical axis: squeezed horizontally, same canvas."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(int(w * factor), 1), h), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(np.asarray(image), 128)
    x0 = (w - small.shape[1]) // 2
    canvas[:, x0 : x0 + small.shape[1]] = small
    return canvas
