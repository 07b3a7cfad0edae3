"""Files for the document tests, made on the spot: good pages and each kind of bad input."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pikepdf
from PIL import Image

from media.page_pdf import assemble_pdf
from media.page_sample import render_page


def page_jpeg(seed: int = 0, dpi: int = 60) -> bytes:
    """A small rendered page as JPEG bytes (different bytes for each seed)."""
    ok, buffer = cv2.imencode(".jpg", render_page(dpi, seed=seed), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return bytes(buffer.tobytes())


def page_png(seed: int = 0) -> bytes:
    ok, buffer = cv2.imencode(".png", render_page(40, seed=seed))
    assert ok
    return bytes(buffer.tobytes())


def good_pdf(pages: int = 2) -> bytes:
    return assemble_pdf([page_jpeg(seed) for seed in range(pages)], title="test")


def encrypted_pdf() -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(good_pdf(1))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner="owner-secret", user="user-secret"))
    return out.getvalue()


def javascript_pdf() -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(good_pdf(1))) as pdf:
        action = pdf.make_indirect(
            pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('hi')"))
        )
        pdf.Root.OpenAction = action
        pdf.save(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    data = good_pdf(1)
    # the header and a little of the body, then noise: no xref, no objects a reader can use
    return data[:200] + bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8))


def corrupt_jpeg() -> bytes:
    data = page_jpeg()
    return data[: len(data) // 3]


def bomb_png() -> bytes:
    """A PNG of 20000 x 20000 pixels (400 MP) that is a few hundred KiB on disk."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def not_a_document() -> bytes:
    return b"MZ\x90\x00" + b"\x00" * 500 + b"This program cannot be run in DOS mode."
